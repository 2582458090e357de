"""The organiser's walk (session N): what the office commands say when a step sells past a quota or is run a second
time. Public commands only (`python -m agent server …`), SQLite and PostgreSQL. Each test fails on the defect it
names."""
from __future__ import annotations

import json

import pytest

from tests.qa_organiser import tg


@pytest.fixture(params=["sqlite", "postgresql"])
def store_options(request) -> list[str]:
    return ["--db", request.getfixturevalue("pg_url")] if request.param == "postgresql" else []


def _night(home, db: list[str]) -> None:
    tg(home, "server", "init", "--org", "acme", "--name", "Acme", *db)
    tg(home, "server", *db, "event", "create", "--name", "Opening night", "--start", "2026-07-01 18:00", "--end",
       "2026-07-02 02:00", "--zone", "1=Floor", "--zone", "2=Balcony", "--category", "1=Adult", "--category", "2=Child")


def test_orders_added_or_imported_past_a_quota_say_it_is_oversold(tmp_path, store_options):
    """The event holds 3 (`quota set 1 --capacity 3`), the Balcony 1. An import of 3 tickets, then `order add` of 2
    Balcony tickets: both said only 'imported'/'order …' (exit 0) while the event was sold 5 of 3 and the kiosks
    could sell nothing more; `quota list` was the only place to see it. They still take the orders (overbooking is
    the organiser's call) but warn, naming the quota, how far past it and the command that raises it."""
    home, db = tmp_path, store_options
    _night(home, db)
    tg(home, "server", *db, "quota", "set", "1", "--capacity", "3")
    tg(home, "server", *db, "quota", "set", "1", "--zone", "2", "--capacity", "1")
    csv = tmp_path / "orders.csv"
    csv.write_text("buyer_name;email;category;zone;quantity;status\nAnn Martin;ann@example.org;Adult;Floor;3;paid\n")
    within = tg(home, "server", *db, "import-orders", str(csv), "--event", "1")
    assert "imported 1 order(s), 3 ticket(s)" in within.stdout and "OVERSOLD" not in within.stderr

    past = tg(home, "server", *db, "order", "add", "--event", "1", "--buyer", "Bob Roy", "--quantity", "2",
              "--ticket", "category=Adult,zone=Balcony")
    assert "PAID" in past.stdout                                    # taken all the same
    assert ("warning: event 1 is now OVERSOLD by 2 (5 sold, capacity 3): the kiosks sell none of it; if that was not "
            "meant, raise it: ticketgate server quota set 1 --capacity 5") in past.stderr
    assert "warning: event 1 zone 2 is now OVERSOLD by 1 (2 sold, capacity 1)" in past.stderr
    assert "quota set 1 --zone 2 --capacity 2" in past.stderr

    again = tmp_path / "more.csv"
    again.write_text("buyer_name;category;zone;quantity\nCid;Child;Floor;1\n")
    more = tg(home, "server", *db, "import-orders", str(again), "--event", "1")
    assert "event 1 is now OVERSOLD by 3 (6 sold, capacity 3)" in more.stderr
    assert "zone 2" not in more.stderr                                # the Balcony quota did not move: not said again
    quotas = json.loads(tg(home, "server", *db, "quota", "list", "1", "--json").stdout)
    assert {(q["scope"], q["oversold"]) for q in quotas} == {("event", 3), ("zone", 1)}


def test_a_staff_name_another_member_holds_is_refused(tmp_path, store_options):
    """`staff add --name 'Léa Martin'` run a second time (or for her return after `staff deactivate`) added a second
    'Léa Martin', exit 0: at the door `agent login --staff 'Léa Martin' --pin` then said 'several staff members are
    called …' and she could not log in by her name. A name another member holds is refused, exit 1, naming that
    member (and `staff set ID --activate` for a deactivated one); a renaming to it likewise."""
    home, db = tmp_path, store_options
    _night(home, db)
    tg(home, "server", *db, "staff", "add", "--name", "Léa Martin", "--role", "door", "--pin", stdin="1234\n")
    twice = tg(home, "server", *db, "staff", "add", "--name", "léa  Martin", "--role", "door", "--pin",
               stdin="1234\n", ok=False)
    assert twice.returncode == 1
    assert "staff 1 is called 'Léa Martin' already (active)" in twice.stderr
    tg(home, "server", *db, "staff", "deactivate", "1")
    back = tg(home, "server", *db, "staff", "add", "--name", "Léa Martin", "--role", "door", ok=False)
    assert back.returncode == 1 and "ticketgate server staff set 1 --activate" in back.stderr
    tg(home, "server", *db, "staff", "add", "--name", "Lea Martin", "--role", "desk", "--pin", stdin="5678\n")
    renamed = tg(home, "server", *db, "staff", "set", "2", "--name", "Léa Martin", ok=False)
    assert renamed.returncode == 1 and "staff 1 is called 'Léa Martin' already (deactivated; " in renamed.stderr
    tg(home, "server", *db, "staff", "set", "2", "--name", "Lea Martin", "--role", "supervisor")   # its own name: kept
    members = json.loads(tg(home, "server", *db, "staff", "list", "--json").stdout)
    assert [(m["staff_id"], m["name"], m["role"]) for m in members] == [("1", "Léa Martin", "door"),
                                                                        ("2", "Lea Martin", "supervisor")]


def test_the_same_file_imported_into_another_event_is_not_taken_for_a_second_import(tmp_path, store_options):
    """The guest list of the first night imported for the second (`--event 2`): refused, 'this file was imported
    already … importing it again adds them twice', though its orders were in event 1 only; `--again` was the way
    round it, and the message was wrong. The same file is a duplicate where its orders land in the same events: into
    another event it is imported; into the first again it is refused, naming the event it went into."""
    home, db = tmp_path, store_options
    _night(home, db)
    tg(home, "server", *db, "event", "create", "--name", "Second night", "--start", "2026-07-02 18:00", "--end",
       "2026-07-03 02:00", "--category", "1=Adult")
    guests = tmp_path / "guests.csv"
    guests.write_text("buyer_name;email;category;quantity\nAnn Martin;ann@example.org;Adult;2\nBob Roy;;Adult;1\n")
    tg(home, "server", *db, "import-orders", str(guests), "--event", "1")
    checked = tg(home, "server", *db, "import-orders", str(guests), "--event", "2", "--dry-run")
    assert "checked 2 order(s), 3 ticket(s)" in checked.stdout
    second = tg(home, "server", *db, "import-orders", str(guests), "--event", "2")
    assert "imported 2 order(s), 3 ticket(s)" in second.stdout
    again = tg(home, "server", *db, "import-orders", str(guests), "--event", "2", ok=False)
    assert again.returncode == 1
    assert "this file was imported already on " in again.stderr and " into event 2 (2 order(s), 3 ticket(s))" in again.stderr
    rows = json.loads(tg(home, "server", *db, "report", "participants", "--json").stdout)
    assert sorted(r["event_id"] for r in rows) == [1, 1, 1, 2, 2, 2], rows


def test_registering_a_revoked_device_again_needs_reinstate(tmp_path, store_options):
    """`server device register gate-1 --events 1` run again after `server device revoke gate-1` (a set-up script's
    second run, the stolen door's id typed back) said 'device gate-1 registered', exit 0, and lifted the revocation
    without a word: the server took that device's uploads again. It is refused, exit 1, saying when it was revoked
    and what registering it again does; `--reinstate` puts it back in service and says so."""
    home, db = tmp_path, store_options
    _night(home, db)
    tg(home, "server", *db, "device", "register", "gate-1", "--events", "1")
    tg(home, "server", *db, "device", "register", "gate-1", "--events", "1", "--gate", "north")   # not revoked: updated
    tg(home, "server", *db, "device", "revoke", "gate-1")
    again = tg(home, "server", *db, "device", "register", "gate-1", "--events", "1", ok=False)
    assert again.returncode == 1 and again.stdout == ""
    assert "device gate-1 was revoked on " in again.stderr and "give --reinstate for that" in again.stderr

    def revoked() -> bool:
        devices = json.loads(tg(home, "server", *db, "devices", "--json").stdout)
        return next(d["revoked"] for d in devices if d["device_id"] == "gate-1")
    assert revoked()
    back = tg(home, "server", *db, "device", "register", "gate-1", "--events", "1", "--reinstate")
    assert "device gate-1 registered (door, gate -, events [1]); reinstated: it was revoked on " in back.stdout
    assert not revoked()


def test_a_dry_run_import_past_a_quota_warns_as_the_import_does(tmp_path, store_options):
    """`import-orders --dry-run` of a file that sells the event 5 of 3 said 'checked 1 order(s), 5 ticket(s)', exit
    0, nothing more: the organiser learnt it was oversold only from the real import. The dry run now says the same
    warning ('would be OVERSOLD by 2 …', the `quota set` that raises it) and --json gives the same `oversold` field
    as the import; nothing is written."""
    home, db = tmp_path, store_options
    _night(home, db)
    tg(home, "server", *db, "quota", "set", "1", "--capacity", "3")
    tg(home, "server", *db, "quota", "set", "1", "--zone", "2", "--capacity", "4")
    csv = tmp_path / "orders.csv"
    csv.write_text("buyer_name;category;zone;quantity\nAnn Martin;Adult;Floor;3\nBob Roy;Child;Balcony;2\n")
    checked = tg(home, "server", *db, "import-orders", str(csv), "--event", "1", "--dry-run")
    assert "checked 2 order(s), 5 ticket(s)" in checked.stdout
    assert ("warning: event 1 would be OVERSOLD by 2 (5 sold, capacity 3): the kiosks sell none of it; if that was "
            "not meant, raise it: ticketgate server quota set 1 --capacity 5") in checked.stderr, checked.stderr
    assert "zone 2" not in checked.stderr                              # 2 of 4: within it
    dry = json.loads(tg(home, "server", *db, "import-orders", str(csv), "--event", "1", "--dry-run", "--json").stdout)
    assert dry["imported"] is False and [(w["label"], w["by"], w["sold"]) for w in dry["oversold"]] == [
        ("event 1", 2, 5)]
    assert json.loads(tg(home, "server", *db, "quota", "list", "1", "--json").stdout)[0]["sold"] == 0   # no write

    real = json.loads(tg(home, "server", *db, "import-orders", str(csv), "--event", "1", "--json").stdout)
    assert real["imported"] is True and real["oversold"] == dry["oversold"]


def test_an_import_into_what_kiosks_hold_offline_warns(tmp_path):
    """A kiosk holds 4 of the event's 10 for its offline sales (its allotment); an import of 8 tickets left 2 for it
    to sell and said nothing (sold 8, capacity 10: not oversold) — the kiosk's offline sales then oversold the event
    by 2. The import and its dry run now warn, naming the kiosks' allotments and the capacity that covers them."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from server_stub.store import open_store
    home = tmp_path
    _night(home, [])
    tg(home, "server", "quota", "set", "1", "--capacity", "10")
    tg(home, "server", "device", "register", "desk-1", "--role", "kiosk", "--events", "1")
    tg(home, "server", "allotment", "set", "desk-1", "--events", "1", "--count", "4")
    store = open_store(home / ".local/share/ticketgate/server", create=False)
    try:                # what `server serve` does when the kiosk asks for its allotment (the app, online)
        store.grant_allotment("acme", "desk-1", Ed25519PrivateKey.generate().public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    finally:
        store.close()
    csv = tmp_path / "orders.csv"
    csv.write_text("buyer_name;category;zone;quantity\nAnn Martin;Adult;Floor;8\n")
    warning = ("2 of the 4 held by kiosks' allotments (8 sold, capacity 10): when the kiosks sell them offline it is "
               "oversold; if that was not meant, raise it: ticketgate server quota set 1 --capacity 12")
    checked = tg(home, "server", "import-orders", str(csv), "--event", "1", "--dry-run")
    assert f"warning: event 1 would sell {warning}" in checked.stderr, checked.stderr
    real = tg(home, "server", "import-orders", str(csv), "--event", "1")
    assert f"warning: event 1 sold {warning}" in real.stderr, real.stderr


def test_a_sales_window_closed_already_says_so(tmp_path):
    """The guide's `sales-window set 1 --closes 1782936000 --max-per-order 8` typed on 2026-12-02 said "event 1: on
    sale from now until 2026-07-01 20:00 UTC", a date gone by: the kiosks sold nothing and nothing said why. It now
    says the sales are closed since then and what reopens them; a closing time to come reads as before."""
    home = tmp_path
    _night(home, [])
    said = tg(home, "server", "sales-window", "set", "1", "--closes", "1782936000", "--max-per-order", "8").stdout
    assert said.strip() == ("event 1: sales CLOSED since 2026-07-01 20:00 UTC: the kiosks sell none of it (a later "
                            "--closes reopens them); at the door and online, at most 8 per order"), said
    assert tg(home, "server", "sales-window", "show", "1").stdout == said
    later = tg(home, "server", "sales-window", "set", "1", "--closes", "4102444800").stdout       # 2100-01-01
    assert later.startswith("event 1: on sale from now until 2100-01-01 00:00 UTC"), later


def test_a_z_report_written_to_files_says_where(tmp_path):
    """`till z-report 1 --pdf z-1.pdf --escpos z-1.bin` (the guide's) printed the report and said nothing of the two
    files: the organiser could not tell they were written, nor where. It now ends with the files written."""
    home = tmp_path
    _night(home, [])
    tg(home, "server", "device", "register", "desk-1", "--role", "kiosk", "--events", "1")
    tg(home, "server", "till", "open", "desk-1", "--float-cents", "15000")
    pdf, escpos = tmp_path / "z-1.pdf", tmp_path / "z-1.bin"
    said = tg(home, "server", "till", "z-report", "1", "--pdf", str(pdf), "--escpos", str(escpos)).stdout
    assert said.rstrip().endswith(f"Z report of shift 1 written to {pdf} (PDF), {escpos} (ESC/POS, for a receipt "
                                  "printer)"), said
    assert pdf.read_bytes().startswith(b"%PDF") and escpos.stat().st_size > 0
    assert "written" not in tg(home, "server", "till", "z-report", "1").stdout


def test_event_list_shows_the_door_messages_given_at_creation(tmp_path):
    """`event create … --category "2=Child:Must come with an adult"` (the guide's) and then `event list` said
    "categories: 1=Adult, 2=Child": the organiser could not check the message the doors show. It is listed as it
    was typed."""
    home = tmp_path
    tg(home, "server", "init", "--org", "acme", "--name", "Acme")
    tg(home, "server", "event", "create", "--name", "Opening night", "--start", "2026-07-01 18:00", "--end",
       "2026-07-02 02:00", "--tz", "Europe/Paris", "--zone", "1=Floor", "--zone", "2=Balcony:Stairs on the left",
       "--category", "1=Adult", "--category", "2=Child:Must come with an adult")
    listed = tg(home, "server", "event", "list").stdout
    assert "    zones: 1=Floor, 2=Balcony:Stairs on the left\n" in listed, listed
    assert "    categories: 1=Adult, 2=Child:Must come with an adult\n" in listed, listed


def test_sending_etickets_before_mail_is_configured_names_what_to_give(tmp_path):
    """`order send-etickets` before `mail configure` said "mail is not configured: ticketgate server mail configure …":
    the '…' hid the three options the command refuses to run without. It names them now."""
    home = tmp_path
    _night(home, [])
    order = json.loads(tg(home, "server", "order", "add", "--event", "1", "--buyer", "Ann Martin", "--email",
                          "ann@example.org", "--json").stdout)["number"]
    said = tg(home, "server", "order", "send-etickets", order, ok=False)
    assert said.returncode == 1 and "…" not in said.stderr, said.stderr
    assert ("mail is not configured: ticketgate server mail configure --host SMTP_HOST [--port 587] --user USER --from "
            "ADDRESS (it asks for the password)") in said.stderr, said.stderr
    assert "--from" in tg(home, "server", "mail", "configure", "--help").stdout


def test_the_devices_list_reads_in_words(tmp_path):
    """`server devices` said "events [1, 2]  never seen  last seen -": a Python list, and a device never seen 'last
    seen -' besides. It says "events 1, 2  never seen" (a device of every event: "events all")."""
    home = tmp_path
    _night(home, [])
    tg(home, "server", "event", "create", "--name", "Second night", "--start", "2026-07-02 18:00", "--end",
       "2026-07-03 02:00")
    tg(home, "server", "device", "register", "gate-1", "--gate", "north", "--events", "1,2")
    tg(home, "server", "device", "register", "gate-2")
    listed = tg(home, "server", "devices").stdout.splitlines()
    assert listed[0].split("gate north")[1].split() == ["mode", "any", "events", "1,", "2", "never", "seen"], listed
    assert listed[1].split("gate -")[1].split() == ["mode", "any", "events", "all", "never", "seen"], listed
