"""Ledger.savepoint(): inside one transaction, the writes of a block that raises are undone alone and the others are
committed together (the device applies a batch of live messages this way). Real SQLite files."""
from __future__ import annotations

import pytest

from agent.ledger import Ledger


def test_a_failing_part_is_rolled_back_alone_and_the_rest_commits_once(tmp_path):
    ledger = Ledger.open(tmp_path / "l.sqlite")
    try:
        commits = ledger.commits_since_checkpoint
        with ledger.transaction():
            with ledger.savepoint():
                ledger.set_setting("part.a", 1)
            with pytest.raises(ValueError, match="refused"):
                with ledger.savepoint():
                    ledger.set_setting("part.b", 2)
                    assert ledger.remember_message("m-b", 1.0)
                    raise ValueError("refused")
            with ledger.savepoint():
                ledger.set_setting("part.c", 3)
                assert ledger.remember_message("m-b", 1.0), "the refused part's seen id was rolled back too"
        assert ledger.commits_since_checkpoint == commits + 1
    finally:
        ledger.close()
    reopened = Ledger.open(tmp_path / "l.sqlite")
    try:
        assert [reopened.get_setting(k) for k in ("part.a", "part.b", "part.c")] == [1, None, 3]
        assert not reopened.remember_message("m-b", 1.0)
    finally:
        reopened.close()


def test_a_savepoint_outside_a_transaction_is_refused(tmp_path):
    ledger = Ledger.open(tmp_path / "l.sqlite")
    try:
        with pytest.raises(RuntimeError, match="open transaction"):
            with ledger.savepoint():
                ledger.set_setting("alone", 1)
        assert ledger.get_setting("alone") is None
    finally:
        ledger.close()
