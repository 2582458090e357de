"""The kiosk operator's and the organiser's paths (session M's QA walk): the app's desk over its real sync (real
mosquitto, the sync server over a real SQLite store), the cash-up's Z report as the kiosk shows and prints it, and
the organiser's reports. Each test fails on the defect it names."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from kiosk_ui import i18n
from tests.broker import mosquitto_binary
from tests.kiosk_desk_field import kiosk_desk, prepare_kiosk, ready, sell
from tests.sync_fixtures import make_store

ROOT = Path(__file__).resolve().parent.parent
needs_broker = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


@pytest.fixture
def french():
    i18n.set_language("fr")
    yield
    i18n.set_language("en")


@needs_broker
def test_a_refund_of_an_order_refunded_already_is_refused_in_the_apps_language(tmp_path, broker, french):
    """The buyer comes back to the desk for an order the organiser refunded already (`server order refund`, a
    phone call): the French kiosk said 'Non effectué : order X: order is refunded; it cannot become refunded', the
    server's English words (no reason code). Now the refusal has its code and is said in the app's language; a
    cancellation of that order too. Nothing handed back twice."""
    store, event, _ = make_store(tmp_path / "server", tickets=0, devices=())
    prepare_kiosk(store, event)
    try:
        with kiosk_desk(tmp_path, store, event, broker.port) as f:
            ready(f.desk)
            sold = sell(f.ctl, event, 2).result
            assert sold.ok and not sold.offline, sold
            store.refund_order(sold.order_number, "refunded by phone")
            for kind in ("refund", "cancel"):
                done = f.ctl.sale.refund(sold.order_number, "Changement de programme", kind)
                assert not done.ok and done.amount_cents == 0, done
                shown = i18n.tr("Not done: {why}", why=i18n.tr(done.problem))      # the ticket desk's line
                assert sold.order_number in shown and "déjà remboursée ou annulée" in shown, shown
                assert "cannot become" not in shown, shown
    finally:
        store.close()


def _server(data: Path, *args: str) -> Any:
    """`ticketgate server --data DATA --org fest … --json`, the organiser's command; its JSON."""
    proc = subprocess.run([sys.executable, "-m", "agent", "server", "--data", str(data), "--org", "fest", *args,
                           "--json"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc
    return json.loads(proc.stdout)


def test_the_guest_list_of_an_event_lists_its_pass_holders_as_stats_counts_them(tmp_path):
    """A festival night (event 1) with a weekend pass (events 1 and 2). Ann holds a night ticket, Bob the pass;
    both came in at the night's door. `server stats --event 1` said 2 inside, and `report participants --event 1`
    (the guest list the guides give for a night) listed Ann alone, 'inside now: 1': a pass holder asked for at the
    door was nowhere on the list, and the two reports disagreed on who is inside. The guest list of an event now
    lists the tickets of the passes that open it, with their check-in at that event."""
    from server_stub.store import SqliteStore
    data = tmp_path / "server"
    store = SqliteStore.open(data)
    try:
        store.create_organiser("fest", "Summer Fest")
        now = time.time()
        night, sunday = (store.create_event("fest", name, now - 3600, now + 6 * 3600, "Europe/Paris",
                                            categories=[{"category_id": 1, "name": "Adult"}])
                         for name in ("Saturday night", "Sunday"))
        weekend = store.create_pass("fest", "Weekend", [night, sunday])
        ann = store.add_order("fest", night, "Ann")["tickets"][0]["ticket_key"]
        bob = store.add_order("fest", weekend, "Bob")["tickets"][0]["ticket_key"]
        store.add_order("fest", sunday, "Cleo")
        base = {"type": "action", "kind": "entry", "event_id": night, "direction": "in", "device_id": "gate-a",
                "gate": "north", "clock_offset": 0.0}
        assert store.ingest([dict(base, scan_uuid=f"in-{k}", ticket_key=k, at=now - 60 + i)
                             for i, k in enumerate((ann, bob))]) == (2, 0)
    finally:
        store.close()
    assert _server(data, "stats", "--event", str(night))["inside_now"] == {str(night): 2}
    rows = {r["buyer"]: r for r in _server(data, "report", "participants", "--event", str(night))}
    assert set(rows) == {"Ann", "Bob"}, rows                   # Cleo's Sunday ticket is not the night's
    assert rows["Bob"]["check_in"] == "inside" and rows["Bob"]["event"] == "Weekend", rows["Bob"]
    rows = {r["buyer"]: r for r in _server(data, "report", "participants", "--event", str(sunday))}
    assert set(rows) == {"Bob", "Cleo"} and rows["Bob"]["check_in"] == "not checked in", rows
