"""A kiosk that knows its server is down sells offline at once (agent.sync.device.DeviceSync.online: the server's
retained presence), and online again as soon as the presence says online.

The way a user meets it: real mosquitto, the sync server, the kiosk's app wiring (its sync, desk, controller). Each
sale while the server's presence said offline waited the desk's full wait (3 s) for an answer that could not come;
and a server whose connection dropped stayed `offline` (its Last Will) after it reconnected."""
from __future__ import annotations

import time

import pytest

from agent.sync import BrokerConfig
from kiosk_ui.adapters.desk import ANSWER_SECONDS
from tests.kiosk_desk_field import kiosk_desk, prepare_kiosk, ready, sell
from tests.helpers import wait_for
from tests.sync_fixtures import ORG, make_store, start_server


@pytest.fixture
def field(tmp_path, broker):
    """The server and a kiosk running the app's desk over its sync, with its allotment."""
    store, event, _ = make_store(tmp_path / "server", tickets=0, devices=())
    prepare_kiosk(store, event)
    try:
        with kiosk_desk(tmp_path, store, event, broker.port) as f:
            ready(f.desk)
            yield store, event, f.server, f.kiosk, f.ctl, f.desk, broker
    finally:
        store.close()


def test_a_kiosk_whose_server_is_down_sells_offline_at_once(field, caplog):
    """Presence offline: no wait for an answer that cannot come (none asked: the desk's warning that none came is
    not logged, and the sale takes less than the wait; not a fixed 1 s, which a slow host's offline sale and its
    printing may take); presence online: the next sale is online."""
    store, event, server, kiosk, ctl, desk, broker = field
    caplog.set_level("WARNING", logger="kiosk_ui")
    assert desk.timeout == ANSWER_SECONDS
    server[0].stop()
    sync = kiosk.online_sync
    assert wait_for(lambda: sync.uploader is not None and sync.uploader.server_down, 10), "no presence 'offline'"
    for n in (1, 2):
        started = time.monotonic()
        outcome = sell(ctl, event, n)
        took = time.monotonic() - started
        assert outcome.result.ok and outcome.result.offline, outcome.result.problem
        waited = [r.getMessage() for r in caplog.records if "no answer from the server" in r.getMessage()]
        assert not waited and took < desk.timeout, f"an offline sale took {took:.2f} s: it waited for the server " \
                                                   f"{waited}"
    server[0] = start_server(store, broker.port, limits=None)
    assert wait_for(lambda: desk.online, 20), "the kiosk never saw its server back"
    outcome = sell(ctl, event, 1)
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
    assert sell(ctl, event, 1).result.offline
    assert wait_for(lambda: desk.online and transport.connected, 30), "the server never said online again"
    outcome = sell(ctl, event, 1)
    assert outcome.result.ok and not outcome.result.offline, outcome.result.problem
