"""Small things the QA walk saw, through the public commands: what `agent status` names on a device with no
settings (new, or wiped), an order's category without --ticket, the buyer name's length (one limit for the
organiser's order add, import-orders and the desk's sale form)."""
from __future__ import annotations

import json

from tests.qa_organiser import tg


def test_agent_status_of_a_device_with_no_settings_names_none(tmp_path):
    """A wiped (or new) device said "device device at gate": the defaults, as if they were its name and gate."""
    home = tmp_path / "home"
    home.mkdir()
    said = tg(home, "agent", "status").stdout
    assert "device device at gate" not in said and "no device id or gate set" in said, said
    tg(home, "agent", "configure", "--device-id", "door-7", "--gate", "north")
    assert "device door-7 at north: mode normal" in tg(home, "agent", "status").stdout


def test_an_order_without_a_category_does_not_show_category_0(tmp_path):
    """`server order add` without --ticket gives tickets no category (0): `order show` said "category 0" and the
    participants report named category "0", a category the event does not have."""
    home = tmp_path / "home"
    home.mkdir()
    tg(home, "server", "init", "--org", "acme", "--name", "Acme")
    tg(home, "server", "event", "create", "--name", "Night", "--start", "2030-01-01 18:00", "--end", "2030-01-01 23:00",
       "--zone", "1=Floor", "--category", "1=Adult")
    plain = json.loads(tg(home, "server", "order", "add", "--event", "1", "--buyer", "Ann", "--json").stdout)["number"]
    adult = json.loads(tg(home, "server", "order", "add", "--event", "1", "--buyer", "Bob", "--ticket", "category=Adult",
                          "--json").stdout)["number"]
    shown = tg(home, "server", "order", "show", plain).stdout
    assert "category 0" not in shown and "no category all zones" in shown, shown
    assert "category Adult all zones" in tg(home, "server", "order", "show", adult).stdout
    rows = json.loads(tg(home, "server", "report", "participants", "--json").stdout)
    assert {r["order"]: r["category"] for r in rows} == {plain: "-", adult: "Adult"}, rows


def test_a_buyer_name_has_one_limit_wherever_it_is_typed(tmp_path):
    """`server order add` took a 500-character buyer name (the desk's sale messages carry at most 200): one limit,
    MAX_BUYER_NAME, for order add, import-orders and the desk's sale form."""
    from agent.sync.messages import MAX_BUYER_NAME
    from kiosk_ui.services import Payment
    home = tmp_path / "home"
    home.mkdir()
    tg(home, "server", "init", "--org", "acme", "--name", "Acme")
    tg(home, "server", "event", "create", "--name", "Night", "--start", "2030-01-01 18:00", "--end", "2030-01-01 23:00")
    long, fits = "N" * 500, "N" * MAX_BUYER_NAME
    refused = tg(home, "server", "order", "add", "--event", "1", "--buyer", long, ok=False)
    assert refused.returncode == 1 and f"at most {MAX_BUYER_NAME}" in refused.stderr, refused
    csv = tmp_path / "orders.csv"
    csv.write_text(f"buyer_name,email\n{fits},a@example.org\n{long},b@example.org\n")
    refused = tg(home, "server", "import-orders", str(csv), "--event", "1", ok=False)
    assert refused.returncode != 0 and f"at most {MAX_BUYER_NAME}" in refused.stderr, refused
    assert json.loads(tg(home, "server", "report", "participants", "--json").stdout) == [], "nothing imported"
    tg(home, "server", "order", "add", "--event", "1", "--buyer", fits)
    assert Payment("cash", 0, buyer_name=long).problem(0) == "The buyer's name is too long."
    assert Payment("cash", 0, buyer_name=fits).problem(0) == ""
