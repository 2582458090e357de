"""The `replaces` proof a re-enrollment sends (provisioning.device.retire): what the wipe's mark in the ledger says,
read by the agent's own reading of it (agent.home.carried_over), and bound to the enrollment that replaces the old
one."""
from __future__ import annotations

import pytest

from agent.home import WIPED_IDENTITY, carried_identity
from agent.ledger import Ledger
from provisioning.device import retire
from provisioning.device.state import DeviceState


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
    sent = retire.replaces(state)
    assert sent is None
    assert carried is None or "retire_proof" not in mark


def test_the_retire_proof_of_a_technicians_wipe_names_the_carried_enrollment(tmp_path):
    state = DeviceState(tmp_path / "device")
    state.folder.mkdir(mode=0o700)
    ledger = Ledger.open(state.ledger_path)
    ledger.set_setting(WIPED_IDENTITY, {"device_id": "dev-aaaaaaaaaa", "carry_over": True, "retire_proof": "AAAA"})
    assert carried_identity(ledger) == "dev-aaaaaaaaaa"
    ledger.close()
    assert retire.replaces(state) == {"device": "dev-aaaaaaaaaa", "proof": "AAAA"}
