"""A Kivy scenario that fails on purpose (tests/test_scenario_runner.py): its traceback must reach the test.

    python tests/broken_scenario.py MARK    -> raises ValueError naming MARK (without scenario_main.run: no output)
    python tests/broken_scenario.py hang    -> a worker thread and the main thread wait 10 min (the runner's timeout)
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.scenario_main import run  # noqa: E402


def main(mark: str) -> None:
    from kiosk_ui.offscreen import offscreen_env
    offscreen_env((720, 1280))
    import kivy.logger  # noqa: F401   (Kivy takes sys.stderr from here on)
    if mark == "hang":
        _hang()
    _fail(mark)


def _hang() -> None:
    import threading
    import time
    threading.Thread(target=_worker_waits, daemon=True).start()
    time.sleep(600)


def _worker_waits() -> None:
    import time
    time.sleep(600)


def _fail(mark: str) -> None:
    raise ValueError(f"the scenario broke at {mark}")


if __name__ == "__main__":
    run(main, sys.argv[1])
