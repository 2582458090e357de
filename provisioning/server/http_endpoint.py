"""The enrollment endpoint: a small asyncio HTTP/1.1 server in front of EnrollmentService, bounded by design
(docs/security.md):

- one event-loop thread reads every connection; a request must arrive whole (headers and body) within
  `deadline` seconds or it is answered 408 and closed: a slow client holds a socket, never a thread;
- at most `max_connections` open connections, `per_source_connections` per address; more are closed at once;
- headers ≤ 8 KiB, body ≤ 16 KiB (413 before it is read), JSON nested ≤ 32 levels (400): each counts as a
  failure for the throttle, like any refusal;
- only complete requests reach the `workers` threads (the service does SQLite and broker work).

One request per connection (`Connection: close`). Every answer is JSON; the log line names the source, path and
status, never a token, code or password.
"""
from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from agent.errors import TicketgateError
from provisioning.server.enrollment import EnrollmentService, Outcome
from provisioning.throttle import source_of

log = logging.getLogger("ticketgate.provision.http")


def disk_full(exc: BaseException) -> bool:
    """`exc` says the disk (or the user's quota) is full: SQLite's 'database or disk is full', ENOSPC, EDQUOT."""
    import errno
    import sqlite3
    seen: BaseException | None = exc
    for _ in range(8):                  # the exception, then what it was raised during (bounded)
        if seen is None:
            break
        if isinstance(seen, sqlite3.OperationalError) and "disk is full" in str(seen):
            return True
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@dataclass(frozen=True)
class Limits:
    workers: int = 8                  # threads running the service (a box of devices enrolls in parallel)
    deadline: float = 10.0            # seconds for a whole request to arrive, and again for the answer to leave
    max_connections: int = 1024
    per_source_connections: int = 64
    max_header: int = 8 * 1024
    max_body: int = 16 * 1024
    max_depth: int = 32               # JSON nesting: the requests are flat objects


class BadRequest(TicketgateError):
    """A request refused before the service sees it; counted as a failure of its source."""

    def __init__(self, status: int, error: str):
        super().__init__(error)
        self.status, self.error = status, error


def json_depth(raw: bytes, limit: int) -> int:
    """Nesting depth of a JSON text (strings skipped), scanning no deeper than `limit` + 1."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:        # backslash
                escaped = True
            elif byte == 0x22:        # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):    # [ {
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def parse_body(raw: bytes, max_depth: int) -> Any:
    """The request's JSON (None when it is not JSON: the service refuses it); BadRequest when nested too deep."""
    if not raw:
        return {}
    if json_depth(raw, max_depth) > max_depth:
        raise BadRequest(400, f"JSON nested deeper than {max_depth} levels: enrollment requests are flat objects")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        return None


async def read_request(reader: asyncio.StreamReader, limits: Limits) -> tuple[str, str, bytes]:
    """(method, path, body) of one request; BadRequest for what is not a small, complete HTTP/1.x request."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise BadRequest(431, f"request headers larger than {limits.max_header} bytes") from None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[0] not in ("GET", "POST") or not parts[2].startswith("HTTP/1."):
        raise BadRequest(400, "expected GET or POST over HTTP/1.x")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    if parts[0] == "GET":
        return parts[0], parts[1], b""
    length_text = headers.get("content-length", "")
    # ASCII digits only: '²' is a digit to str.isdigit, not to int(); 5,000 of them are over int()'s limit
    if "transfer-encoding" in headers or not (length_text.isascii() and length_text.isdigit() and len(length_text) <= 12):
        raise BadRequest(411, "a POST needs a Content-Length (no chunked bodies)")
    length = int(length_text)
    if length > limits.max_body:
        raise BadRequest(413, f"body larger than {limits.max_body} bytes")
    return parts[0], parts[1], await reader.readexactly(length)


def render(outcome: Outcome) -> bytes:
    data = json.dumps(outcome.body).encode()
    phrase = HTTPStatus(outcome.status).phrase
    headers = {"Content-Type": "application/json", "Content-Length": str(len(data)), "Cache-Control": "no-store",
               "Connection": "close", "Server": "ticketgate-provision/1", **outcome.headers}
    head = f"HTTP/1.1 {outcome.status} {phrase}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return head.encode("latin-1") + b"\r\n" + data


class EnrollmentServer:
    """`with EnrollmentServer(service, "127.0.0.1", 0) as srv: srv.port`"""

    def __init__(self, service: EnrollmentService, host: str = "0.0.0.0", port: int = 0, limits: Limits = Limits()):
        self.service, self.limits = service, limits
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.create_server((host, port), family=family, backlog=128)
        self.host, self.port = host, self.sock.getsockname()[1]
        self.pool = ThreadPoolExecutor(limits.workers, thread_name_prefix="provision-worker")
        self.open: dict[str, int] = {}          # source -> open connections (event-loop thread only)
        self.connections = 0                    # all open connections (written by the event-loop thread only)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle (any thread) -----------------------------------------------------------------------------
    def start(self) -> "EnrollmentServer":
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), name="provision-http", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the enrollment endpoint did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.sock.close()

    def __enter__(self) -> "EnrollmentServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- event loop --------------------------------------------------------------------------------------------
    async def _serve(self) -> None:
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        tasks: set[asyncio.Task] = set()

        async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None          # a client connection is served inside a task
            tasks.add(task)
            try:
                await self._client(reader, writer)
            except asyncio.CancelledError:
                writer.transport.abort()         # stopping: the connection goes with the server
            finally:
                tasks.discard(task)

        server = await asyncio.start_server(on_client, sock=self.sock, limit=self.limits.max_header)
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            server.close()
            for task in list(tasks):
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("?", 0)
        source = source_of(str(peer[0]))
        if self.connections >= self.limits.max_connections or \
                self.open.get(source, 0) >= self.limits.per_source_connections:
            writer.transport.abort()         # no answer: answering would cost what the flood wants to cost us
            return
        self.open[source] = self.open.get(source, 0) + 1
        self.connections += 1
        try:
            outcome, path = await self._answer(reader, str(peer[0]))
            if outcome is not None:
                writer.write(render(outcome))
                await asyncio.wait_for(writer.drain(), self.limits.deadline)
                log.info("%s %s %d", peer[0], path, outcome.status)
                if outcome.status >= 400:
                    await self._linger(reader, writer)
        except (ConnectionError, asyncio.TimeoutError, asyncio.IncompleteReadError):
            pass
        finally:
            self.connections -= 1
            self.open[source] -= 1
            if not self.open[source]:
                del self.open[source]
            if writer.transport.get_write_buffer_size():
                writer.transport.abort()     # the client does not read its answer: drop it, do not wait
            else:
                writer.close()

    async def _linger(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """After an early answer (413…), read what the client is still sending for a moment, so that closing does
        not reset the connection before it has read the answer. Bounded in bytes and time."""
        try:
            writer.write_eof()
            async with asyncio.timeout(1.0):
                for _ in range(16):
                    if not await reader.read(64 * 1024):
                        return
        except (asyncio.TimeoutError, OSError, RuntimeError):    # gone already, or the transport is closing
            pass

    async def _answer(self, reader: asyncio.StreamReader, address: str) -> tuple[Outcome | None, str]:
        try:
            method, path, body = await asyncio.wait_for(read_request(reader, self.limits), self.limits.deadline)
        except asyncio.TimeoutError:
            self.service.throttle.failed(address)
            return Outcome(408, {"error": f"request not complete within {self.limits.deadline:g} s"}), "?"
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                self.service.throttle.failed(address)
            return None, "?"
        except BadRequest as exc:
            self.service.throttle.failed(address)
            return Outcome(exc.status, {"error": exc.error}), "?"
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, self._handle, address, method, path, body), path

    # -- worker threads ----------------------------------------------------------------------------------------
    def _handle(self, source: str, method: str, path: str, body: bytes) -> Outcome:
        if method == "GET":
            return Outcome(200, self.service.info()) if path == "/v1/info" else Outcome(404, {"error": "not found"})
        routes = {"/v1/challenge": lambda req: self.service.challenge(source),
                  "/v1/enroll": lambda req: self.service.enroll(source, req),
                  "/v1/revocation": lambda req: self.service.revocation(source, req)}
        if path not in routes:
            return Outcome(404, {"error": "not found"})
        refused = self.service.throttled(source)
        if refused is not None:
            return refused
        try:
            req = parse_body(body, self.limits.max_depth)
        except BadRequest as exc:
            return self.service.refuse(source, exc.status, exc.error)
        try:
            return routes[path](req)
        except Exception as exc:   # store or broker trouble, or a bug: logged with its traceback; the device retries
            # the disk first: the SQLite store also names a full disk as its outage, and the device must hear what to do
            if disk_full(exc):         # the laptop's disk: one line saying what to do, the device told to wait
                log.warning("enrollment endpoint: %s refused: the disk of the organiser's data is full (%s): free "
                            "space on it; the same code enrolls then", path, exc)
                return Outcome(503, {"error": "the organiser's machine has no disk space left; nothing was used up: "
                                              "free some space there, then try the same code again"})
            unreachable = getattr(getattr(self.service, "store", None), "unreachable", None)
            said = unreachable(exc) if callable(unreachable) else None
            if said is not None:       # a database restarting: one line, and the device is told to wait a little
                log.warning("enrollment endpoint: %s refused: %s", path, said)
                return Outcome(503, {"error": "the organiser's database is unreachable for the moment; nothing was "
                                              "used up: try the same code again in a minute"})
            log.exception("enrollment endpoint: %s failed", path)
            return Outcome(500, {"error": "the server could not finish this request; try again"})
