"""`ticketgate demo` runs the whole door (its own mosquitto) and says how to get mosquitto when it is missing."""
from __future__ import annotations

from server_stub import demo


def test_demo_runs_end_to_end(capsys):
    assert demo.main(["--tickets", "30"]) == 0
    out = capsys.readouterr().out
    for expected in ("mosquitto started", "ALREADY USED", "REVOKED", "CONFLICT", "admitted twice",
                     "messages refused by anyone: 0"):
        assert expected in out, out


def test_demo_without_mosquitto_says_how_to_get_it(monkeypatch, capsys):
    monkeypatch.setenv("TICKETGATE_MOSQUITTO", "/nonexistent/mosquitto")
    assert demo.main([]) == 1
    assert "apt-get install" in capsys.readouterr().err
