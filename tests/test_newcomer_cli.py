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


def _parsers() -> list[tuple[str, "argparse.ArgumentParser"]]:
    """(`ticketgate …` words, parser) of every command and sub-command that has a parser."""
    import argparse
    import importlib

    from agent.cli import COMMANDS
    found = []

    def walk(words: str, parser: argparse.ArgumentParser) -> None:
        found.append((words, parser))
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(f"{words} {name}", sub)
    for name, (target, _) in COMMANDS.items():
        module = importlib.import_module(target.split(":")[0])
        if hasattr(module, "build_parser"):
            walk(f"ticketgate {name}", module.build_parser())
    return found


def test_every_argument_of_every_command_says_what_it_is_in_its_help():
    """`--help` of `server order show` said `number` and `server quota set` said `target`, `--capacity`,
    `--category`, with not a word: 140 arguments a newcomer had to guess (an order's number? an event or a pass?)."""
    import argparse
    silent = [f"{words} {action.option_strings[-1] if action.option_strings else action.dest}"
              for words, parser in _parsers() for action in parser._actions
              if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) and not action.help]
    assert silent == [], f"{len(silent)} argument(s) with no help: {silent}"
    commands = [f"{words} {choice.dest}" for words, parser in _parsers() for action in parser._actions
                if isinstance(action, argparse._SubParsersAction) for choice in action._choices_actions
                if not choice.help]
    assert commands == [], commands


def test_a_sub_commands_help_names_what_its_positional_argument_is(tmp_path):
    said = tg(tmp_path, "server", "quota", "set", "--help").stdout
    assert "usage: ticketgate server quota set" in said and " EVENT " in said and "event or pass id" in said
    assert "target" not in said
    said = tg(tmp_path, "server", "order", "show", "--help").stdout
    assert "ORDER" in said and "the order number" in said


def test_provision_status_of_a_new_device_says_how_to_enroll_it(tmp_path):
    """It said only "not enrolled" (agent status says where to go, `provision status` did not)."""
    said = tg(tmp_path, "provision", "status", ok=False)
    assert said.returncode == 1
    assert said.stdout.strip() == ("not enrolled: enroll it with `ticketgate provision enroll --code CODE` (a code of "
                                   "the organiser's sheet) or `--qr 'TGE1:…'`")


@pytest.mark.parametrize("argv,kept", [
    (("server", "mail", "configure", "--host", "smtp.example.org", "--user", "t@example.org", "--from",
      "t@example.org"), ("server", "mail", "show")),
    (("server", "staff", "add", "--name", "Zed", "--role", "door", "--pin"), ("server", "staff", "list")),
])
def test_ctrl_c_at_a_prompt_says_what_became_of_the_command(tmp_path, argv, kept):
    """Ctrl-C at the SMTP password or PIN prompt said only "interrupted": saved or not? Now it says what was saved
    stays and the rest was not done — and nothing of the command was saved."""
    import subprocess
    import sys
    import time

    from tests.helpers import stop_process
    from tests.qa_organiser import ROOT, _env
    tg(tmp_path, "server", "init", "--org", "acme", "--name", "Acme Festival")
    before = tg(tmp_path, *kept, ok=False).stdout
    asking = subprocess.Popen([sys.executable, "-m", "agent", *argv], cwd=ROOT, env=_env(tmp_path),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)                                   # the interpreter started, the command waits at its prompt
    code = stop_process(asking)
    _, err = asking.communicate()
    assert code == 130 and "Traceback" not in err, (code, err)
    assert f"ticketgate {argv[0]}: interrupted (Ctrl-C); what was saved stays, the rest was not done" in err, err
    assert tg(tmp_path, *kept, ok=False).stdout == before


def test_init_run_again_says_the_organiser_is_set_up_and_what_comes_next(tmp_path):
    """The guide's first line typed twice said only "organiser 'acme' already exists"."""
    tg(tmp_path, "server", "init", "--org", "acme", "--name", "Acme Festival")
    keys = tg(tmp_path, "server", "keys", "list").stdout
    again = tg(tmp_path, "server", "init", "--org", "acme", "--name", "Acme Festival", ok=False)
    assert again.returncode == 1
    assert "organiser 'acme' already exists in " in again.stderr and "(Acme Festival)" in again.stderr
    assert "nothing changed. Go on with `ticketgate server event create …`" in again.stderr, again.stderr
    assert tg(tmp_path, "server", "keys", "list").stdout == keys


def test_version_help_of_a_command_and_a_reader_that_leaves(tmp_path):
    """`ticketgate --version` was "unknown command '--version'"; `ticketgate help server` printed the list of
    commands, not the server's; `ticketgate | head -1` ended on a BrokenPipeError traceback."""
    import subprocess
    import sys

    from tests.qa_organiser import ROOT, _env
    said = tg(tmp_path, "--version")
    assert said.returncode == 0 and said.stdout.startswith("ticketgate ") and said.stdout.split()[1][0].isdigit()
    said = tg(tmp_path, "help", "server", "event").stdout
    assert said.startswith("usage: ticketgate server event") and "create" in said
    assert "did you mean 'server'?" in tg(tmp_path, "help", "sever", ok=False).stderr
    assert "`ticketgate COMMAND --help`" in tg(tmp_path).stdout
    piped = subprocess.run(f"{sys.executable} -m agent | head -1", shell=True, cwd=ROOT, env=_env(tmp_path),
                           capture_output=True, text=True, timeout=60)
    assert piped.stdout.strip() == "usage: ticketgate COMMAND [ARGS...]" and "Traceback" not in piped.stderr, \
        piped.stderr


def test_tokens_before_server_init_say_only_to_run_init(tmp_path):
    """The technician's guide first, on a fresh laptop: `provision tokens create` said "no `provision serve` has run
    yet: the QR codes name …" and then that there is no data folder — two messages, the first about codes it did
    not make."""
    said = tg(tmp_path, "provision", "tokens", "create", "--org", "acme", "--count", "1", "--out",
              str(tmp_path / "d.pdf"), ok=False)
    assert said.returncode == 1 and said.stdout == "", said.stdout
    assert "run `ticketgate server init` first" in said.stderr
    assert not (tmp_path / "d.pdf").exists()


def test_decode_with_no_file_says_what_to_give(tmp_path):
    said = tg(tmp_path, "decode", ok=False)
    assert said.returncode == 2
    assert "ticketgate decode: give the files to read, e.g. `ticketgate decode screenshot.png" in said.stderr


def test_staff_added_with_no_way_to_log_in_names_the_options(tmp_path):
    tg(tmp_path, "server", "init", "--org", "acme", "--name", "Acme Festival")
    said = tg(tmp_path, "server", "staff", "add", "--name", "Léa Martin", "--role", "door", ok=False)
    assert said.returncode == 1
    assert "'Léa Martin' needs a way to log in: add --pin" in said.stderr and "--badge" in said.stderr, said.stderr
    assert tg(tmp_path, "server", "staff", "list").stdout.strip() == "no staff"


@pytest.mark.parametrize("argv,look", [
    (("device", "events", "gate-1", "--add", "1"), "`ticketgate server devices` lists the devices"),
    (("order", "show", "TSYZ-VH"), "`ticketgate server order find NAME`"),
    (("quota", "set", "9", "--capacity", "5"), "`ticketgate server event list`"),
    (("till", "close", "5", "--counted-cents", "1"), "`ticketgate server till list`"),
    (("staff", "badge", "99"), "`ticketgate server staff list`"),
])
def test_something_not_found_names_the_command_that_lists_what_there_is(tmp_path, argv, look):
    """The guides' example ids (gate-1, TSYZ-VH) typed as written said only "no device 'gate-1'": a newcomer did
    not know the real ids are dev-… nor where to find them."""
    tg(tmp_path, "server", "init", "--org", "acme", "--name", "Acme Festival")
    said = tg(tmp_path, "server", *argv, ok=False)
    assert said.returncode == 1 and said.stdout == ""
    assert look in said.stderr and len(said.stderr.strip().splitlines()) == 1, said.stderr


def test_provision_revoke_of_an_unknown_id_names_where_the_ids_are(tmp_path):
    tg(tmp_path, "server", "init", "--org", "acme", "--name", "Acme Festival")
    said = tg(tmp_path, "provision", "revoke", "--org", "acme", "gate-3", ok=False)
    assert said.returncode == 1
    assert "no device 'gate-3' (`ticketgate provision devices --org acme` lists the enrolled devices" in said.stderr
