"""Revocation through the real device sync (agent.sync.DeviceSync, MQTT v5 persistent session) wired to
provisioning's hooks: `on_command` (the signed wipe) and `on_refused` (login refused at reconnect: the device
fetches the organiser's signed wipe from the enrollment endpoint)."""
from __future__ import annotations


import pytest

from agent.ledger import Ledger
from agent.sync import BrokerConfig, device_transport
from agent.sync.device import DeviceSync
from provisioning.device.link import DeviceLink
from tests.helpers import wait_for
from tests.test_provision_env import enroll_device, provision_env

NAME = "Zacharias Quelloworth"


def _sync(state, link: DeviceLink) -> DeviceSync:
    c = link.creds
    config = BrokerConfig(c.broker.host, c.broker.port, c.username, c.password)
    return DeviceSync(state.ledger_path, c.org, c.device_id, c.server_key, device_transport(c.org, c.device_id, config),
                      events=list(c.events), on_refused=link.on_refused, on_command=link.on_command,
                      on_connected=link.on_connected)


def _fill(state) -> None:
    ledger = Ledger.open(state.ledger_path)
    ledger.upsert_tickets([{"ticket_key": "T1", "event_id": 1, "order_number": "K7M2-Q9", "buyer_name": NAME}])
    ledger.close()


@pytest.mark.parametrize("wipe_command", [True, False])
def test_device_sync_wipes_on_revocation(tmp_path, wipe_command):
    with provision_env(tmp_path / "env") as env:
        state, creds = enroll_device(env, tmp_path / "dev")
        _fill(state)
        link = DeviceLink(state)
        sync = _sync(state, link).start()
        try:
            assert wait_for(lambda: sync.transport.connected)
            if not wipe_command:
                env.prov.admin.sign = None            # the command never arrives: the endpoint's signed wipe must do it
            env.prov.revoke(creds.device_id)
            assert wait_for(lambda: link.wiped is not None), "device not wiped"
        finally:
            sync.stop()
        assert not state.enrolled() and not state.key_path.exists()
        ledger = Ledger.open(state.ledger_path)
        assert ledger.search("Quelloworth") == []
        ledger.close()
        assert NAME.encode() not in state.ledger_path.read_bytes()
