"""A kiosk that knows its server is down sells offline at once (agent.sync.device.DeviceSync.online: the server's
retained presence), and online again as soon as the presence says online.

The way a user meets it: real mosquitto, the sync server, the kiosk's app wiring (its sync, desk, controller). Each
sale while the server's presence said offline waited the desk's full wait (3 s) for an answer that could not come;
and a server whose connection dropped stayed `offline` (its Last Will) after it reconnected."""
from __future__ import annotations

import time

import pytest

from agent.policy import DevicePolicy
from agent.sync import BrokerConfig
from kiosk_ui.adapters import build_services
from kiosk_ui.adapters.desk import ANSWER_SECONDS, KioskDesk, SyncSaleLink
from kiosk_ui.controller import Controller
from kiosk_ui.door import Door
from kiosk_ui.services import Payment
from server_stub.sync.sim_device import SimDevice
from tests.helpers import wait_for
from tests.sync_fixtures import FAST, ORG, make_store, start_server


@pytest.fixture
def field(tmp_path, broker):
    """The server and a kiosk running the app's desk over its sync, with its allotment."""
    store, event, _ = make_store(tmp_path / "server", tickets=0, devices=())
    store.set_price(ORG, event, 1, 2000)
    store.set_quota(ORG, event, 40)
    store.register_device(ORG, "kiosk-1", events=[event], role="kiosk")
    store.set_allotment_size(ORG, "kiosk-1", [event], 10, hours=4)
    server = [start_server(store, broker.port, limits=None)]
    kiosk = SimDevice(tmp_path / "kiosk", ORG, "kiosk-1", store.server_public_key(ORG), BrokerConfig(port=broker.port),
                      [event], options=FAST, role="kiosk").go_online()
    door = Door(kiosk.ledger, kiosk.keyring, DevicePolicy(device_id="kiosk-1", gate="Desk", events=frozenset({event})))
    ctl = Controller(door, build_services(door, tmp_path / "kiosk"))
    ctl.services.desk = desk = KioskDesk(door, tmp_path / "kiosk", SyncSaleLink(kiosk), org=ORG)
    try:
        assert wait_for(lambda: desk.online and desk.targets(), 30), "no catalogue from the kiosk bundle"
        assert desk.refill() == "" and desk.certificate() is not None
        yield store, event, server, kiosk, ctl, desk, broker
    finally:
        kiosk.close()
        server[0].stop()
        store.close()


def _sell(ctl, event: int, n: int):
    flow = ctl.sale
    flow.choose(event)
    flow.add(1, n)
    return flow.confirm(Payment("cash", given_cents=2000 * n))


def test_a_kiosk_whose_server_is_down_sells_offline_at_once(field):
    """Presence offline: no wait for an answer that cannot come; presence online: the next sale is online."""
    store, event, server, kiosk, ctl, desk, broker = field
    assert desk.timeout == ANSWER_SECONDS
    server[0].stop()
    sync = kiosk.online_sync
    assert wait_for(lambda: sync.uploader is not None and sync.uploader.server_down, 10), "no presence 'offline'"
    for n in (1, 2):
        started = time.monotonic()
        outcome = _sell(ctl, event, n)
        took = time.monotonic() - started
        assert outcome.result.ok and outcome.result.offline, outcome.result.problem
        assert took < 1.0, f"an offline sale took {took:.2f} s: it waited for the server"    # (the wait: 3 s)
    server[0] = start_server(store, broker.port, limits=None)
    assert wait_for(lambda: desk.online, 20), "the kiosk never saw its server back"
    outcome = _sell(ctl, event, 1)
    assert outcome.result.ok and not outcome.result.offline, outcome.result.problem
    assert store.order(outcome.result.order_number)["status"] == "paid"


def test_a_server_dropped_by_the_broker_says_online_again_when_it_reconnects(field):
    """Its connection cut (the socket shut under it, as by a network drop), the broker publishes the server's Last
    Will (`offline`) and kiosks sell offline without asking; once it reconnected its presence says online again (it
    said so only at its start: the kiosk would have sold offline until the server was restarted)."""
    import json as _json
    import socket
    from agent.sync import PahoTransport, topics
    from server_stub.sync.server import SyncServer
    store, event, server, kiosk, ctl, desk, broker = field
    server[0].stop()
    will = (topics.server_status(ORG), _json.dumps({"state": "offline", "server": "server-1", "since": time.time(),
                                                     "reason": "lost"}).encode())     # as `server serve` sets it
    transport = PahoTransport("server-1", BrokerConfig(port=broker.port), will=will)
    transport.client.reconnect_delay_set(min_delay=3, max_delay=5)      # offline long enough to be seen
    server[0] = SyncServer(store, transport, name="server-1", orgs=[ORG], limits=None).start()
    assert wait_for(lambda: desk.online and transport.connected and transport.client.socket() is not None, 20)
    transport.client.socket().shutdown(socket.SHUT_RDWR)
    assert wait_for(lambda: not desk.online, 3), "the server's Last Will never reached the kiosk"
    assert _sell(ctl, event, 1).result.offline
    assert wait_for(lambda: desk.online and transport.connected, 30), "the server never said online again"
    outcome = _sell(ctl, event, 1)
    assert outcome.result.ok and not outcome.result.offline, outcome.result.problem
