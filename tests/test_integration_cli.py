"""Device roles on the command line: `ticketgate server device register --role`, `ticketgate provision tokens
create --role kiosk` (the token remembers the role; enrollment gives it to the store and the device)."""
from __future__ import annotations

import json

from agent.cli import main as ticketgate
from provisioning.server.registry import Registry


def test_roles_on_the_command_line(tmp_path, capsys):
    data = tmp_path / "server"
    srv = lambda *a: ticketgate(["server", "--data", str(data), *a])  # noqa: E731
    assert srv("init", "--org", "fest", "--name", "Summer Fest") == 0
    assert srv("event", "create", "--name", "Night 1", "--start", "2026-12-31 20:00", "--end", "2027-01-01 03:00",
               "--tz", "Europe/Paris", "--json") == 0
    capsys.readouterr()
    assert srv("device", "register", "desk-1", "--role", "kiosk", "--json") == 0
    assert json.loads(capsys.readouterr().out)["role"] == "kiosk"
    assert srv("device", "register", "door-1") == 0
    assert "(door," in capsys.readouterr().out
    assert srv("devices") == 0
    listing = capsys.readouterr().out
    assert "desk-1" in listing and "kiosk" in listing
    assert ticketgate(["provision", "tokens", "create", "--data", str(data), "--org", "fest", "--role", "kiosk",
                       "--count", "2", "--server", "127.0.0.1:8765", "--out", str(tmp_path / "sheet.png")]) == 0
    assert "2 kiosk enrollment QR(s)" in capsys.readouterr().out
    registry = Registry(data / "provision" / "provision.sqlite")
    assert [t.role for t in registry.tokens("fest")] == ["kiosk", "kiosk"]
    registry.close()
