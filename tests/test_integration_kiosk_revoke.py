"""A kiosk enrolled by the app with a `--role kiosk` token (real endpoint, real mosquitto with provisioning's ACL):
the role travels to the store and the device; revoking it wipes keys and credentials through the kiosk's own
sync (signed wipe command, or the signed wipe the endpoint gives once the broker refuses the login)."""
from __future__ import annotations

import time

import pytest

from kiosk_ui import i18n
from kiosk_ui.adapters import build_services
from kiosk_ui.controller import Controller
from kiosk_ui.door import Door
from provisioning.device.state import DeviceState
from tests.test_provision_env import ORG, provision_env

NAME = "Zacharias Quelloworth"


def wait(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.mark.parametrize("wipe_command", [True, False])
def test_kiosk_enrolled_as_kiosk_and_wiped_when_revoked(tmp_path, wipe_command):
    i18n.set_language("en")
    with provision_env(tmp_path / "env") as env:
        token = env.prov.registry.create_tokens(ORG, 1, gate="desk", events=tuple(env.events), role="kiosk")[0]
        assert token.role == "kiosk" and env.prov.registry.tokens(ORG)[0].role == "kiosk"
        home = tmp_path / "kiosk"
        door = Door.open_home(home)
        ctl = Controller(door, build_services(door, home))
        try:
            ctl.services.enrollment.enroll_with_qr(env.prov.qr_for(token, env.server).text())
            assert ctl.services.enrollment.wait(20).step == "enrolled"
            assert ctl.after_enrollment()
            creds = DeviceState(home).load()
            assert creds.role == "kiosk" and env.store.device(creds.device_id)["role"] == "kiosk"
            assert wait(lambda: ctl.services.sync.status().online, 10)
            door.ledger.upsert_tickets([{"ticket_key": "1", "event_id": env.events[0], "buyer_name": NAME,
                                         "payload": "TG1:X"}])
            assert door.keyring.keys
            if not wipe_command:
                env.prov.admin.sign = None           # the command never arrives: the endpoint's signed wipe must do it
            env.prov.revoke(creds.device_id)
            assert wait(lambda: ctl.services.sync.wiped), "kiosk not wiped"
            assert door.keyring.keys == {}                       # nothing admitted or printed from now on
            assert not DeviceState(home).enrolled() and not (home / "keyring.json").exists()
            assert door.ledger.search("Quelloworth") == []
            ctl.poll()
            status = ctl.services.sync.status()
            assert not status.online and "revoked and wiped" in status.detail
            assert ctl.services.sync.sync is None
        finally:
            ctl.services.sync.stop()
            door.close()
        assert NAME.encode() not in (home / "ledger.sqlite").read_bytes()


def test_door_token_by_default_and_role_checked(tmp_path):
    with provision_env(tmp_path / "env") as env:
        from tests.test_provision_env import enroll_device
        _, creds = enroll_device(env, tmp_path / "dev")
        assert creds.role == "door" and env.store.device(creds.device_id)["role"] == "door"
        with pytest.raises(ValueError):
            env.prov.registry.create_tokens(ORG, 1, role="printer")
