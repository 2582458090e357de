"""A sale a kiosk made while the server was down, found by the number printed for the guest.

The way a user meets it: real mosquitto, the sync server over a real store (SQLite and PostgreSQL), the kiosk's
app wiring (its sync, desk, controller, a TCP ticket printer on 127.0.0.1) and a door. The server stops; the kiosk
sells offline and prints `kiosk-1-<allotment>-1`. The server filed that sale under a number of its own: the
kiosk's print record was refused ("unknown order", `server refusals`), and the printed number was found nowhere —
`server order show`, the door's search, a refund at the desk. Now the order keeps the printed number everywhere."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.allotment import offline_order_number
from agent.sync.messages import OfflineSale, Printed, SoldTicket
from drivers.testkit.fake_printer import FakePrinter
from server_stub.model import normalize_order_number
from tests.helpers import wait_for
from tests.kiosk_desk_field import kiosk_desk, prepare_kiosk, ready, sell
from tests.sync_fixtures import ORG, make_store, start_door, start_server

ROOT = Path(__file__).resolve().parent.parent


def _server_cli(data: Path, db: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    """`ticketgate server --data DATA [--db URL] --org ORG …`, the organiser's command."""
    return subprocess.run([sys.executable, "-m", "agent", "server", "--data", str(data), *(["--db", db] if db else []),
                           "--org", ORG, *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.fixture(params=["sqlite", "postgresql"])
def field(request, tmp_path, broker):
    """The server, a door and a kiosk running the app's desk over its sync, with a ticket printer."""
    db = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    store, event, _ = make_store(tmp_path / "server", tickets=1, devices=("gate-a",), db=db)
    prepare_kiosk(store, event)
    printer = FakePrinter("zpl")
    try:
        with kiosk_desk(tmp_path, store, event, broker.port) as f:
            gate = start_door(tmp_path / "door", "gate-a", broker.port, store.server_public_key(ORG), event)
            try:
                f.door.ledger.set_setting("device_role", "kiosk")
                f.door.ledger.set_setting("printers", [{"host": "127.0.0.1", "port": printer.port, "name": "Zebra",
                                                        "language": "zpl"}])
                f.ctl.selected_printer = f"zpl:127.0.0.1:{printer.port}"
                ready(f.desk)
                yield store, db, event, f.server, f.kiosk, gate, f.ctl, f.desk, printer, broker
            finally:
                gate.close()
    finally:
        printer.close()
        store.close()


def test_the_number_printed_for_an_offline_sale_is_the_orders_everywhere(field, tmp_path):
    store, db, event, server, kiosk, gate, ctl, desk, printer, broker = field
    server[0].stop()                                   # stopped cleanly: its presence says offline
    # the kiosk sells offline at once once it has seen that presence (before, on a loaded machine, its request went
    # out, waited 3 s at the broker and reached the restarted server expired: a refusal row, rightly)
    assert wait_for(lambda: not desk.online, 15), "the kiosk never saw its server go offline"
    outcome = sell(ctl, event, 2)
    sold = outcome.result
    assert sold.ok and sold.offline, sold.problem
    assert outcome.tickets is not None and outcome.tickets.ok and printer.jobs, outcome.tickets   # printed
    cert = desk.certificate()
    assert sold.order_number == f"kiosk-1-{cert.allotment_id}-1"
    assert kiosk.ledger.outbox_waiting("kiosk", ("print",)) == 1             # the print record waits with the sale

    server[0] = start_server(store, broker.port, limits=None)
    assert wait_for(lambda: kiosk.ledger.outbox_size() == 0, 30), "the offline sale never reached the server"
    shown = _server_cli(tmp_path / "server", db, "order", "show", sold.order_number, "--json")
    assert shown.returncode == 0, shown.stderr
    order = json.loads(shown.stdout)
    assert order["number"] == sold.order_number and order["status"] == "paid"
    assert sorted(t["ticket_key"] for t in order["tickets"]) == sorted(sold.ticket_keys)
    refusals = _server_cli(tmp_path / "server", db, "refusals", "--json")
    assert refusals.returncode == 0 and json.loads(refusals.stdout) == [], refusals.stdout   # the print record too
    assert [r["kind"] for r in store.staff_actions(ORG) if r["device_id"] == "kiosk-1"].count("print") == 1

    # the door learns the order (live update after the server's announce): found by the printed number, as typed
    assert wait_for(lambda: {r["order_number"] for r in gate.ledger.search(sold.order_number)} == {sold.order_number},
                    30), gate.ledger.search(sold.order_number)
    # the kiosk's own rows keep that number once the server's delta for them arrived
    assert wait_for(lambda: {kiosk.ledger.ticket(k)["order_number"] for k in sold.ticket_keys} == {sold.order_number}
                    and sorted(kiosk.ledger.order_tickets(sold.order_number)) == sorted(sold.ticket_keys), 30)

    refund = desk.refund(sold.order_number, "changed plans")         # at the desk, by the printed number
    assert refund.ok and refund.amount_cents == -4000, refund.problem
    assert store.order(sold.order_number)["status"] == "refunded"
    assert store.quotas(event)[0]["sold"] == 1                       # the make_store order: the two back on sale


def test_an_offline_sale_naming_another_number_is_refused_and_numbers_do_not_collide(store):
    """The server derives the number (allotment, first ticket id): a sale naming another is refused, kept in the
    refusals; the number never splits like a typed server number; a second sale gets its own number."""
    from agent.allotment import ALLOTMENT_ID_BASE
    from server_stub.sync.contract import Upload
    now = time.time()
    e = store.create_event("fest", "Night", now - 3600, now + 7200, categories=[{"category_id": 1, "name": "Std"}])
    store.set_price("fest", e, 1, 1000)
    store.set_quota("fest", e, 10)
    store.register_device("fest", "abc", events=[e], role="kiosk")
    store.set_allotment_size("fest", "abc", [e], 5)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    key = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    cert = store.grant_allotment("fest", "abc", key)
    assert cert.first_id >= ALLOTMENT_ID_BASE
    first = offline_order_number("abc", cert.allotment_id, cert.first_id, cert.first_id)
    second = offline_order_number("abc", cert.allotment_id, cert.first_id, cert.first_id + 1)

    def sale(sale_id: str, ticket: int, number: str) -> Upload:
        return Upload("fest", "abc", ticket, OfflineSale(sale_id, cert.allotment_id, e, (SoldTicket(str(ticket), 1),),
                                                         1000, "abc", order_number=number))
    wrong = store.ingest_uploads([sale("s0", cert.first_id, second)])
    assert wrong.refused and store.q1("SELECT count(*) FROM orders")[0] == 0
    assert not store.ingest_uploads([sale("s1", cert.first_id, first), sale("s2", cert.first_id + 1, second)]).refused
    assert {store.order(n)["number"] for n in (first, second)} == {first, second}
    assert normalize_order_number(f" {first} ") == first            # `abc-12-1` is not typed `ABC1-21`
    printed = Upload("fest", "abc", 99, Printed(second, (str(cert.first_id + 1),), "abc"))
    assert not store.ingest_uploads([printed]).refused

