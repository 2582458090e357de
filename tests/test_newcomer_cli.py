"""A newcomer at the terminal: `ticketgate` with nothing, a command cut short, a typo — each answered with what to
type next (the close command or option, the list of commands), through the public command in a fresh HOME."""
from __future__ import annotations

import pytest

from tests.qa_organiser import tg


def test_nothing_typed_lists_the_commands(tmp_path):
    proc = tg(tmp_path)
    assert proc.returncode == 0 and "usage: ticketgate COMMAND" in proc.stdout
    assert all(name in proc.stdout for name in ("agent", "server", "provision", "kiosk", "decode", "demo"))


@pytest.mark.parametrize("typed,meant", [("sever", "server"), ("provison", "provision"), ("agnet", "agent"),
                                         ("kiosque", "kiosk")])
def test_a_mistyped_command_names_the_close_one(tmp_path, typed, meant):
    proc = tg(tmp_path, typed, ok=False)
    assert proc.returncode == 2
    assert f"unknown command {typed!r}; did you mean {meant!r}?" in proc.stderr


def test_a_word_close_to_no_command_lists_them_all(tmp_path):
    proc = tg(tmp_path, "xyzzy", ok=False)
    assert proc.returncode == 2 and "did you mean" not in proc.stderr and "provision" in proc.stderr


@pytest.mark.parametrize("argv,meant", [
    (("server", "evnt"), "'event'"),
    (("server", "event", "lst"), "'list'"),
    (("provision", "token"), "'tokens'"),
    (("agent", "stauts"), "'status'"),
    (("server", "device", "revok", "gate-1"), "'revoke'"),
])
def test_a_mistyped_sub_command_names_the_close_one(tmp_path, argv, meant):
    proc = tg(tmp_path, *argv, ok=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert f"no command {argv[-1] if argv[-1] != 'gate-1' else argv[-2]!r}; did you mean {meant}" in last, last
    assert "argument cmd" not in last and "argument sub" not in last      # argparse's dest means nothing to a user
    assert "--help` says what each does" in last


@pytest.mark.parametrize("argv", [("server",), ("agent",), ("provision",), ("server", "event"),
                                  ("provision", "tokens")])
def test_a_command_cut_short_lists_what_comes_next(tmp_path, argv):
    """It said only "the following arguments are required: cmd"."""
    proc = tg(tmp_path, *argv, ok=False)
    assert proc.returncode == 2
    assert "required: cmd" not in proc.stderr and "required: sub" not in proc.stderr
    assert "give one of the commands above" in proc.stderr
    assert "positional arguments:" in proc.stderr or "{" in proc.stderr        # the help, with the commands


def test_a_mistyped_option_names_the_close_one(tmp_path):
    proc = tg(tmp_path, "server", "event", "list", "--remved", ok=False)
    assert proc.returncode == 2
    assert "did you mean --removed instead of --remved?" in proc.stderr
    assert "`ticketgate server event list --help` lists its options" in proc.stderr


def test_a_mistyped_choice_names_the_close_one(tmp_path):
    proc = tg(tmp_path, "provision", "tokens", "create", "--org", "acme", "--out", str(tmp_path / "x.pdf"),
              "--role", "kisok", ok=False)
    assert proc.returncode == 2 and "invalid choice: 'kisok'; did you mean 'kiosk'?" in proc.stderr
    assert not (tmp_path / "x.pdf").exists()
