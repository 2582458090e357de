"""The root of every exception ticketgate defines.

`except TicketgateError` catches what the project raises on purpose — a refusal, bad input, a damaged file —
whose message is meant for a person. Anything else (KeyError, AttributeError, TypeError… from our own code) is a
bug or an outside failure: it is not turned into "refused" or "malformed", it reaches the log with its
traceback. Each class keeps its builtin base too (`Rejected` is still a ValueError), so existing callers work.
"""
from __future__ import annotations


class TicketgateError(Exception):
    """Base of every exception class of ticketgate (tests/test_errors.py keeps it so)."""


class InvalidInput(TicketgateError, ValueError):
    """Input from a person or a file that cannot be used as it is; str(exc) says why."""
