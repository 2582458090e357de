"""The entry point of the Kivy scenario scripts (tests/*_scenario.py, run in their own process by
tests.helpers.run_offscreen_scenario). Kivy takes sys.stderr once imported (its logger; the scenarios turn its
console log off), so a failing scenario exited 1 with no output at all. `run` writes the traceback to the file the
runner names (SCENARIO_TRACEBACK; else to the process's own stderr, sys.__stderr__: run by hand), then exits 1; and
on SIGUSR1 every thread's stack to that file + ".stacks" (the runner's signal to a scenario still running at its
timeout, before it kills it: slow, or stuck, at what):

    if __name__ == "__main__":
        run(main, Path(sys.argv[1]), sys.argv[2])
"""
from __future__ import annotations

import faulthandler
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Callable

SCENARIO_TRACEBACK = "TICKETGATE_SCENARIO_TRACEBACK"
_STACKS: list = []          # the open file faulthandler writes the stacks to (kept open for the process's life)


def run(entry: Callable[..., object], *args: object, **kwargs: object) -> None:
    if os.environ.get(SCENARIO_TRACEBACK):
        _STACKS.append(open(os.environ[SCENARIO_TRACEBACK] + ".stacks", "w"))
        faulthandler.register(signal.SIGUSR1, file=_STACKS[-1], all_threads=True)
    try:
        entry(*args, **kwargs)
    except BaseException as exc:
        if isinstance(exc, SystemExit) and exc.code in (0, None):
            raise
        text = traceback.format_exc()
        if os.environ.get(SCENARIO_TRACEBACK):
            Path(os.environ[SCENARIO_TRACEBACK]).write_text(text)
        elif sys.__stderr__ is not None:
            sys.__stderr__.write(text)
            sys.__stderr__.flush()
        sys.stdout.flush()
        os._exit(1)       # not sys.exit: a sync or broker thread left running must not hold the failure up
