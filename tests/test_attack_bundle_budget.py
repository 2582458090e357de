"""A stolen door's hellos naming version after version: each asked the server for a delta of nearly everything (a
full bundle's work and bytes). Through a real mosquitto; the sync server with a small bundle budget (the default is
64 MiB then 256 KiB/s a device: the same rule on an event of a million tickets)."""
from __future__ import annotations

import json
import time

import pytest

from agent.sync import topics
from server_stub.sync import bundles
from server_stub.sync.ratelimit import Limits
from tests.broker import mosquitto_binary
from tests.helpers import wait_for
from tests.sync_fixtures import ORG, make_store, start_door, start_server
from tests.test_attacks_ingest import Attacker

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


class Counting(Attacker):
    """The stolen door's login, counting the bundle manifests the server sends it."""

    def __init__(self, *args):
        self.manifests = 0
        super().__init__(*args)

    def _message(self, _c, _u, msg) -> None:
        if msg.payload[:4] != b"TGB1" and self.verifier.open(msg.payload).get("type") == "bundle":
            self.manifests += 1
        else:
            super()._message(_c, _u, msg)


def test_hellos_naming_old_versions_cost_the_server_a_bounded_number_of_bundles(tmp_path, broker):
    """20 hellos, each naming another old version (a delta of nearly every ticket). Before: one bundle built and sent
    for each (20 here; with a million tickets each is seconds of the bundle thread and tens of MB queued at the
    broker for a login that need not read them). Now the device's bundle budget (bytes) stops them: its next bundle
    waits, counted and logged once; another door's bundle comes at once."""
    store, event, _ = make_store(tmp_path / "server", tickets=300, devices=("gate-a", "gate-b"))
    first = sum(len(c) for c in bundles.build(store, ORG, [event], 1).chunks)       # one such delta's bytes
    server = start_server(store, broker.port, limits=Limits(bundle_bytes_burst=first * 1.5, bundle_bytes_per_s=1.0))
    thief = Counting(broker.port, "gate-a", store.server_public_key(ORG))
    try:
        for version in range(1, 21):
            thief.client.publish(topics.up(ORG, "gate-a"), json.dumps(
                {"type": "hello", "org": ORG, "device": "gate-a", "probe": f"p{version}", "t0": time.time(),
                 "bundle_version": version, "events": [event]}).encode(), qos=1).wait_for_publish(10)
            time.sleep(0.6)                          # past the bundle thread's wake-up: no two hellos collapse
        assert wait_for(lambda: len(thief.clocks) == 20, 20), len(thief.clocks)      # every hello answered
        door = start_door(tmp_path / "b", "gate-b", broker.port, store.server_public_key(ORG), event)
        try:
            assert wait_for(lambda: door.ready(300), 20), "the other door never got its bundle"
        finally:
            door.close()
        assert thief.manifests <= 3, thief.manifests                # its first (free), then the budget's
        assert server.stats["bundles_deferred"] == 1, server.stats
        assert sum("more bundles than this device's budget" in why for _, why in server.rejections) == 1
    finally:
        thief.close()
        server.stop()
        store.close()
