"""`server pass edit`, `pass remove` and `event remove` refuse while holders of orders still paid or pending would
lose an event still to come. Before, that check ran before the store's write, outside its transaction: an order
bought between the two (a desk's sale, `order add` or an import by another process) lost its event silently. The
check now runs inside the write transaction, after the organiser's other writers have committed.

The commands are run in-process on one store connection (the interleaving needs a hook in the store), the order is
bought on a second connection to the same SQLite file or PostgreSQL database: both stores."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from server_stub.cli import build_parser
from server_stub.cli_commands import HANDLERS
from server_stub.cli_output import Refused

DAY = 86400


def _command(data: Path, *words: str):
    args = build_parser().parse_args(["--data", str(data), *words, "--broker", "127.0.0.1:1", "--timeout", "2"]
                                     if words[:2] == ("event", "remove") else ["--data", str(data), *words])
    return lambda store: HANDLERS[(args.cmd, args.sub)](store, "fest", args)


@pytest.fixture
def desk(open_backend, tmp_path):
    """(the organiser's connection, a second connection to the same store: the desk selling), with Saturday and
    Sunday to come and the Weekend pass opening both, not sold yet."""
    first = open_backend(tmp_path / "server")
    first.create_organiser("fest", "Summer Fest")
    second = open_backend(tmp_path / "server")
    now = time.time()
    first.create_event("fest", "Sat", now + DAY, now + 2 * DAY)
    first.create_event("fest", "Sun", now + 2 * DAY, now + 3 * DAY)
    first.create_pass("fest", "Weekend", [1, 2])
    return first, second


def _sold_just_before(store, method: str, sell) -> None:
    """The hook: `sell()` (on the other connection, committed) runs when the command calls `store.<method>`, after
    whatever it checked before."""
    real = getattr(store, method)

    def write(*args, **kwargs):
        sell()
        return real(*args, **kwargs)
    setattr(store, method, write)


@pytest.mark.parametrize("words, method, target", [
    (("pass", "edit", "3", "--remove-event", "2"), "edit_pass", 3),
    (("pass", "edit", "3", "--events", "1"), "edit_pass", 3),
    (("pass", "remove", "3"), "remove_pass", 3),
])
def test_a_pass_sold_while_it_is_edited_keeps_its_events(desk, tmp_path, words, method, target):
    """Pat buys the Weekend pass while the organiser takes Sunday out of it (or removes it): refused, naming Pat's
    order, and the pass still opens both days."""
    first, second = desk
    number = []
    _sold_just_before(first, method, lambda: number.append(second.add_order("fest", target, "Pat Pass")["number"]))
    with pytest.raises(Refused) as refused:
        _command(tmp_path / "server", *words)(first)
    assert "sold in 1 order(s) still valid" in str(refused.value) and number[0] in str(refused.value), refused.value
    now = first.pass_of("fest", 3)
    assert now["event_ids"] == [1, 2] and "removed_at" not in now
    assert [p["pass_id"] for p in first.event(2)["passes"]] == [3]


def test_an_event_sold_while_it_is_removed_stays(desk, tmp_path):
    """Pat buys a Saturday ticket while the organiser removes Saturday (given to no pass any more): refused, naming
    Pat's order; Saturday stays on the event list."""
    first, second = desk
    first.edit_pass("fest", 3, event_ids=[2])
    number = []
    _sold_just_before(first, "remove_event", lambda: number.append(second.add_order("fest", 1, "Pat")["number"]))
    with pytest.raises(Refused) as refused:
        _command(tmp_path / "server", "event", "remove", "1")(first)
    assert "has 1 order(s) still valid" in str(refused.value) and number[0] in str(refused.value), refused.value
    assert "removed_at" not in first.event(1) and [e["event_id"] for e in first.events("fest")] == [1, 2]


def test_an_order_committing_while_the_edit_waits_for_it_is_counted(desk, tmp_path, backend, open_backend):
    """PostgreSQL: the sale's transaction holds the organiser's row when `pass edit` starts; the edit waits for it
    to commit (seen waiting on the lock, from a third connection) and then counts it."""
    if backend != "postgresql":
        pytest.skip("SQLite's BEGIN IMMEDIATE serialises the two whole transactions: the hook tests cover it")
    import psycopg
    first, second = desk
    outcome: list[BaseException | None] = []
    edit = _command(tmp_path / "server", "pass", "edit", "3", "--remove-event", "2")

    def run() -> None:
        try:
            edit(first)
            outcome.append(None)
        except BaseException as exc:     # noqa: BLE001  (handed to the test's thread)
            outcome.append(exc)
    with psycopg.connect(open_backend.url(tmp_path / "server"), autocommit=True) as watch:
        with second.tx():
            number = second.add_order("fest", 3, "Pat Pass")["number"]
            worker = threading.Thread(target=run)
            worker.start()
            deadline = time.monotonic() + 20
            while not watch.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
                                    "wait_event_type = 'Lock'").fetchone()[0]:
                assert time.monotonic() < deadline and worker.is_alive(), "the edit never waited for the sale"
                time.sleep(0.02)
        worker.join(20)
    assert not worker.is_alive() and isinstance(outcome[0], Refused) and number in str(outcome[0]), outcome
    assert first.pass_of("fest", 3)["event_ids"] == [1, 2]
