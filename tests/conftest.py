import os
import signal
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The commands the tests start write to pipes, as under a service manager or a script: without this variable (a
# new user's shell has none), so a line the program forgets to flush fails here as it would there.
os.environ.pop("PYTHONUNBUFFERED", None)
sys.path.insert(0, str(ROOT))
# The commands speak the machine's language (agent.language.choose: the locale after the device's setting): the
# tests read English, whatever the locale of the machine running them (a French desk's laptop); the tests of the
# language rule give their own.
for _var in ("TICKETGATE_LANG", "LC_ALL", "LC_MESSAGES", "LANGUAGE"):
    os.environ.pop(_var, None)
os.environ["LANG"] = "C.UTF-8"
# A suite started in the background by a script (`./dev.sh test &`) inherits Ctrl-C ignored, and so would every
# command it starts: the tests that press Ctrl-C on one (a PIN prompt, `stats --watch`) would see it killed after
# their wait instead. Such a command gets Ctrl-C as a user's terminal gives it.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture
def broker(tmp_path):
    """A real mosquitto on a free loopback port, stopped after the test."""
    from tests.broker import Mosquitto
    with Mosquitto(tmp_path / "mosquitto") as b:
        yield b


@pytest.fixture
def french():
    """The app's texts in French for the test, English again after it."""
    from kiosk_ui import i18n
    i18n.set_language("fr")
    yield
    i18n.set_language("en")


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL (Debian's `postgresql` package) for the whole session: initdb in a temp folder, free port."""
    from tests.pg import PostgresServer
    with PostgresServer() as server:
        yield server


@pytest.fixture
def pg_url(pg_server):
    """A fresh database on the session's PostgreSQL, dropped after the test."""
    url = pg_server.create_database()
    yield url
    pg_server.drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request) -> str:
    """Store tests run against both backends (the contract suite)."""
    return request.param


@pytest.fixture
def open_backend(backend, request):
    """`open_backend(folder, create=True)`: a store of this test's backend with its key files in `folder`; the same
    folder reopens the same database (a fresh PostgreSQL database per folder, dropped after the test)."""
    from server_stub.store import open_store
    urls: dict = {}
    opened: list = []
    pg = request.getfixturevalue("pg_server") if backend == "postgresql" else None

    def open_(folder, create: bool = True, **kw):
        if pg is not None and folder not in urls:
            urls[folder] = pg.create_database()
        s = open_store(folder, create, db=urls.get(folder), **kw)
        opened.append(s)
        return s
    open_.url = lambda folder: urls.get(folder)
    yield open_
    for s in opened:
        s.close()
    for url in urls.values():
        pg.drop_database(url)


@pytest.fixture
def store(open_backend, tmp_path):
    """A real server store (SQLite file, or a PostgreSQL database) with its key folder in a temp folder, with
    organiser `fest`."""
    s = open_backend(tmp_path / "server")
    s.create_organiser("fest", "Summer Fest")
    yield s
