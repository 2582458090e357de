"""The organiser's paths (session K): the till closed from the server while a kiosk still holds sales made offline,
sales the server refused for good in the Z report, uploads of unregistered or revoked devices in `server refusals`;
and a walk through the public commands. Real mosquitto, SQLite and PostgreSQL. Each test fails on the defect it
names."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import replace

import pytest

from agent.sync import BrokerConfig, topics
from agent.sync.transport import PahoTransport
from kiosk_ui.services import Payment
from server_stub.store.device_uploads import MAX_UNREGISTERED, OTHER_DEVICES
from server_stub.sync.server import UNREGISTERED_LOGGED
from tests.helpers import stop_process, wait_for
from tests.qa_organiser import ROOT, _env, _start, organiser_running, tg
from tests.sync_fixtures import FAST, ORG, make_store, start_server
from tests.test_desk_online import counter  # noqa: F401  (the fixture)
from tests.test_qa_paths_j_till import _sell_offline


def test_a_till_closed_from_the_server_while_the_kiosk_holds_offline_sales_is_refused_naming_them(tmp_path,
                                                                                                counter):  # noqa: F811
    """Three cash sales made offline (60.00, the kiosk off the network); the kiosk back on the broker, the sales not
    uploaded yet (a kiosk whose uploads do not get through: its upload window 0). `server till close`
    closed the shift with no sale counted and no word of the three on the kiosk: the Z report short by 60.00, the
    drawer 'over' by as much. The kiosk's (retained) status now carries its count of unsent sales and when it
    counted them: the close is refused naming them; `--force` closes with the Z report warning of them; once they
    arrive the kiosk says 0 and the server forgets the warning."""
    store, event, server, sim, ctl, desk, _, _, broker = counter
    assert desk.refill() == "" and desk.certificate() is not None
    shift = desk.till("open", 10000).order_number
    sim.go_offline()
    _sell_offline(ctl, event, 3)
    sim.options = replace(FAST, upload=replace(FAST.upload, window=0))
    sim.go_online()
    assert wait_for(lambda: (store.unsent_sales("kiosk-1") or (0,))[0] == 3, 30), store.unsent_sales("kiosk-1")
    assert time.time() - 60 < store.unsent_sales("kiosk-1")[1] <= time.time()
    data = ["--data", str(tmp_path / "server")]
    refused = tg(tmp_path, "server", *data, "till", "close", shift, "--counted-cents", "16000", ok=False)
    assert refused.returncode == 1
    assert "kiosk kiosk-1 had 3 sale(s) not yet received at " in refused.stderr, refused.stderr
    assert "--force" in refused.stderr
    assert [s["closed_at"] for s in store.shifts(ORG, "kiosk-1")] == [None]
    shown = tg(tmp_path, "server", *data, "till", "show", shift).stdout              # the X report warns too
    assert "WARNING" in shown and "kiosk kiosk-1 had 3 sale(s) not yet received" in shown, shown
    closed = tg(tmp_path, "server", *data, "till", "close", shift, "--counted-cents", "16000", "--force").stdout
    assert "kiosk kiosk-1 had 3 sale(s) not yet received" in closed, closed
    z = json.loads(tg(tmp_path, "server", *data, "till", "z-report", shift, "--json", "--escpos",
                      str(tmp_path / "z.bin")).stdout)
    assert b"WARNING" in (tmp_path / "z.bin").read_bytes()
    assert z["final"] and z["sales"]["count"] == 0 and z["unsent_sales"]["count"] == 3, z
    sim.go_offline()
    sim.options = FAST
    sim.go_online()
    assert wait_for(lambda: desk.unsent_sales() == 0, 30)
    assert wait_for(lambda: store.unsent_sales("kiosk-1")[0] == 0, 10), store.unsent_sales("kiosk-1")
    opened = tg(tmp_path, "server", *data, "till", "open", "kiosk-1", "--float-cents", "0", "--json").stdout
    x = tg(tmp_path, "server", *data, "till", "show", str(json.loads(opened)["shift_id"])).stdout
    assert "WARNING" not in x, x


def _sell(ctl, event: int, offline: bool) -> str:
    ctl.sale.choose(event)
    ctl.sale.add(1)                                   # Standard, 20.00
    result = ctl.sale.confirm(Payment("cash", given_cents=2000)).result
    assert result.ok and result.offline == offline, result.problem
    return result.order_number


def test_a_sale_the_server_refused_for_good_is_in_the_z_report_with_the_cash_the_kiosk_took(tmp_path,
                                                                                            counter):  # noqa: F811
    """A cash sale online (20.00); the kiosk off the network, the organiser adds their first staff member (`server staff
    add`); the kiosk, not told, sells offline without naming anyone (20.00 in cash): the server refuses that sale
    for good once it arrives ("no staff member named"). The Z report counted one sale, expected 120.00, and the 140.00
    in the drawer showed a 20.00 difference nothing explained: the refused sale was in no report. It now has a
    REFUSED line with the amount and method the kiosk took and the reason."""
    store, event, server, sim, ctl, desk, _, _, broker = counter
    assert desk.refill() == "" and desk.certificate() is not None
    shift = desk.till("open", 10000).order_number
    _sell(ctl, event, offline=False)
    sim.go_offline()
    data = ["--data", str(tmp_path / "server")]
    tg(tmp_path, "server", *data, "staff", "add", "--name", "Léa Martin", "--role", "desk", "--pin",
       stdin="482913\n482913\n")
    time.sleep(0.05)                                  # the sale comes after her, to the server's clock
    _sell(ctl, event, offline=True)
    sim.go_online()
    assert wait_for(lambda: desk.unsent_sales() == 0, 30)
    assert [r["reason"] for r in store.refusals(ORG, "kiosk-1") if r["body"].get("action") == "offline_sale"] == [
        "not allowed: no staff member named (the organiser keeps staff: log in on the device)"]
    closed = tg(tmp_path, "server", *data, "till", "close", shift, "--counted-cents", "14000").stdout
    z = json.loads(tg(tmp_path, "server", *data, "till", "z-report", shift, "--json", "--pdf", str(tmp_path / "z.pdf"),
                      "--escpos", str(tmp_path / "z.bin")).stdout)
    assert b"REFUSED by the server" in (tmp_path / "z.bin").read_bytes()
    assert (tmp_path / "z.pdf").read_bytes().startswith(b"%PDF")
    assert (z["sales"]["count"], z["expected_cash_cents"], z["difference_cents"]) == (1, 12000, 2000), z
    assert (z["refused"]["count"], z["refused"]["total_cents"], z["refused"]["payments"]) == (1, 2000, {"cash": 2000})
    (move,) = z["refused"]["moves"]
    assert (move["what"], move["payment"], move["total_cents"]) == ("sale", "cash", 2000)
    assert "no staff member named" in move["reason"]
    assert "REFUSED by the server      1: 20.00 EUR" in closed and "not in expected cash" in closed, closed
    assert "no staff member named" in closed


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_uploads_of_unregistered_or_revoked_devices_are_listed_in_server_refusals_counted_not_kept(
        tmp_path, broker, backend, request, caplog):
    """A device id nobody registered floods the upload topic (300 messages), a revoked door uploads once, and 520
    more unknown ids upload once each. They were only in the `server serve` log (a line per message: the flood
    filled it) and `server refusals` said nothing. They are now listed there, one row per device and reason with a
    count and the last time; past 500 ids the rest are counted under '(other devices)'; the log says each device
    and reason once a minute."""
    db = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    store, _, _ = make_store(tmp_path / "server", tickets=1, devices=("gate-a", "gate-b"), db=db)
    store.revoke_device("gate-b")
    server = start_server(store, broker.port, limits=None)
    client = PahoTransport("intruder", BrokerConfig(port=broker.port))
    client.start()
    try:
        assert wait_for(lambda: client.connected, 10)
        for _ in range(300):
            client.publish(topics.up(ORG, "ghost"), b'{"type": "batch"}')
        client.publish(topics.up(ORG, "gate-b"), b'{"type": "batch"}')
        for i in range(MAX_UNREGISTERED + 20):
            client.publish(topics.up(ORG, f"g{i}"), b"x")
        total = 300 + 1 + MAX_UNREGISTERED + 20
        assert wait_for(lambda: sum(r["count"] for r in store.unregistered_uploads(ORG, limit=10**4)) == total, 60)
    finally:
        client.stop()
        server.stop()
    rows = store.unregistered_uploads(ORG, limit=10**4)
    counted = {(r["device_id"], r["reason"]): r["count"] for r in rows}
    assert counted[("ghost", "not registered")] == 300 and counted[("gate-b", "revoked")] == 1
    assert len(rows) == MAX_UNREGISTERED + 1 and counted[(OTHER_DEVICES, "not registered")] == 22
    assert sum("'ghost'" in r.getMessage() for r in caplog.records) == 1
    assert sum("not registered" in r.getMessage() for r in caplog.records) == UNREGISTERED_LOGGED
    where = ["--data", str(tmp_path / "server"), *(["--db", db] if db else [])]
    shown = tg(tmp_path, "server", *where, "refusals", "--device", "ghost").stdout
    assert "ghost" in shown and "300 upload(s) since" in shown and "device not registered" in shown, shown
    listed = json.loads(tg(tmp_path, "server", *where, "refusals", "--json", "--limit", "1000").stdout)
    assert {(r["device_id"], r["reason"], r["count"]) for r in listed if r["device_id"] in ("ghost", "gate-b")} == {
        ("ghost", "device not registered", 300), ("gate-b", "device revoked", 1)}
    store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_sales_report_says_how_many_tickets_of_orders_imported_or_added_it_does_not_count(tmp_path, backend,
                                                                                             request):
    """The organiser imports three orders (6 tickets; one order of 2 cancelled later) and adds one (2 tickets):
    `report sales` said "sold: 0 ticket(s)" and nothing else, while the participants report (XLSX) listed 6 valid
    tickets. The sales report counts priced lines (money); it now says how many tickets of orders with no price it
    leaves out, on screen and in JSON."""
    import openpyxl
    home = tmp_path
    db = ["--db", request.getfixturevalue("pg_url")] if backend == "postgresql" else []
    tg(home, "server", *db, "init", "--org", "acme", "--name", "Acme Festival")
    start, end = (time.strftime("%Y-%m-%d", time.gmtime(time.time() + d * 86400)) for d in (-1, 7))
    tg(home, "server", *db, "event", "create", "--name", "Opening night", "--start", f"{start} 18:00", "--end",
       f"{end} 02:00", "--tz", "Europe/Paris", "--zone", "1=Floor", "--zone", "2=Balcony", "--category", "1=Adult",
       "--category", "2=Child:Must come with an adult")
    (home / "orders.csv").write_text("buyer_name;email;category;zone;quantity;status;order_ref\n"
                                     "Ann Martin;ann@example.org;Adult;Floor;2;paid;A\n"
                                     "Bob Roy;bob@example.org;Child;Balcony;1;pending;B\n"
                                     "Zoé Ünal;zoe@example.org;Adult;Balcony;3;paid;C\n")
    tg(home, "server", *db, "import-orders", str(home / "orders.csv"), "--event", "1")
    tg(home, "server", *db, "order", "add", "--event", "1", "--buyer", "Dee", "--quantity", "2", "--ticket",
       "category=Adult,zone=Floor")
    (ann,) = json.loads(tg(home, "server", *db, "--json", "order", "find", "ann").stdout)
    tg(home, "server", *db, "order", "cancel", ann["number"], "--reason", "refunded by phone")
    shown = tg(home, "server", *db, "report", "sales").stdout
    assert "not counted above: 6 ticket(s) of paid or pending orders with no price" in shown, shown
    assert json.loads(tg(home, "server", *db, "report", "sales", "--event", "1", "--json").stdout
                      )["summary"]["totals"]["unpriced_tickets"] == 6
    tg(home, "server", *db, "report", "participants", "--out", str(home / "guests.xlsx"))
    guests = list(openpyxl.load_workbook(home / "guests.xlsx").active.iter_rows(values_only=True))
    rows = [dict(zip(guests[0], r)) for r in guests[1:]]
    assert len([r for r in rows if r["revoked"] == "no"]) == 6 and len(rows) == 8
    assert {r["buyer"] for r in rows if r["revoked"] == "yes"} == {"Ann Martin"}
    assert {(r["buyer"], r["category"], r["zone"]) for r in rows} == {
        ("Ann Martin", "Adult", "Floor"), ("Bob Roy", "Child", "Balcony"), ("Zoé Ünal", "Adult", "Balcony"),
        ("Dee", "Adult", "Floor")}


def test_an_organisers_evening_on_postgresql_through_the_public_commands(tmp_path, pg_url):
    """The organiser on PostgreSQL (`--db`): an event, two orders, `provision serve` and `server serve`, a door
    enrolled and pushed to; a guest let in; `stats --watch` shows the entry and the door live and stops on Ctrl-C
    without a traceback; an order cancelled on the server is refused at the door after its sync; a staff member
    added then deactivated; the entries report as XLSX (read back)."""
    import openpyxl
    home, door = tmp_path / "org", tmp_path / "door"
    for folder in (home, door):
        folder.mkdir()
    db = ("--db", pg_url)
    now = time.time()
    fmt = "%Y-%m-%d %H:%M"
    tg(home, "server", *db, "init", "--org", "acme", "--name", "Acme Festival")
    tg(home, "server", *db, "event", "create", "--name", "Tonight", "--tz", "UTC", "--zone", "1=Floor", "--zone",
       "2=Balcony", "--category", "1=Adult", "--start", time.strftime(fmt, time.gmtime(now - 3600)),
       "--end", time.strftime(fmt, time.gmtime(now + 6 * 3600)))
    for buyer in ("Ann", "Bob"):
        tg(home, "server", *db, "order", "add", "--event", "1", "--buyer", buyer, "--ticket",
           "category=Adult,zone=Floor")

    def payload_of(buyer: str) -> tuple[str, str]:
        (order,) = json.loads(tg(home, "server", *db, "order", "find", buyer, "--json").stdout)
        key = order["tickets"][0]["ticket_key"]
        return order["number"], json.loads(tg(home, "server", *db, "ticket", "show", key, "--json").stdout)["payload"]

    (_, ann), (bob_order, bob) = payload_of("Ann"), payload_of("Bob")
    with organiser_running(home, *db) as running:
        running.enroll(door, "north", "1")
        tg(home, "server", *db, "push")
        tg(door, "agent", "sync", "--until-idle", "--for", "60")
        assert json.loads(tg(door, "agent", "scan", "--json", ann).stdout)["verdict"] == "accepted"
        tg(door, "agent", "sync", "--until-idle", "--for", "60")
        watch = _start(home, "server", *db, "stats", "--watch", "1")
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(watch.stdout), daemon=True)
        reader.start()
        try:       # two refreshes (bounded: on a loaded machine the first one can take seconds)
            assert wait_for(lambda: sum("entries: 1 " in line for line in lines) >= 2, 60), lines
        finally:
            code = stop_process(watch)
        reader.join(10)
        err = watch.stderr.read()
        assert code == 0 and "Traceback" not in err, err
        tg(home, "server", *db, "order", "cancel", bob_order, "--reason", "refunded")
        tg(door, "agent", "sync", "--until-idle", "--for", "60")
        refused = json.loads(tg(door, "agent", "scan", "--json", bob, ok=False).stdout)
        assert refused["verdict"] != "accepted" and "refunded" in json.dumps(refused), refused
        added = json.loads(tg(home, "server", *db, "staff", "add", "--name", "Léa", "--role", "door", "--pin",
                              "--json", stdin="4821\n4821\n").stdout)
        tg(home, "server", *db, "staff", "deactivate", str(added["staff_id"]))
        assert "deactivated" in tg(home, "server", *db, "staff", "list").stdout
    tg(home, "server", *db, "report", "entries", "--out", str(tmp_path / "entries.xlsx"))
    sheet = list(openpyxl.load_workbook(tmp_path / "entries.xlsx").active.iter_rows(values_only=True))
    rows = [dict(zip(sheet[0], r)) for r in sheet[1:]]
    assert [(r["key"], r["entries"]) for r in rows if r["per"] == "gate"] == [("north", 1)], rows
    assert [(r["entries"], r["inside_now"]) for r in rows if r["per"] == "event"] == [(1, 1)], rows


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_same_order_file_imported_twice_is_refused_unless_asked_for(tmp_path, backend, request):
    """`import-orders orders.csv` run twice (the first run's outcome unclear, a shell history): every order was
    added again, 2 tickets became 4, silently. The same file again is now refused naming when it was imported;
    `--again` imports it once more."""
    db = ["--db", request.getfixturevalue("pg_url")] if backend == "postgresql" else []
    tg(tmp_path, "server", *db, "init", "--org", "acme", "--name", "Acme Festival")
    tg(tmp_path, "server", *db, "event", "create", "--name", "Tonight", "--start", "2026-12-01 18:00", "--end",
       "2026-12-09 02:00", "--category", "1=Adult")
    csv_file = tmp_path / "orders.csv"
    csv_file.write_text("buyer_name;email;category;quantity;order_ref\nAnn Martin;ann@example.org;Adult;2;A\n")
    tg(tmp_path, "server", *db, "import-orders", str(csv_file), "--event", "1")

    def tickets() -> int:
        rows = json.loads(tg(tmp_path, "server", *db, "report", "participants", "--json").stdout)
        return len(rows)

    for extra in ([], ["--dry-run"]):
        again = tg(tmp_path, "server", *db, "import-orders", str(csv_file), "--event", "1", *extra, ok=False)
        assert again.returncode == 1 and "this file was imported already on " in again.stderr, again.stderr
        assert "(1 order(s), 2 ticket(s))" in again.stderr and "--again" in again.stderr
    assert tickets() == 2
    tg(tmp_path, "server", *db, "import-orders", str(csv_file), "--event", "1", "--again")
    assert tickets() == 4
    csv_file.write_text("buyer_name;email;category;quantity;order_ref\nBob Roy;bob@example.org;Adult;1;B\n")
    tg(tmp_path, "server", *db, "import-orders", str(csv_file), "--event", "1")      # the same name, new content
    assert tickets() == 5


def test_ctrl_c_at_a_pin_prompt_ends_the_command_without_a_traceback(tmp_path):
    """`server staff add --pin` waits for the PIN; the organiser changes their mind and presses Ctrl-C: a 20-line
    KeyboardInterrupt traceback. It now says "interrupted" (exit code 130) and adds no one."""
    tg(tmp_path, "server", "init", "--org", "acme", "--name", "Acme Festival")
    asking = subprocess.Popen([sys.executable, "-m", "agent", "server", "staff", "add", "--name", "Zed", "--role",
                               "door", "--pin"], cwd=ROOT, env=_env(tmp_path), stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)                                   # the interpreter started, the command waits for the PIN
    code = stop_process(asking)
    _, err = asking.communicate()
    assert code == 130 and "Traceback" not in err and "ticketgate server: interrupted" in err, (code, err)
    assert json.loads(tg(tmp_path, "server", "staff", "list", "--json").stdout) == []


def test_a_report_written_to_a_file_named_pdf_is_refused_not_a_text_table_in_a_pdf(tmp_path):
    """`report sales --out sales.pdf` wrote the text table into sales.pdf (the viewer says the file is damaged) and
    said "written". A file name the reports cannot write is now refused, naming those they can; .txt is the table."""
    tg(tmp_path, "server", "init", "--org", "acme", "--name", "Acme Festival")
    said = tg(tmp_path, "server", "report", "sales", "--out", str(tmp_path / "sales.pdf"), ok=False)
    assert said.returncode == 1 and ".csv, .xlsx, .json or .txt" in said.stderr, said
    assert not (tmp_path / "sales.pdf").exists()
    tg(tmp_path, "server", "report", "sales", "--out", str(tmp_path / "sales.txt"))
    assert (tmp_path / "sales.txt").read_text().startswith("sold: 0 ticket(s)")
    tg(tmp_path, "server", "report", "sales", "--out", str(tmp_path / "sales.pdf"), "--format", "csv")
    assert (tmp_path / "sales.pdf").read_bytes().startswith(b"\xef\xbb\xbforder,")
