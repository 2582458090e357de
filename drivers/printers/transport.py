"""Sending a job to a raw TCP printer (port 9100: ESC/POS and ZPL) with status checks before and after.

    result = send_tcp(job, "10.0.0.20", language="escpos")
    if not result: show(result.message)           # never silently lost

Before: connect (refused / unreachable -> clear message) and ask the status (out of paper, cover open ->
not sent). Sending has a deadline (a printer that stops reading mid-job -> not printed). After: the status
again, which a printer answers only once it has read the job: no answer -> reported as not printed; a printer
that says it still holds the job (a Zebra's labels in its buffer) is asked again until it has printed them, so a
roll that ends on the last label is reported, not taken as printed.
"""
from __future__ import annotations

import socket
import time

from drivers.printers import status as S
from drivers.printers.model import PrintResult

PORT = 9100


def _status_protocol(status: S.StatusProtocol | str) -> S.StatusProtocol:
    if isinstance(status, S.StatusProtocol):
        return status
    from drivers.printers import registry
    protocol = registry.get(status).status
    if protocol is None:
        raise ValueError(f"printer language {status!r} has no raw TCP status query")
    return protocol


def _read_reply(sock: socket.socket, protocol: S.StatusProtocol, deadline: float) -> bytes:
    reply = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        try:
            chunk = sock.recv(256)
        except socket.timeout:
            break
        if not chunk:
            break
        reply += chunk
        if protocol.complete(reply):
            break
    return reply


def query_status(sock: socket.socket, protocol: S.StatusProtocol, timeout: float) -> S.PrinterStatus:
    sock.settimeout(timeout)
    sock.sendall(protocol.query)
    return protocol.parse(_read_reply(sock, protocol, time.monotonic() + timeout))


PRINTING_SECONDS = 15.0          # how long a printer still holding the job (busy) is asked again before "printed"
POLL_SECONDS = 0.2


def _after_the_job(sock: socket.socket, protocol: S.StatusProtocol, timeout: float,
                   printing: float = PRINTING_SECONDS) -> S.PrinterStatus:
    """The status once the printer has printed what it holds: a Zebra answers at once with the label still in its
    buffer, so a roll that ends on that label is seen only by asking again until the buffer is empty (within
    `printing` seconds; still busy then, it is printing: taken as printed, as a printer without a count is)."""
    status = query_status(sock, protocol, timeout)
    deadline = time.monotonic() + printing
    while status.ready and status.busy and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        status = query_status(sock, protocol, timeout)
    return status


def send_tcp(job: bytes, host: str, port: int = PORT, language: S.StatusProtocol | str = "escpos", timeout: float = 3.0,
             check_status: bool = True) -> PrintResult:
    """`language`: a registered printer language name (its status protocol is used) or a StatusProtocol."""
    protocol = _status_protocol(language) if check_status else None
    name = f"{host}:{port}"
    t0 = time.perf_counter()

    def done(ok: bool, template: str, bytes_sent: int = 0, **params: object) -> PrintResult:
        return PrintResult.done(ok, template, name, bytes_sent, (time.perf_counter() - t0) * 1000, name=name, **params)
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except ConnectionRefusedError:
        return done(False, "printer {name} refused the connection: is it on, and is this the right address? Not printed.")
    except socket.timeout:
        return done(False, "printer {name} did not answer (offline, or on another network). Not printed.")
    except OSError as exc:
        return done(False, "printer {name} unreachable ({why}). Not printed.", why=exc.strerror or str(exc))
    sent = 0
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if protocol is not None:
            before = query_status(sock, protocol, timeout)
            if not before.ready:
                return done(False, "printer {name}: {status}. Not printed.", status=before.message)
        sock.settimeout(timeout)
        try:
            view = memoryview(job)
            while sent < len(job):
                sent += sock.send(view[sent:sent + 65536])
        except socket.timeout:
            return done(False, "printer {name} stopped reading mid-job ({sent} of {total} bytes sent). Not printed: "
                               "check the printer, then print again.", sent, sent=sent, total=len(job))
        if protocol is not None:
            after = _after_the_job(sock, protocol, timeout)
            if not after.ready:
                return done(False, "printer {name} after the job: {status}. The ticket may not have printed: check it "
                                   "and print again.", sent, status=after.message)
            return done(True, "printed (paper running low)" if after.paper_near_end else "printed", sent)
        return done(True, "sent (printer status not checked)", sent)
    except (ConnectionResetError, BrokenPipeError) as exc:
        return done(False, "printer {name} closed the connection mid-job ({why}). Not printed.", sent,
                    why=exc.strerror or str(exc))
    except OSError as exc:
        return done(False, "printer {name}: {why}. Not printed.", sent, why=exc.strerror or str(exc))
    finally:
        sock.close()
