import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture
def broker(tmp_path):
    """A real mosquitto on a free loopback port, stopped after the test."""
    from tests.broker import Mosquitto
    with Mosquitto(tmp_path / "mosquitto") as b:
        yield b


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def store(tmp_path):
    """A real server store (SQLite) in a temp folder, with organiser `fest`."""
    from server_stub.store import open_store
    s = open_store(tmp_path / "server")
    s.create_organiser("fest", "Summer Fest")
    yield s
    s.close()
