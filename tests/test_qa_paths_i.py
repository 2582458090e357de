"""Paths across parts walked through the public commands (`ticketgate …` subprocesses, fresh HOME, the provisioned
mosquitto, real SQLite), attacks included: what a device's own broker login can make the organiser's server do.
Each test fails on the defect it names."""
from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path

import pytest

from agent.sync import topics
from agent.sync.messages import ActionItem, Batch, DeskAnswer, ExchangeRequest, RefundRequest, SaleLine, SaleRequest
from agent.sync.signed import Verifier
from agent.sync.transport import BrokerConfig, PahoTransport
from tests.broker import mosquitto_binary
from tests.helpers import wait_for
from tests.qa_organiser import organiser_running, tg
from tests.test_qa_skew import _event_now

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def _login_of(device_home: Path, answers: dict[str, DeskAnswer] | None = None) -> tuple[str, PahoTransport]:
    """A raw MQTT client logged in with the broker login enrolment left in `device_home` (a stolen device's, or the
    desk app's requests as it sends them); the desk's signed answers, verified, into `answers` by request id."""
    cred = json.loads((device_home / "device" / "credentials.json").read_text())
    client = PahoTransport(cred["device_id"], BrokerConfig(host=cred["broker"]["host"], port=cred["broker"]["port"],
                                                           username=cred["username"], password=cred["password"]))
    if answers is not None:
        verifier = Verifier(base64.b64decode(cred["server_key"]))

        def got(_topic: str, payload: bytes) -> None:
            body = verifier.open(payload) if payload[:4] != b"TGB1" else {}       # (a bundle chunk)
            if body.get("type") == "desk_answer":
                answer = DeskAnswer.from_wire(body)
                answers[answer.request_id] = answer
        client.on_message = got
        client.subscribe(topics.down(cred["org"], cred["device_id"]))
    client.start()
    assert client.wait_connected(10)
    return cred["device_id"], client


def desk_asker(client: PahoTransport, device: str, answers: dict[str, DeskAnswer], org: str = "acme"):
    """Send a desk request with `client` (the kiosk's own broker login, `_login_of`) and return its signed answer,
    which must be ok."""
    def ask(msg) -> DeskAnswer:
        client.publish(topics.up(org, device), json.dumps(msg.to_wire()).encode(), wait=5)
        assert wait_for(lambda: msg.request_id in answers, 20), msg
        assert answers[msg.request_id].ok, answers[msg.request_id]
        return answers[msg.request_id]
    return ask


def test_a_door_asking_the_desk_to_sell_or_refund_is_refused_and_listed_for_the_organiser(tmp_path):
    """A stolen door's own broker login sends the desk a sale and a refund of a paid order (kiosk requests). Both were
    refused, but nowhere for the organiser to see: not in `server refusals` nor `server devices`, not in the log of
    `server serve`, while a refused upload is in all three. Now a request the device may not make is listed and logged
    like a refused upload; nothing is sold or refunded."""
    home = tmp_path / "org"
    home.mkdir()
    _event_now(home)
    tg(home, "server", "price", "set", "1", "--category", "1", "--cents", "2500", "--currency", "EUR")
    number = json.loads(tg(home, "server", "order", "find", "Ann Martin", "--json").stdout)[0]["number"]
    door = tmp_path / "door"
    door.mkdir()
    with organiser_running(home) as running:
        running.enroll(door, "north", "1")
        device, client = _login_of(door)
        try:
            for msg in (SaleRequest("acme", device, "sell-1", 1, (SaleLine(1, 2),)),
                        RefundRequest("acme", device, "refund-1", number, "refunded")):
                client.publish(topics.up("acme", device), json.dumps(msg.to_wire()).encode(), wait=5)

            def listed() -> list[dict]:
                return json.loads(tg(home, "server", "refusals", "--device", device, "--json").stdout)
            assert wait_for(lambda: len(listed()) == 2, 20), listed()
        finally:
            client.stop()
        assert {(r["body"]["request_id"], r["reason"]) for r in listed()} == {
            ("sell-1", f"not allowed: {device} is not a kiosk"), ("refund-1", f"not allowed: {device} is not a kiosk")}
        text = tg(home, "server", "refusals").stdout
        assert f"request refund-1 refund" in text and f"order {number}: not allowed" in text, text
        devices = {d["device_id"]: d for d in json.loads(tg(home, "server", "devices", "--json").stdout)}
        assert devices[device]["refused_uploads"] == 2, devices
        serve = running.serve
        assert serve is not None
        running.stop_serve()
        log = serve.stderr.read() if serve.stderr else ""
        assert f"sale request sell-1 refused: not allowed: {device} is not a kiosk" in log, log
        assert f"refund request refund-1 refused" in log, log
    order = json.loads(tg(home, "server", "order", "show", number, "--json").stdout)
    assert order["status"] == "paid" and len(order["tickets"]) == 2, order
    assert json.loads(tg(home, "server", "report", "sales", "--json").stdout)["summary"]["totals"]["tickets"] == 0


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_an_order_refunded_after_an_exchange_hands_back_what_was_paid_and_the_reports_agree(tmp_path, backend,
                                                                                             request):
    """At a desk, two Adult tickets (2 x 25.00, cash); one exchanged for a Child ticket (12.00: 13.00 handed back);
    then the order refunded. The refund handed back 50.00, the order's lines as sold, though the buyer had paid
    37.00 net: 13.00 lost, and `report sales` still showed 2 Adult tickets for 50.00, 13.00 more than the Z report's
    net. An exchange now moves its ticket's order line (one Adult fewer at what was paid, one Child at its price):
    the refund hands back 37.00 and the sales report agrees with the Z report."""
    home, kiosk = tmp_path / "org", tmp_path / "kiosk"
    for folder in (home, kiosk):
        folder.mkdir()
    db = ["--db", request.getfixturevalue("pg_url")] if backend == "postgresql" else []
    start, end = (time.strftime("%Y-%m-%d", time.gmtime(time.time() + d * 86400)) for d in (-1, 7))
    tg(home, "server", *db, "init", "--org", "acme", "--name", "Acme Festival")
    tg(home, "server", *db, "event", "create", "--name", "Week", "--start", f"{start} 10:00", "--end", f"{end} 23:00",
       "--zone", "1=Floor", "--category", "1=Adult", "--category", "2=Child")
    tg(home, "server", *db, "price", "set", "1", "--category", "1", "--cents", "2500", "--currency", "EUR")
    tg(home, "server", *db, "price", "set", "1", "--category", "2", "--cents", "1200")
    answers: dict[str, DeskAnswer] = {}
    with organiser_running(home, *db) as running:
        running.enroll(kiosk, "desk", "1", role="kiosk")
        device, client = _login_of(kiosk, answers)
        tg(home, "server", *db, "till", "open", device, "--float-cents", "10000")

        ask = desk_asker(client, device, answers)
        try:
            sold = ask(SaleRequest("acme", device, "sale-a", 1, (SaleLine(1, 2),), payment="cash", buyer_name="Ann"))
            ask(SaleRequest("acme", device, "sale-b", 1, (SaleLine(2, 1),), payment="card", buyer_name="Bob"))
            swapped = ask(ExchangeRequest("acme", device, "swap", sold.tickets[0].ticket_key, "a child", category=2))
            assert swapped.difference_cents == -1300
            refund = ask(RefundRequest("acme", device, "refund-a", sold.order_number, "changed plans"))
        finally:
            client.stop()
        assert refund.total_cents == 3700, refund                # 50.00 paid, 13.00 handed back at the exchange
        shift = json.loads(tg(home, "server", *db, "till", "list", "--json").stdout)[0]["shift_id"]
        tg(home, "server", *db, "till", "close", str(shift), "--counted-cents", "10000")
    z = json.loads(tg(home, "server", *db, "till", "z-report", str(shift), "--json").stdout)
    assert z["difference_cents"] == 0 and z["expected_cash_cents"] == 10000, z   # +50.00 -13.00 -37.00
    sales = json.loads(tg(home, "server", *db, "report", "sales", "--json").stdout)
    totals = sales["summary"]["totals"]
    net_at_desk = z["sales"]["total_cents"] + z["exchanges"]["collected_cents"] - z["exchanges"]["refunded_cents"]
    assert totals["total_cents"] + totals["refunded_or_cancelled_cents"] == net_at_desk, (totals, z)
    assert totals["refunded_or_cancelled_cents"] == z["refunds"]["total_cents"] == 3700, (totals, z)
    refunded = sorted((x["category"], x["quantity"], x["total_cents"]) for x in sales["lines"]
                      if x["order"] == sold.order_number)
    assert refunded == [("Adult", 1, 2500), ("Child", 1, 1200)], sales["lines"]


def test_a_postgresql_server_that_is_down_is_said_on_one_line_without_the_password(tmp_path):
    """The organiser's PostgreSQL is down: `server … --db URL` and `provision … --db URL` printed libpq's two-line
    reason with its line break and tab escaped ("Connection refused\\x0a\\x09Is the server running…"), which reads
    like garbage. The reason is now one plain line; the password is never shown (exit code 3, `provision` 1)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]                                  # closed once the block ends: nothing listens
    url = f"postgresql://tg:s3cret-pw@127.0.0.1:{port}/tickets"
    home = tmp_path / "org"
    home.mkdir()
    tg(home, "server", "init", "--org", "acme", "--name", "Acme Festival")          # SQLite first, then moved
    for command, code in ((("server", "--db", url, "stats"), 3), (("provision", "devices", "--org", "acme", "--db", url), 1)):
        said = tg(home, *command, ok=False)
        assert said.returncode == code, (command, said)
        line = said.stderr.strip()
        assert "\n" not in line and "\\x" not in line and "s3cret" not in line, line
        assert f"cannot connect to postgresql://tg@127.0.0.1:{port}/tickets" in line and "Is the server running" in line, line


def test_the_app_opened_on_a_kept_demo_gate_verifies_tickets_as_that_gate(tmp_path):
    """The organiser's guide starts with `ticketgate demo --keep DIR`, then the app on DIR/tablet-north "on what it
    did". That folder held the gate's ledger but not its trusted keys nor its name: every ticket scanned there,
    even one the North gate had let in, was refused UNKNOWN KEY. The kept gates now hold their keys and settings."""
    kept = tmp_path / "ticketgate-demo"
    tg(tmp_path, "demo", "--lang", "en", "--keep", str(kept))
    rows = json.loads(tg(tmp_path, "server", "--data", str(kept / "server"), "report", "participants", "--event", "1",
                         "--json").stdout)
    inside = next(r["ticket"] for r in rows if r["check_in"] == "inside")
    fresh = next(r["ticket"] for r in rows if r["check_in"] == "not checked in" and not r["revoked"])
    payloads = [json.loads(tg(tmp_path, "server", "--data", str(kept / "server"), "ticket", "show", str(t),
                              "--json").stdout)["payload"] for t in (inside, fresh)]
    gate = str(kept / "tablet-north")
    said = [json.loads(line) for line in tg(tmp_path, "agent", "--home", gate, "scan", "--json", *payloads,
                                            ok=False).stdout.splitlines()]
    assert [v["verdict"] for v in said] == ["already_used", "accepted"], said
    policy = json.loads(tg(tmp_path, "agent", "--home", gate, "status", "--json").stdout)["policy"]
    assert (policy["device_id"], policy["gate"], policy["events"]) == ("tablet-north", "north", [1]), policy


def test_an_organisers_pending_order_paid_at_the_desk_is_counted_at_its_price(tmp_path):
    """The organiser adds an order of two Adult tickets (25.00 each) as pending (`order add --pending`); the buyer pays
    at the desk (`agent pay --payment cash`, the kiosk operator's guide). The Z report counted "Pending orders paid 1:
    0.00 EUR" and expected no cash from it, `report sales` showed nothing, and a refund at the desk handed back 0.00:
    the organiser's orders have no priced line. A desk payment now prices such an order at the current prices."""
    home, kiosk = tmp_path / "org", tmp_path / "kiosk"
    for folder in (home, kiosk):
        folder.mkdir()
    _event_now(home)
    tg(home, "server", "price", "set", "1", "--category", "1", "--cents", "2500", "--currency", "EUR")
    number = json.loads(tg(home, "server", "order", "add", "--event", "1", "--buyer", "Pat Pending", "--pending",
                           "--quantity", "2", "--ticket", "category=Adult,zone=Floor", "--json").stdout)["number"]
    answers: dict[str, DeskAnswer] = {}
    with organiser_running(home) as running:
        running.enroll(kiosk, "desk", "1", role="kiosk")
        device = json.loads((kiosk / "device" / "credentials.json").read_text())["device_id"]
        shift = json.loads(tg(home, "server", "till", "open", device, "--float-cents", "10000", "--json").stdout)
        tg(home, "server", "push")
        tg(kiosk, "agent", "sync", "--until-idle", "--for", "40")
        tg(kiosk, "agent", "pay", number, "--payment", "cash")
        tg(kiosk, "agent", "sync", "--until-idle", "--for", "40")
        z = json.loads(tg(home, "server", "till", "z-report", str(shift["shift_id"]), "--json").stdout)
        assert z["pending_paid"] == {"count": 1, "total_cents": 5000}, z
        assert z["expected_cash_cents"] == 15000, z
        lines = json.loads(tg(home, "server", "report", "sales", "--json").stdout)["lines"]
        assert [(x["order"], x["quantity"], x["total_cents"], x["payment"]) for x in lines] == [
            (number, 2, 5000, "cash")], lines
        _, client = _login_of(kiosk, answers)
        try:
            client.publish(topics.up("acme", device), json.dumps(RefundRequest(
                "acme", device, "refund-p", number, "cannot come").to_wire()).encode(), wait=5)
            assert wait_for(lambda: "refund-p" in answers, 20)
        finally:
            client.stop()
        assert answers["refund-p"].ok and answers["refund-p"].total_cents == 5000, answers["refund-p"]
        z = json.loads(tg(home, "server", "till", "z-report", str(shift["shift_id"]), "--json").stdout)
        assert z["expected_cash_cents"] == 10000, z


def test_an_upload_whose_type_is_a_list_is_refused_alone_and_the_rest_is_taken(tmp_path):
    """A stolen door's login publishes an upload whose `type` is a list, and a batch of one genuine entry plus an item
    whose kiosk `action` is a list. Looking such a value up raised TypeError: `server serve` logged "ingestion failed"
    with a traceback and dropped the whole drain (every device's messages read with it), the entry never stored nor
    acked; once the item was refused, `server refusals` stopped on it with a traceback. Now each is refused by name
    (the item listed by `server refusals`) and the entry is taken."""
    home, door = tmp_path / "org", tmp_path / "door"
    for folder in (home, door):
        folder.mkdir()
    _event_now(home)
    key = json.loads(tg(home, "server", "order", "find", "Ann Martin", "--json").stdout)[0]["tickets"][0]["ticket_key"]
    with organiser_running(home) as running:
        running.enroll(door, "north", "1")
        device, client = _login_of(door)
        entry = ActionItem(str(uuid.uuid4()), "entry", key, 1, "in", time.time(), device, "north").to_wire()
        odd = {"type": "kiosk", "action": ["payment_validated"], "order_number": "X", "device_id": device}
        try:
            client.publish(topics.up("acme", device), json.dumps({"type": [1], "org": "acme", "device": device}).encode(),
                           wait=5)
            client.publish(topics.up("acme", device), Batch.encode("acme", device, uuid.uuid4().hex, time.time(), [
                (1, "action", json.dumps(entry)), (2, "kiosk", json.dumps(odd))]), wait=5)
            assert wait_for(lambda: json.loads(tg(home, "server", "stats", "--json").stdout)["entries"] == 1, 20)
        finally:
            client.stop()
        refused = json.loads(tg(home, "server", "refusals", "--json").stdout)
        assert "unknown kiosk action" in tg(home, "server", "refusals").stdout        # the table, too
        # the item, and the upload refused whole (listed since then too, with no outbox row: id 0)
        assert sorted((r["outbox_id"], r["reason"]) for r in refused) == [
            (0, "upload is not a batch, hello or desk request"),
            (2, "malformed: unknown kiosk action ['payment_validated']")], refused
        serve = running.serve
        assert serve is not None
        running.stop_serve()
        log = serve.stderr.read() if serve.stderr else ""
        assert "Traceback" not in log and "ingestion failed" not in log, log
        assert "upload is not a batch, hello or desk request" in log, log
