"""Sync under the deployed broker rules: passwords and per-device ACLs (provisioning's rendering). A device
syncs normally; with its own valid login it still cannot speak for another device or reach its topics."""
from __future__ import annotations

import json
import time

from agent.sync import topics
from agent.sync.transport import BrokerConfig, PahoTransport
from provisioning.server.mosquitto_files import BrokerUser, hash_password, render_acl, render_passwords
from server_stub.sync.server import SyncServer
from server_stub.sync.sim_device import SimDevice
from tests.broker import Mosquitto
from tests.helpers import wait_for
from tests.sync_fixtures import FAST, ORG, make_store


def test_devices_sync_under_acls_and_cannot_impersonate(tmp_path):
    store, event, orders = make_store(tmp_path / "server", tickets=3)
    secrets = {"server-1": "s3rv3r", "gate-a": "pa55-a", "gate-b": "pa55-b"}
    users = [BrokerUser("server-1", hash_password(secrets["server-1"]), ORG, server=True),
             BrokerUser("gate-a", hash_password(secrets["gate-a"]), ORG, (event,)),
             BrokerUser("gate-b", hash_password(secrets["gate-b"]), ORG, (event,))]
    (tmp_path / "passwd").write_text(render_passwords(users))
    (tmp_path / "acl").write_text(render_acl(users))
    with Mosquitto(tmp_path / "mq", password_file=tmp_path / "passwd", acl_file=tmp_path / "acl",
                   extra_config="use_username_as_clientid true") as broker:
        cfg = lambda user: BrokerConfig(port=broker.port, username=user, password=secrets[user])  # noqa: E731
        server = SyncServer(store, PahoTransport("server-1", cfg("server-1")), name="server-1", orgs=[ORG]).start()
        key = store.server_public_key(ORG)
        a = SimDevice(tmp_path / "a", ORG, "gate-a", key, cfg("gate-a"), [event], options=FAST).go_online()
        b = SimDevice(tmp_path / "b", ORG, "gate-b", key, cfg("gate-b"), [event], options=FAST).go_online()
        try:
            assert wait_for(lambda: a.ready(3) and b.ready(3), 15), (a.sync.rejections, server.rejections)
            assert a.scan(store.issue_ticket_payload(orders[0]["tickets"][0]["ticket_key"])).accepted
            assert wait_for(lambda: b.ledger.history(orders[0]["tickets"][0]["ticket_key"]).entries)
            # gate-a's second connection (its own login) trying to act as gate-b: the broker drops it all
            b.go_offline()
            spoof = {"type": "batch", "org": ORG, "device": "gate-b", "batch": "s",
                     "items": [{"id": 1, "kind": "action", "body": {"type": "action", "kind": "entry", "scan_uuid": "spoof",
                                                                    "ticket_key": "1", "at": time.time(),
                                                                    "device_id": "gate-b"}}]}
            a.go_offline()
            rogue = PahoTransport("gate-a", cfg("gate-a"), clean_start=True)
            rogue.start()
            assert rogue.wait_connected(5)
            rogue.publish(topics.up(ORG, "gate-b"), json.dumps(spoof).encode(), wait=2)
            rogue.publish(topics.live(ORG, event), b'{"v":1}', wait=2)
            rogue.stop()
            a.go_online()
            assert a.scan(store.issue_ticket_payload(orders[1]["tickets"][0]["ticket_key"])).accepted
            assert wait_for(lambda: a.ledger.outbox_size() == 0, 15)
            assert store.q("SELECT count(*) FROM scans WHERE scan_uuid='spoof'")[0][0] == 0
            assert not [r for r in server.rejections if "gate-b" in r[0]]
            # a wrong password (e.g. the device was revoked at the broker): the sync tells provisioning
            refused = []
            from agent.sync import device_transport
            from agent.sync.device import DeviceSync
            bad = BrokerConfig(port=broker.port, username="gate-b", password="wrong")
            c = DeviceSync(tmp_path / "c.sqlite", ORG, "gate-b", key, device_transport(ORG, "gate-b", bad),
                           on_refused=refused.append).start()
            try:
                assert wait_for(lambda: refused, 10)
                assert refused[0] in ("Not authorized", "Bad user name or password")
            finally:
                c.stop()
        finally:
            a.close()
            b.close()
            server.stop()
            store.close()
