"""The lock files of a device folder (`sync.lock`) and of `provision serve`'s state folder (`serve.lock`) are written
(the holder's pid) when the lock is taken: one made a symbolic link to a file elsewhere, or a hard link to the
device's ledger, had that file emptied and overwritten with a pid by the next `agent sync` or `provision serve`
(the ledger destroyed); the app's sync start, which never raises, would have raised. Now the command stops before writing, saying what the path is and what to do; the file it
leads to is left as it was, and once the link is moved away the command runs as before. Real `provision serve`,
mosquitto, `server serve`, a door enrolled."""
from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from kiosk_ui.adapters.sync import SyncLink
from kiosk_ui.door import Door
from tests.broker import mosquitto_binary
from tests.helpers import stop_process
from tests.qa_organiser import _start, tg
from tests.test_offline_failures import _synced_door
from tests.test_qa_walk_door_t import _sync

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_attack_a_lock_file_linked_to_another_file_is_not_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("the organiser's notes\n")
    with _synced_door(tmp_path) as (org, door, payloads, running):
        lock, ledger = door / "device" / "sync.lock", door / "device" / "ledger.sqlite"
        lock.unlink(missing_ok=True)
        lock.symlink_to(victim)
        said = tg(door, "agent", "sync", "--until-idle", "--for", "20", ok=False)
        assert said.returncode != 0, said.stdout
        assert f"{lock} is a symbolic link, not the lock file" in said.stderr, said.stderr
        assert "move sync.lock away" in said.stderr and "online" not in said.stdout, said
        assert victim.read_text() == "the organiser's notes\n"                   # before: emptied, a pid written
        app = Door.open_home(door / "device")                                 # the app's sync: it says it, stays off
        try:
            link = SyncLink(app, door / "device")
            assert link.start() is False and "is a symbolic link, not the lock file" in link.detail, link.detail
        finally:
            app.ledger.close()
        assert victim.read_text() == "the organiser's notes\n"
        lock.unlink()
        before = _digest(ledger)
        lock.hardlink_to(ledger)                                              # the ledger under the lock's name
        said = tg(door, "agent", "sync", "--until-idle", "--for", "20", ok=False)
        assert said.returncode != 0 and "a hard link" in said.stderr, said.stderr
        assert _digest(ledger) == before                                      # before: the ledger destroyed
        lock.unlink()
        assert _sync(door)["bundle_version"] > 0                              # the link moved away: syncs again
        running.stop_serve()
        running.close()
        serve_lock = org / ".local/share/ticketgate/server/provision/serve.lock"
        assert serve_lock.exists()
        serve_lock.unlink()
        serve_lock.symlink_to(victim)
        serve = _start(org, "provision", "serve", "--org", "acme")
        try:
            out, err = serve.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            stop_process(serve)
            out, err = "", "still serving"
        assert serve.returncode != 0 and f"{serve_lock} is a symbolic link" in err, (out, err)
        assert victim.read_text() == "the organiser's notes\n"
    assert json.loads(tg(org, "server", "stats", "--json").stdout)["entries"] == 0
