"""Helpers shared by the tests (fixtures that need a broker or a store are in broker.py and sync_fixtures.py)."""
from __future__ import annotations

import time
from typing import Callable


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, step: float = 0.02) -> bool:
    """Poll `predicate` every `step` seconds until it is true or `timeout` seconds passed; its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())
