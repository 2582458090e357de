"""`ticketgate` command line. Sub-commands live with their package and are imported only when used,
so `ticketgate agent scan` never loads Kivy, OpenCV or the MQTT client."""
from __future__ import annotations

import argparse
import importlib
import os
import signal
import sqlite3
import sys
import threading
from typing import Any

from agent.cli_parser import did_you_mean
from agent.storage_errors import storage_problem

# sub-command -> "module:function" taking argv (list[str]) and returning an exit code
COMMANDS = {
    "agent": ("agent.agent_cli:main", "door agent: scan, search, status, annul, configure"),
    "server": ("server_stub.cli:main", "organiser's server stub: events, orders, keys, push, stats"),
    "demo": ("server_stub.demo:main", "the whole door on this machine, end to end"),
    "decode": ("drivers.decode_cli:main", "decode QR codes in images (support, benchmarks)"),
    "kiosk": ("kiosk_ui.cli:main", "the Kivy app (door scanning and kiosk screens)"),
    "provision": ("provisioning.cli:main", "device enrollment on the event hotspot"),
}


def parsed(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace | int:
    """`argv` (sys.argv[1:] when None) read by a sub-command's parser, or the exit code argparse ended with
    (--help: 0, bad usage: 2), so that a sub-command's main returns it instead of exiting."""
    try:
        return parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:
        return int(exc.code or 0)


def usage() -> str:
    lines = ["usage: ticketgate COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "`ticketgate COMMAND --help` (or `ticketgate help COMMAND`) says what a command takes,",
              "`ticketgate --version` which version this is; the guides for each role: docs/guides/ (English, French)."]
    return "\n".join(lines)


def version() -> str:
    from importlib.metadata import PackageNotFoundError, version as installed
    try:
        return installed("ticketgate")
    except PackageNotFoundError:      # run from a source tree that was never installed (the APK)
        return "(not installed)"


def _say(text: str) -> int:
    """`text` on stdout, exit code 0; a reader that left (`| head`) is no traceback."""
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["--version"], ["-V"]):
        return _say(f"ticketgate {version()}")
    if argv[:1] == ["help"] and len(argv) > 1:      # `ticketgate help server event`; an unknown one: as one typed
        argv = [*argv[1:], "--help"] if argv[1] in COMMANDS else argv[1:]
    if not argv or argv[0] in ("-h", "--help", "help"):
        return _say(usage())
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"ticketgate: unknown command {name!r}{did_you_mean(name, list(COMMANDS))}\n\n{usage()}",
              file=sys.stderr)
        return 2
    target = COMMANDS[name][0]
    module_name, func = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        print(f"ticketgate {name}: unavailable ({exc}); install the matching extra, e.g. pip install 'ticketgate[dev]'",
              file=sys.stderr)
        return 2
    before = _terminate_as_interrupt(name)
    try:
        code = int(getattr(module, func)(rest) or 0)
        sys.stdout.flush()      # a closed pipe fails here, not in the interpreter's exit
        return code
    except KeyboardInterrupt as exc:   # Ctrl-C at a prompt or mid-command: what was committed stays, the rest is not
        if exc.args == (TERMINATED,):  # done; SIGTERM (a service manager, `kill`) the same way, said so
            print(f"\nticketgate {name}: stopped (SIGTERM); what was saved stays, the rest was not done",
                  file=sys.stderr)
            return 128 + signal.SIGTERM
        print(f"\nticketgate {name}: interrupted (Ctrl-C); what was saved stays, the rest was not done",
              file=sys.stderr)
        return 130
    except sqlite3.OperationalError as exc:   # a full or read-only disk mid-command: its transaction was rolled back
        problem = storage_problem(exc)
        if problem is None:
            raise                                 # anything else is a bug: its traceback
        print(f"ticketgate {name}: {problem.text} ({exc}): what this command was writing was not saved — "
              f"{problem.advice}", file=sys.stderr)
        return 1
    except BrokenPipeError:     # `ticketgate … | head`: the reader left; no traceback (its data is already saved)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())    # the exit's flush has nowhere to fail
        return 1
    finally:
        if before is not None:
            signal.signal(signal.SIGTERM, before)


TERMINATED = "SIGTERM"


def _raise_terminated(signum: int, frame: Any) -> None:
    """SIGTERM raised where the command is, as Ctrl-C's KeyboardInterrupt (not an Exception: no `except Exception`
    of a command takes it): open transactions roll back, files being written are not renamed into place. It killed
    the process outright (exit -15, not a word), `agent scan` reading a laser too."""
    raise KeyboardInterrupt(TERMINATED)


def _terminate_as_interrupt(name: str) -> Any:
    """SIGTERM raises KeyboardInterrupt(TERMINATED) in the main thread while a command runs (commands that stop on
    it their own way, `serve`, `agent sync`, set their handler over this one); the handler before, to put back, or
    None when left as it was."""
    if name == "kiosk" or threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:      # the app: Kivy's loop stops its own way
        return None
    return signal.signal(signal.SIGTERM, _raise_terminated)


if __name__ == "__main__":
    sys.exit(main())
