"""The broker sessions of `server serve` workers: their presence, and ending the sessions nobody runs any more.

A worker's session is persistent (clean_start False, session expiry up to 7 days) and subscribed to the shared
upload topic: while the worker is away the broker keeps handing it a share of the uploads, queued for its return.
Right for a crash or a restart; wrong when it never returns (a later run with fewer workers): the doors wait 10-60 s
for acks that never come, then send again, and the copies pile up in the broker. So workers n >= 2 keep a retained
presence (`topics.server_worker`: "online" on every connection, "offline" when stopped, by their Last Will when
they die). A `serve` that starts ends the sessions of the worker numbers above its own that no running worker holds,
and while it runs those whose presence has said offline for END_AFTER seconds (stopped for good, or dead and not
back): it connects once with each one's client id and session expiry 0, then leaves (the broker drops that session,
its subscription and its queue). docs/server.md "Fewer workers".
"""
from __future__ import annotations

import json
import logging
import threading
import time
import uuid

from agent.sync import topics
from agent.sync.transport import PahoTransport

log = logging.getLogger("ticketgate.sync.sessions")
END_AFTER = 300.0     # s a worker's presence says offline before a running `serve` ends its session: a restart comes
                      # back well within it, and what the broker queues for it past the doors' longest wait before
                      # sending again (60 s) are copies of what they sent again


def presence(worker: int, state: str) -> bytes:
    return json.dumps({"state": state, "worker": worker, "since": time.time()}).encode()


def will(org: str, worker: int) -> tuple[str, bytes]:
    """The Last Will of worker `worker` (>= 2): its presence says offline when it dies without a goodbye."""
    return topics.server_worker(org, worker), presence(worker, "offline")


def keep_presence(transport: PahoTransport, org: str, worker: int) -> None:
    """Worker `worker` says it runs on every connection (a reconnection follows its Last Will's "offline")."""
    topic = topics.server_worker(org, worker)

    def online(session_present: bool) -> None:
        transport.publish(topic, presence(worker, "online"), retain=True)
    transport.on_connect = online


def say_stopped(transport: PahoTransport, org: str, worker: int) -> None:
    """An orderly stop: the presence says offline (a later run with fewer workers ends this session)."""
    if transport.connected:
        transport.publish(topics.server_worker(org, worker), presence(worker, "offline"), retain=True, wait=2.0)


class Presences:
    """The workers' presences, read on one of this process's own connections (its `on_message` is wrapped: the
    presences never reach the sync server's inbox). Build it after the SyncServer, before its start()."""

    def __init__(self, transport: PahoTransport, org: str):
        self.transport = transport
        self._prefix = topics.server_workers(org)[:-1]
        self._states: dict[int, str] = {}
        self._offline_since: dict[int, float] = {}          # worker -> when its presence turned offline (monotonic)
        self._fences: set[str] = set()
        self._changed = threading.Condition()
        inner = transport.on_message

        def on_message(topic: str, payload: bytes) -> None:
            if topic.startswith(self._prefix):
                self._seen(topic[len(self._prefix):], payload)
            else:
                inner(topic, payload)
        transport.on_message = on_message
        transport.subscribe(topics.server_workers(org))

    def _seen(self, leaf: str, payload: bytes) -> None:
        with self._changed:
            if leaf.isascii() and leaf.isdigit():       # '²' is a digit to isdigit, not to int()
                try:
                    state = json.loads(payload).get("state") if payload else None
                except (ValueError, AttributeError, RecursionError):
                    state = None
                n = int(leaf)
                self._states[n] = str(state or "")
                if state != "offline":
                    self._offline_since.pop(n, None)
                else:
                    self._offline_since.setdefault(n, time.monotonic())
            else:
                self._fences.add(leaf)
            self._changed.notify_all()

    def current(self, timeout: float = 5.0) -> bool:
        """True once every presence retained before now has arrived: a fence published after the subscription, on
        the same connection, comes back after the retained messages that subscription brought."""
        fence = f"fence-{uuid.uuid4().hex}"
        if not self.transport.publish(self._prefix + fence, b""):
            return False
        with self._changed:
            return self._changed.wait_for(lambda: fence in self._fences, timeout)

    def running(self, worker: int) -> bool:
        with self._changed:
            return self._states.get(worker) == "online"

    def offline_for(self, worker: int) -> float:
        """Seconds since this process saw the worker's presence say offline (0 while it runs or says nothing)."""
        with self._changed:
            since = self._offline_since.get(worker)
        return 0.0 if since is None else time.monotonic() - since

    def forget(self, worker: int) -> None:
        """Its session ended: its presence is cleared (retained, empty), so it is not ended again."""
        with self._changed:
            self._states.pop(worker, None)
            self._offline_since.pop(worker, None)
        self.transport.publish(self._prefix + str(int(worker)), b"", retain=True)


def end(transports: dict[int, PahoTransport], timeout: float = 5.0) -> list[int]:
    """Connect each transport (session expiry 0, clean_start False: made so by the caller) and leave at once: the
    broker drops the session of that client id, with its subscription and its queue (what it hands over meanwhile is
    dropped too: the doors send it again). clean_start False only to learn whether there was a session: the workers
    whose session ended, in order; a refused login is logged."""
    refused: dict[int, str] = {}
    had: dict[int, bool] = {}

    def watch(n: int, t: PahoTransport) -> None:
        def on_refused(reason: str) -> None:
            refused.setdefault(n, reason)

        def on_connect(session_present: bool) -> None:
            had.setdefault(n, session_present)
        t.on_refused, t.on_connect = on_refused, on_connect
    for n, t in transports.items():
        watch(n, t)
        t.start()
    deadline = time.monotonic() + timeout
    try:
        for n, t in transports.items():
            while n not in refused and not t.wait_connected(0.05) and time.monotonic() < deadline:
                pass
            if not t.connected:
                log.warning("the broker session of server worker %d was not ended: %s", n,
                            refused.get(n, f"no connection within {timeout:g} s"))
    finally:
        for t in transports.values():
            t.stop()
    return [n for n in transports if had.get(n)]
