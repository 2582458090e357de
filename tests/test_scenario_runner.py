"""A Kivy scenario that fails shows its traceback in the test's failure message (tests/scenario_main.py): Kivy
takes the scenario's stderr, so it used to exit 1 with no output."""
from __future__ import annotations

import pytest

from tests.helpers import run_offscreen_scenario


def test_a_failing_scenarios_traceback_reaches_the_test():
    with pytest.raises(AssertionError) as failed:
        run_offscreen_scenario("broken_scenario.py", "step-42", timeout=60)
    message = str(failed.value)
    assert "ValueError: the scenario broke at step-42" in message
    assert "in _fail" in message and "broken_scenario.py" in message       # where, not only what



def test_a_scenario_still_running_at_its_timeout_shows_where_each_thread_is():
    """A scenario slow or stuck (a sale that never gave an outcome): killed at the timeout, it said nothing (the
    runner's TimeoutExpired); now the failure shows every thread's stack, the main one's and its workers'."""
    with pytest.raises(AssertionError) as failed:
        run_offscreen_scenario("broken_scenario.py", "hang", timeout=20)
    message = str(failed.value)
    assert "broken_scenario.py hang still running after 20 s (killed)" in message, message
    assert "in _hang" in message and "in _worker_waits" in message, message
