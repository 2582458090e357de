"""Enrolling a device again over the enrollment it holds (the app's Set-up screen) retires the old one on the server:
its broker login removed, listed once; an enrollment that fails leaves the current one working; the old
enrollment's link, still running, does not wipe the new one when it learns of the retirement. Real enrollment
endpoint, real mosquitto with provisioning's password/ACL files (tests/test_provision_env.py)."""
from __future__ import annotations

import json
import time

import pytest

from tests.broker import mosquitto_binary
from tests.test_qa_user_paths import _broker_login_works

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def _login_becomes(creds: dict, works: bool, seconds: float = 10.0) -> bool:
    """The broker reloads its password file on a signal: poll (bounded) until the login works / is refused."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _broker_login_works(creds) == works:
            return True
        time.sleep(0.2)
    return _broker_login_works(creds) == works


def test_enrolling_again_over_a_live_enrollment_retires_it(tmp_path):
    from provisioning.device.enroll import enroll
    from provisioning.device.state import DeviceState
    from tests.test_provision_env import ORG, provision_env
    with provision_env(tmp_path) as env:
        first, second = env.prov.registry.create_tokens(ORG, 2)
        state = DeviceState(tmp_path / "device")
        old = enroll(state, env.server, token=first.token)
        old_login = json.loads(state.credentials_path.read_text())
        assert _login_becomes(old_login, True)
        new = enroll(state, env.server, token=second.token)
        new_login = json.loads(state.credentials_path.read_text())
        assert new.device_id != old.device_id
        enrolled = [c.device_id for c in env.prov.registry.credentials()]
        assert enrolled == [new.device_id]                      # the door listed once, not its old entry too
        assert [d["device_id"] for d in env.store.devices(ORG) if not d["revoked"]] == [new.device_id]
        assert _login_becomes(old_login, False), "the replaced enrollment still logs in to the broker"
        assert _login_becomes(new_login, True)


def test_a_failed_enrollment_leaves_the_current_one_enrolled_and_logging_in(tmp_path):
    from provisioning.device.enroll import EnrollError, enroll
    from provisioning.device.state import DeviceState
    from tests.test_provision_env import ORG, provision_env
    with provision_env(tmp_path) as env:
        (token,) = env.prov.registry.create_tokens(ORG, 1)
        state = DeviceState(tmp_path / "device")
        old = enroll(state, env.server, token=token.token)
        login = json.loads(state.credentials_path.read_text())
        with pytest.raises(EnrollError, match="already used"):
            enroll(state, env.server, token=token.token)
        assert state.load() == old
        assert [c.device_id for c in env.prov.registry.credentials()] == [old.device_id]
        assert _login_becomes(login, True)


def test_the_old_enrollments_link_does_not_wipe_the_device_enrolled_again(tmp_path):
    """The sync of the old enrollment, still running (the app before eb253d4), is refused its login, asks the
    endpoint, and gets the organiser's signed wipe of the retired enrollment: the new one must stay."""
    from provisioning.device.enroll import enroll
    from provisioning.device.link import DeviceLink
    from provisioning.device.state import DeviceState
    from tests.test_provision_env import ORG, provision_env
    with provision_env(tmp_path) as env:
        first, second = env.prov.registry.create_tokens(ORG, 2)
        state = DeviceState(tmp_path / "device")
        enroll(state, env.server, token=first.token)
        old_link = DeviceLink(state)
        new = enroll(state, env.server, token=second.token)
        assert not old_link.check_revocation()
        assert old_link.wiped is None and state.load() == new and state.key_path.exists()
        assert DeviceLink(state).check_revocation() is False      # the new enrollment is not revoked either


def test_what_the_old_enrollment_had_not_sent_goes_as_the_new_ones(tmp_path):
    """An entry scanned before enrolling again and not uploaded yet: the server refuses an upload for another
    device ("cannot upload for device …", the old one now retired), so it is re-stamped with the new id."""
    from agent.home import open_home
    from agent.stored_policy import load_policy
    from provisioning.device.enroll import enroll
    from provisioning.device.state import DeviceState
    from tests.test_provision_env import ORG, provision_env
    with provision_env(tmp_path) as env:
        first, second = env.prov.registry.create_tokens(ORG, 2)
        state = DeviceState(tmp_path / "device")
        old = enroll(state, env.server, token=first.token)
        ledger, _ = open_home(state.folder)                 # the device acting as the old enrollment
        try:
            assert load_policy(ledger).device_id == old.device_id
            ledger.enqueue("checkin", {"device_id": old.device_id, "ticket_key": "T1"})
        finally:
            ledger.close()
        new = enroll(state, env.server, token=second.token)
        ledger, _ = open_home(state.folder)
        try:
            bodies = [body for _, _, body in ledger.outbox_pending()]
        finally:
            ledger.close()
        assert [b["device_id"] for b in bodies if b.get("ticket_key") == "T1"] == [new.device_id]
