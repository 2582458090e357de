"""A kiosk killed (kill -9, battery out) while it waited for the server's answer to a sale: the server sold it (the
till expects its cash, its stock is taken) but the kiosk never recorded it, so after a restart the operator saw no
sale and sold again. Now the kiosk keeps the request it asked and, once restarted and online, asks again (a replay):
the sale the server made is recorded on the kiosk and its tickets wait in the print queue, saying why; a request
the server never got is never sold, neither by the replay nor by its first copy arriving late.

Real mosquitto; the real sync server and SQLite store in a child process the test pauses (SIGSTOP) so the sale is
made after the kiosk died; the kiosk in another child process killed with SIGKILL, then started again here."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import paho.mqtt.client as mqtt
import pytest

from agent.sync import topics
from agent.sync.messages import SaleLine, SaleRequest
from drivers.testkit.fake_printer import FakePrinter
from tests.broker import mosquitto_binary
from tests.desk_scenario import kiosk_side
from tests.helpers import stop_process, wait_for, wait_for_line
from tests.kiosk_desk_field import PRICE, prepare_kiosk
from tests.sync_fixtures import ORG, make_store

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")
BUYER = "Sally Midsale"

SERVER = """
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from server_stub.store import SqliteStore
from tests.sync_fixtures import start_server
start_server(SqliteStore.open(Path(sys.argv[2])), int(sys.argv[3]), limits=None)
print("serving", flush=True)
time.sleep(600)
"""

KIOSK = """
import sys
from pathlib import Path
from types import SimpleNamespace
sys.path.insert(0, sys.argv[1])
from kiosk_ui.services import Payment
from tests.desk_scenario import kiosk_side
from tests.helpers import wait_for
folder, port, key, event = Path(sys.argv[2]), int(sys.argv[3]), bytes.fromhex(sys.argv[4]), int(sys.argv[5])
kiosk, door, ctl, desk = kiosk_side(folder, SimpleNamespace(server_public_key=lambda org: key), event, port)
assert wait_for(lambda: desk.online and desk.targets(), 30), "no catalogue from the server"
print("ready", flush=True)
sys.stdin.readline()
ctl.sale.choose(event)
ctl.sale.add(1, 2)
print("selling", flush=True)
print(ctl.sale.confirm(Payment("cash", given_cents=%d, buyer_name=%r)), flush=True)
""" % (2 * PRICE, BUYER)


@contextmanager
def _requests_seen(port: int) -> Iterator[list[str]]:
    """The types of the messages kiosk-1 publishes on its up topic (seen at the broker, as the server would)."""
    seen: list[str] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, "watcher", protocol=mqtt.MQTTv5)
    client.on_message = lambda _c, _u, msg: seen.append(str(_type_of(msg.payload)))
    client.connect("127.0.0.1", port)
    client.subscribe(topics.up(ORG, "kiosk-1"), qos=1)
    client.loop_start()
    try:
        time.sleep(0.2)                                     # subscribed before the kiosk asks
        yield seen
    finally:
        client.loop_stop()
        client.disconnect()


def _type_of(payload: bytes) -> object:
    try:
        return json.loads(payload).get("type")
    except (ValueError, AttributeError):
        return None                                         # an upload batch (binary)


def _sold(store, event: int) -> int:
    return next(q["sold"] for q in store.quotas(event) if q["scope"] == "event")


def test_a_kiosk_killed_while_the_server_sells_records_that_sale_after_restart(tmp_path, broker):
    store, event, _ = make_store(tmp_path / "server", tickets=0, devices=())
    prepare_kiosk(store, event)
    folder = tmp_path / "kiosk"
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(ROOT), str(tmp_path / "server"), str(broker.port)],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_for_line(server, "serving", 60), "the sync server did not start"
        kiosk = subprocess.Popen([sys.executable, "-c", KIOSK, str(ROOT), str(folder), str(broker.port),
                                  store.server_public_key(ORG).hex(), str(event)],
                                 cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True)
        try:
            assert wait_for_line(kiosk, "ready", 60), "the kiosk never came online"
            os.kill(server.pid, signal.SIGSTOP)            # the server busy: the kiosk waits for its answer
            with _requests_seen(broker.port) as seen:
                assert kiosk.stdin is not None
                kiosk.stdin.write("sell\n")
                kiosk.stdin.flush()
                assert wait_for(lambda: "sale" in seen, 30), "the kiosk never asked"
            os.kill(kiosk.pid, signal.SIGKILL)              # asked, waiting (up to 5 s) for the answer
        finally:
            kiosk.kill()
            kiosk.wait(20)
        os.kill(server.pid, signal.SIGCONT)                 # the server sells it within the request's deadline
        assert wait_for(lambda: _sold(store, event) == 2, 30), "the server never made the sale"

        # the app starts again on the same device folder
        _, door, ctl, desk = kiosk_side(folder, store, event, broker.port)
        with FakePrinter("zpl") as zebra:
            door.ledger.set_setting("printers", [
                {"host": "127.0.0.1", "port": zebra.port, "name": "Zebra", "language": "zpl", "format": "show"}])
            ctl.selected_printer = f"zpl:127.0.0.1:{zebra.port}"

            def recorded() -> list[dict]:
                ctl.poll()
                return [o for o in door.search(BUYER) if o.get("buyer_name") == BUYER]
            assert wait_for(lambda: recorded() and len(ctl.pending_prints()) == 2, 30), \
                "the sale never reached the kiosk"
            order = recorded()[0]["order_number"]
            keys = sorted(t["ticket_key"] for t in door.order(order))
            server_order = store.order(order)
            assert (server_order["buyer_name"], server_order["status"]) == (BUYER, "paid")
            assert keys == sorted(t["ticket_key"] for t in server_order["tickets"]) and len(keys) == 2
            waiting = ctl.pending_prints()
            assert sorted(p.ticket_key for p in waiting) == keys and {p.order_number for p in waiting} == {order}
            assert all("sold it while the app was stopped" in p.message and not p.reprint for p in waiting)
            assert [r.ok for _, r in ctl.retry_prints()] == [True, True] and not ctl.pending_prints()
            assert len([j for j in zebra.jobs if j]) == 2
        assert _sold(store, event) == 2                     # sold once
    finally:
        if server.poll() is None:
            os.kill(server.pid, signal.SIGCONT)
        stop_process(server, signal.SIGTERM)
        store.close()


def test_a_replay_of_a_sale_the_server_never_got_sells_it_neither_then_nor_later(tmp_path, backend, request):
    db = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    store, event, _ = make_store(tmp_path / "server", tickets=0, devices=(), db=db)
    prepare_kiosk(store, event)
    try:
        asked = SaleRequest(ORG, "kiosk-1", "r-lost", event, (SaleLine(1, 2),), expected_cents=2 * PRICE)
        replay = store.sell(ORG, "kiosk-1", SaleRequest(**{**asked.__dict__, "replay": True}))
        assert not replay.ok and replay.reason_code == "expired" and "never reached the server" in replay.reason
        late = store.sell(ORG, "kiosk-1", asked)               # its first copy, arriving after the replay
        assert not late.ok and _sold(store, event) == 0
    finally:
        store.close()
