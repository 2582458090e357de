"""Folders holding keys or databases that an older version created 0755 (readable by every local user) are made
0700 when the server or the agent opens them, said once in the log (agent.private_files.tighten_dir). Through the
public commands, as an upgraded installation meets it."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ticketgate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_an_old_0755_server_data_folder_is_tightened_once(tmp_path):
    data = tmp_path / "server"
    assert ticketgate("server", "--data", str(data), "init", "--org", "fest", "--name", "Fest").returncode == 0
    os.chmod(data, 0o755)                               # as an older version left it
    first = ticketgate("server", "--data", str(data), "devices")
    assert first.returncode == 0, first.stderr
    assert _mode(data) == 0o700
    assert first.stderr.count(f"{data} holds keys or databases") == 1 and "now 0700" in first.stderr, first.stderr
    again = ticketgate("server", "--data", str(data), "devices")
    assert again.returncode == 0 and "holds keys or databases" not in again.stderr, again.stderr


def test_an_old_0755_device_home_is_tightened_once(tmp_path):
    home = tmp_path / "home"
    assert ticketgate("agent", "--home", str(home), "status").returncode == 0
    os.chmod(home, 0o755)
    first = ticketgate("agent", "--home", str(home), "status")
    assert first.returncode == 0, first.stderr
    assert _mode(home) == 0o700
    assert first.stderr.count(f"{home} holds keys or databases") == 1, first.stderr
    again = ticketgate("agent", "--home", str(home), "status")
    assert again.returncode == 0 and "holds keys or databases" not in again.stderr, again.stderr


def test_a_folder_set_private_by_its_owner_is_left_alone(tmp_path):
    from agent.private_files import private_dir, tighten_dir
    folder = tmp_path / "kept"
    folder.mkdir(mode=0o700)
    os.chmod(folder, 0o500)                             # stricter than 0700: not loosened
    assert not tighten_dir(folder) and _mode(folder) == 0o500
    os.chmod(folder, 0o700)
    shared = tmp_path / "shared"                        # a folder not holding keys (no `tighten`): as its owner set it
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    private_dir(shared)
    assert _mode(shared) == 0o755
    assert not tighten_dir(tmp_path / "missing")


def test_an_old_0755_provisioning_state_folder_is_tightened(tmp_path):
    from provisioning.server.registry import Registry
    state = tmp_path / "provision"
    state.mkdir(mode=0o755)
    os.chmod(state, 0o755)
    Registry(state / "registry.sqlite")
    assert _mode(state) == 0o700


def test_two_threads_saving_one_private_file_each_replace_it_whole(tmp_path):
    """A device's sync thread saves its keyring as a bundle is applied while the app saves it too (`demo --keep`):
    with one temporary file per process, one thread renamed the other's away (FileNotFoundError) or a half file."""
    import threading
    from agent.private_files import write_private
    path, errors = tmp_path / "keyring.json", []
    texts = [("a" * 200_000), ("b" * 200_000)]

    def save(text: str) -> None:
        try:
            for _ in range(150):
                write_private(path, text)
        except OSError as exc:
            errors.append(exc)
    threads = [threading.Thread(target=save, args=(t,)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert path.read_text() in texts and _mode(path) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["keyring.json"]
