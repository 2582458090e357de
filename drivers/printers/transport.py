"""Sending a job to a raw TCP printer (port 9100: ESC/POS and ZPL) with status checks before and after.

    result = send_tcp(job, "10.0.0.20", language="escpos")
    if not result: show(result.message)           # never silently lost

Before: connect (refused / unreachable -> clear message) and ask the status (out of paper, cover open ->
not sent). Sending has a deadline (a printer that stops reading mid-job -> not printed). After: the status
again, which a printer answers only once it has read the job: no answer -> reported as not printed.
"""
from __future__ import annotations

import socket
import time

from drivers.printers import status as S
from drivers.printers.model import PrintResult

PORT = 9100


def _read_reply(sock: socket.socket, language: str, deadline: float) -> bytes:
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
        if (language == "escpos" and len(reply) >= S.ESCPOS_REPLY_LEN) or (language == "zpl" and S.zpl_reply_complete(reply)):
            break
    return reply


def query_status(sock: socket.socket, language: str, timeout: float) -> S.PrinterStatus:
    query, parse = (S.ESCPOS_QUERY, S.parse_escpos) if language == "escpos" else (S.ZPL_QUERY, S.parse_zpl)
    sock.settimeout(timeout)
    sock.sendall(query)
    return parse(_read_reply(sock, language, time.monotonic() + timeout))


def send_tcp(job: bytes, host: str, port: int = PORT, language: str = "escpos", timeout: float = 3.0,
             check_status: bool = True) -> PrintResult:
    name = f"{host}:{port}"
    t0 = time.perf_counter()
    done = lambda ok, msg, sent=0: PrintResult(ok, msg, name, sent, (time.perf_counter() - t0) * 1000)  # noqa: E731
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except ConnectionRefusedError:
        return done(False, f"printer {name} refused the connection: is it on, and is this the right address? Not printed.")
    except socket.timeout:
        return done(False, f"printer {name} did not answer (offline, or on another network). Not printed.")
    except OSError as exc:
        return done(False, f"printer {name} unreachable ({exc.strerror or exc}). Not printed.")
    sent = 0
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if check_status:
            before = query_status(sock, language, timeout)
            if not before.ready:
                return done(False, f"printer {name}: {before.message}. Not printed.")
        sock.settimeout(timeout)
        try:
            view = memoryview(job)
            while sent < len(job):
                sent += sock.send(view[sent:sent + 65536])
        except socket.timeout:
            return done(False, f"printer {name} stopped reading mid-job ({sent} of {len(job)} bytes sent). "
                               f"Not printed: check the printer, then print again.", sent)
        if check_status:
            after = query_status(sock, language, timeout)
            if not after.ready:
                return done(False, f"printer {name} after the job: {after.message}. The ticket may not have printed: "
                                   f"check it and print again.", sent)
            return done(True, "printed" + (" (paper running low)" if after.paper_near_end else ""), sent)
        return done(True, "sent (printer status not checked)", sent)
    except (ConnectionResetError, BrokenPipeError) as exc:
        return done(False, f"printer {name} closed the connection mid-job ({exc.strerror or exc}). Not printed.", sent)
    except OSError as exc:
        return done(False, f"printer {name}: {exc.strerror or exc}. Not printed.", sent)
    finally:
        sock.close()
