"""The `replaces` proof a re-enrollment sends (provisioning.device.retire): what the wipe's mark in the ledger says,
read by the agent's own reading of it (agent.home.carried_over), and bound to the enrollment that replaces the old
one."""
from __future__ import annotations

import base64
import json
import time

import pytest

from agent.home import WIPED_IDENTITY, carried_identity
from agent.ledger import Ledger
from provisioning.device import retire
from provisioning.device.state import DeviceState
from tests.broker import mosquitto_binary

needs_broker = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


@pytest.mark.parametrize("mark", [
    {"carry_over": True, "reason": "", "unsent": 0, "retire_proof": "AAAA"},                     # no device id
    {"device_id": 7, "carry_over": True, "retire_proof": "AAAA"},                               # not a name
    {"device_id": "dev-aaaaaaaaaa", "carry_over": False, "retire_proof": "AAAA"},               # a revocation
    {"device_id": "dev-aaaaaaaaaa", "carry_over": True},                                        # no proof
])
def test_the_retire_proof_is_sent_only_for_the_enrollment_the_agent_carries_over(tmp_path, mark):
    state = DeviceState(tmp_path / "device")
    state.folder.mkdir(mode=0o700)
    ledger = Ledger.open(state.ledger_path)
    ledger.set_setting(WIPED_IDENTITY, mark)
    carried = carried_identity(ledger)
    ledger.close()
    sent = retire.replaces(state, bytes(32))
    assert sent is None
    assert carried is None or "retire_proof" not in mark


def test_the_retire_proof_of_a_technicians_wipe_names_the_carried_enrollment(tmp_path):
    state = DeviceState(tmp_path / "device")
    state.folder.mkdir(mode=0o700)
    ledger = Ledger.open(state.ledger_path)
    ledger.set_setting(WIPED_IDENTITY, {"device_id": "dev-aaaaaaaaaa", "carry_over": True, "retire_proof": "AAAA",
                                        "retire_v": 2})
    assert carried_identity(ledger) == "dev-aaaaaaaaaa"
    ledger.close()
    assert retire.replaces(state, bytes(32)) == {"device": "dev-aaaaaaaaaa", "proof": "AAAA", "v": 2}


def _plant(folder, device_id: str, proof: bytes, version: int | None) -> None:
    """A device's ledger holding a technician's wipe mark with `proof` (what a copied ledger or a proof seen on the
    wire gives someone)."""
    folder.mkdir(mode=0o700, exist_ok=True)
    ledger = Ledger.open(DeviceState(folder).ledger_path)
    ledger.set_setting(WIPED_IDENTITY, {"device_id": device_id, "carry_over": True, "reason": "", "unsent": 0,
                                        "retire_proof": base64.b64encode(proof).decode()}
                       | ({"retire_v": version} if version else {}))
    ledger.close()


def _logs_in(creds: dict, works: bool) -> bool:
    from tests.test_qa_user_paths import _broker_login_works
    deadline = time.monotonic() + 5
    while _broker_login_works(creds) != works and time.monotonic() < deadline:
        time.sleep(0.2)
    return _broker_login_works(creds) == works


@needs_broker
def test_a_retire_proof_made_for_another_enrollment_retires_nothing(tmp_path):
    """Door A tried to enroll again (its old key signed a proof for the key it generated) and the enrollment failed:
    A stays enrolled. Someone who saw that proof (on the wire, or in a copy of a wiped ledger) enrolls a device of
    their own with a valid token and sends it: the server enrolls them but retires nothing; A keeps its login."""
    from provisioning.device import identity
    from provisioning.device.enroll import enroll
    from tests.test_provision_env import ORG, provision_env
    with provision_env(tmp_path) as env:
        said: list[dict] = []
        env.prov.service.on_enrolled = said.append
        a_token, c_token = env.prov.registry.create_tokens(ORG, 2)
        a_state = DeviceState(tmp_path / "a")
        a = enroll(a_state, env.server, token=a_token.token)
        a_login = json.loads(a_state.credentials_path.read_text())
        tried = identity.public_raw(identity.generate(tmp_path / "tried.pem"))    # A's failed attempt's key
        seen = retire.sign_retirement(a_state, tried)
        assert seen is not None and seen["v"] == 2
        _plant(tmp_path / "c", a.device_id, base64.b64decode(seen["proof"]), 2)
        c = enroll(DeviceState(tmp_path / "c"), env.server, token=c_token.token)
        assert {cred.device_id for cred in env.prov.registry.credentials()} == {a.device_id, c.device_id}
        assert not env.store.device(a.device_id)["revoked"]
        assert _logs_in(a_login, True)
        assert said[-1]["replaces"] is None and "does not verify for this enrollment" in said[-1]["retire_refused"]


@needs_broker
def test_a_v1_retire_proof_is_not_honoured_and_the_organiser_is_told(tmp_path):
    """A proof from before v2 (org and device id only, no `v`) is not bound to any enrollment: the old enrollment
    stays, the new one is issued, and the organiser is told to revoke the old one by hand."""
    from provisioning.device import identity
    from provisioning.device.enroll import enroll
    from provisioning.protocol import RETIRE_DOMAIN
    from tests.test_provision_env import ORG, provision_env
    with provision_env(tmp_path) as env:
        said: list[dict] = []
        env.prov.service.on_enrolled = said.append
        a_token, b_token = env.prov.registry.create_tokens(ORG, 2)
        a_state = DeviceState(tmp_path / "a")
        a = enroll(a_state, env.server, token=a_token.token)
        v1 = RETIRE_DOMAIN.replace(b"-v2", b"-v1") + ORG.encode() + b"\x00" + a.device_id.encode()
        _plant(tmp_path / "b", a.device_id, identity.load(a_state.key_path).sign(v1), None)
        b = enroll(DeviceState(tmp_path / "b"), env.server, token=b_token.token)
        assert {cred.device_id for cred in env.prov.registry.credentials()} == {a.device_id, b.device_id}
        assert not env.store.device(a.device_id)["revoked"]
        assert said[-1]["replaces"] is None
        assert f"`provision revoke {a.device_id}`" in said[-1]["retire_refused"]


@needs_broker
def test_a_technicians_wipe_signs_for_the_key_the_next_enrollment_uses(tmp_path):
    """`provision wipe --yes` (carry over): the old key signs for a successor key kept 0600; the next enrollment
    takes that key (the proof verifies, the old enrollment is retired) and the successor file is gone."""
    from provisioning.device import identity
    from provisioning.device.enroll import enroll
    from agent.home import open_home
    from provisioning.device.wipe import wipe
    from tests.test_provision_env import ORG, provision_env
    with provision_env(tmp_path) as env:
        first, second = env.prov.registry.create_tokens(ORG, 2)
        state = DeviceState(tmp_path / "device")
        old = enroll(state, env.server, token=first.token)
        ledger, _ = open_home(state.folder)       # the agent ran under this enrollment
        ledger.close()
        wipe(state, "moved", carry_over=True)
        successor = retire.successor_path(state)
        assert successor.stat().st_mode & 0o777 == 0o600
        successor_pub = identity.public_raw(identity.load(successor))
        new = enroll(state, env.server, token=second.token)
        assert identity.public_raw(identity.load(state.key_path)) == successor_pub and not successor.exists()
        assert [c.device_id for c in env.prov.registry.credentials()] == [new.device_id]
        assert env.store.device(old.device_id)["revoked"]


@needs_broker
def test_a_retired_device_id_shows_as_retired_by_its_successor_not_revoked(tmp_path, capsys):
    """The old id of a device the technician wiped and enrolled again showed as REVOKED in `server devices` and
    `provision devices`, as if the organiser had cut a stolen device off: it says RETIRED, when, and the id its
    device enrolled again as; one the organiser revoked still says REVOKED."""
    from agent.cli import main
    from agent.home import open_home
    from provisioning.device.enroll import enroll
    from provisioning.device.wipe import wipe
    from tests.test_provision_env import ORG, provision_env
    with provision_env(tmp_path) as env:
        first, second, third = env.prov.registry.create_tokens(ORG, 3)
        state = DeviceState(tmp_path / "device")
        old = enroll(state, env.server, token=first.token)
        open_home(state.folder)[0].close()       # the agent ran under this enrollment
        wipe(state, "moved", carry_over=True)
        new = enroll(state, env.server, token=second.token)
        gone = enroll(DeviceState(tmp_path / "stolen"), env.server, token=third.token)
        env.prov.revoke(gone.device_id)
        where = ["--data", str(tmp_path / "server"), "--org", ORG]
        assert main(["server", "devices", *where]) == 0
        lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
        assert f"RETIRED {time.strftime('%Y-%m-%d', time.gmtime())}" in lines[old.device_id], lines
        assert f"(enrolled again as {new.device_id})" in lines[old.device_id] and "REVOKED" not in lines[old.device_id]
        assert "REVOKED" in lines[gone.device_id] and "RETIRED" not in lines[gone.device_id]
        assert main(["server", "devices", *where, "--json"]) == 0
        listed = {d["device_id"]: d for d in json.loads(capsys.readouterr().out)}
        assert (listed[old.device_id]["retired"], listed[old.device_id]["replaced_by"]) == (True, new.device_id)
        assert (listed[gone.device_id]["retired"], listed[gone.device_id]["replaced_by"]) == (False, "")
        assert (listed[new.device_id]["retired"], listed[new.device_id]["revoked"]) == (False, False)
        assert main(["provision", "devices", *where, "--state", str(tmp_path / "prov")]) == 0
        rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
        assert rows[old.device_id].endswith(f"retired (enrolled again as {new.device_id})"), rows
        assert rows[gone.device_id].endswith("revoked") and rows[new.device_id].endswith("enrolled"), rows
