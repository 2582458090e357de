"""Small things the QA walk saw, through the public commands: what `agent status` names on a device with no
settings (new, or wiped), an order's category without --ticket, the buyer name's length (one limit for the
organiser's order add, import-orders and the desk's sale form)."""
from __future__ import annotations

import json

from tests.qa_organiser import tg


def test_agent_status_of_a_device_with_no_settings_names_none(tmp_path):
    """A wiped (or new) device said "device device at gate": the defaults, as if they were its name and gate."""
    home = tmp_path / "home"
    home.mkdir()
    said = tg(home, "agent", "status").stdout
    assert "device device at gate" not in said and "no device id or gate set" in said, said
    tg(home, "agent", "configure", "--device-id", "door-7", "--gate", "north")
    assert "device door-7 at north: mode normal" in tg(home, "agent", "status").stdout
