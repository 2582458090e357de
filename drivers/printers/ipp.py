"""Sending a document to a CUPS / IPP printer: `lp` when CUPS is installed, or IPP Print-Job directly over HTTP
(RFC 8011; what a kiosk without CUPS uses for a card printer that speaks IPP Everywhere), or saved to a folder.

The IPP encoding here is the minimal Print-Job request and the response status/job-id; pure functions are
`print_job_request` and `parse_response`."""
from __future__ import annotations

import http.client
import os
import shutil
import struct
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from drivers.printers.model import PrintResult

PRINT_JOB = 0x0002
_OP_ATTRS, _JOB_ATTRS, _END = 0x01, 0x02, 0x03
_CHARSET, _LANG, _URI, _NAME, _KEYWORD, _MIME, _INT = 0x47, 0x48, 0x45, 0x42, 0x44, 0x49, 0x21
STATUS = {0x0000: "successful-ok", 0x0001: "successful-ok-ignored-or-substituted-attributes",
          0x0400: "client-error-bad-request", 0x0401: "client-error-forbidden", 0x0406: "client-error-not-found",
          0x040A: "client-error-document-format-not-supported", 0x0500: "server-error-internal-error",
          0x0506: "server-error-printer-is-deactivated", 0x0507: "server-error-busy"}


def _attr(tag: int, name: str, value: bytes | str) -> bytes:
    v = value.encode() if isinstance(value, str) else value
    n = name.encode()
    return struct.pack(">BH", tag, len(n)) + n + struct.pack(">H", len(v)) + v


def print_job_request(printer_uri: str, document: bytes, mime: str = "application/pdf", job_name: str = "ticketgate",
                      user: str = "ticketgate", request_id: int = 1, media: str | None = None) -> bytes:
    out = struct.pack(">BBHI", 2, 0, PRINT_JOB, request_id) + bytes([_OP_ATTRS])
    out += _attr(_CHARSET, "attributes-charset", "utf-8") + _attr(_LANG, "attributes-natural-language", "en")
    out += _attr(_URI, "printer-uri", printer_uri) + _attr(_NAME, "requesting-user-name", user)
    out += _attr(_NAME, "job-name", job_name) + _attr(_MIME, "document-format", mime)
    if media:
        out += bytes([_JOB_ATTRS]) + _attr(_KEYWORD, "media", media)
    return out + bytes([_END]) + document


def parse_response(body: bytes) -> tuple[int, dict[str, object]]:
    """(status code, attributes by name: integers decoded, the rest as text)."""
    if len(body) < 9:
        raise ValueError("IPP response too short")
    _, _, status, _ = struct.unpack(">BBHI", body[:8])
    attrs: dict[str, object] = {}
    i, name = 8, ""
    while i < len(body):
        tag = body[i]
        i += 1
        if tag == _END:
            break
        if tag < 0x10:                                 # a group delimiter
            continue
        nlen = struct.unpack(">H", body[i:i + 2])[0]
        name = body[i + 2:i + 2 + nlen].decode() or name
        i += 2 + nlen
        vlen = struct.unpack(">H", body[i:i + 2])[0]
        raw = body[i + 2:i + 2 + vlen]
        i += 2 + vlen
        attrs[name] = struct.unpack(">i", raw)[0] if tag in (_INT, 0x23) and vlen == 4 else raw.decode("utf-8", "replace")
    return status, attrs


def send_ipp(document: bytes, printer_uri: str, mime: str = "application/pdf", timeout: float = 10.0,
             media: str | None = None) -> PrintResult:
    """`printer_uri` like ipp://host:631/ipp/print (sent over HTTP to the same host and path)."""
    t0 = time.perf_counter()
    url = urlsplit(printer_uri.replace("ipp://", "http://", 1).replace("ipps://", "https://", 1))
    conn_cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    if not url.hostname:
        raise ValueError(f"IPP address {printer_uri!r} names no host")
    body = print_job_request(printer_uri, document, mime, media=media)
    conn = conn_cls(url.hostname, url.port or 631, timeout=timeout)
    try:
        conn.request("POST", url.path or "/", body, {"Content-Type": "application/ipp"})
    except ConnectionRefusedError:
        conn.close()
        return PrintResult.done(False, "IPP printer {name} refused the connection (off, or wrong address). Not printed.",
                                printer_uri, name=printer_uri)
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        return PrintResult.done(False, "IPP printer {name} unreachable ({why}). Not printed.", printer_uri,
                                name=printer_uri, why=str(exc))
    try:
        resp = conn.getresponse()
        data = resp.read()
    except (OSError, http.client.HTTPException) as exc:    # it took the whole job: the badge may have come out
        return PrintResult.done(False, "IPP printer {name} took the job but did not answer ({why}). The badge may have "
                                       "printed: check it, then print again.", printer_uri, len(document),
                                (time.perf_counter() - t0) * 1000, name=printer_uri, why=str(exc) or type(exc).__name__)
    finally:
        conn.close()
    if resp.status != 200:
        return PrintResult.done(False, "IPP printer {name} answered HTTP {status}. Not printed.", printer_uri,
                                name=printer_uri, status=resp.status)
    try:
        status, attrs = parse_response(data)
    except (ValueError, struct.error, UnicodeDecodeError):
        return PrintResult.done(False, "IPP printer {name} sent an unreadable answer. Not printed.", printer_uri,
                                name=printer_uri)
    ms = (time.perf_counter() - t0) * 1000
    if status >= 0x0400:
        reason = attrs.get("status-message") or STATUS.get(status, f"status 0x{status:04x}")
        return PrintResult.done(False, "IPP printer {name} refused the job: {why}. Not printed.", printer_uri,
                                len(document), ms, name=printer_uri, why=str(reason))
    return PrintResult.done(True, "queued as job {job}", printer_uri, len(document), ms, job=attrs.get("job-id", "?"))


def send_lp(path: Path, destination: str, media: str = "Custom.85.6x53.98mm", lp: str = "lp",
            timeout: float = 20.0) -> PrintResult:
    """Through the local CUPS (`lp -d DEST -o media=… FILE`)."""
    exe = shutil.which(lp)
    if exe is None:
        return PrintResult.done(False, "CUPS is not installed here ('lp' not found): save the badge or use an IPP "
                                       "address. Not printed.", destination)
    try:
        done = subprocess.run([exe, "-d", destination, "-o", f"media={media}", "-o", "fit-to-page", str(path)],
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return PrintResult.done(False, "CUPS did not answer within {seconds} s. Not printed.", destination,
                                seconds=f"{timeout:.0f}")
    if done.returncode != 0:
        return PrintResult.done(False, "CUPS refused the job: {why}. Not printed.", destination,
                                why=done.stderr.strip() or done.stdout.strip())
    return PrintResult.done(True, done.stdout.strip() or "queued", destination)


MAX_NAMES = 10_000          # badge-X.png … badge-X-10000.png: past that the folder wants emptying


def save_new(folder: Path, stem: str, files: list[tuple[str, bytes]]) -> PrintResult:
    """Write `files` ((suffix, data): '.png', '.pdf') under the first name `stem`, `stem-2`, … none of whose files
    exist in `folder`; never replaces a file (an exclusive link of a complete temporary file: two kiosks saving in
    one shared folder at once each get their own name), 0600 (as e-tickets). -> the last file written, or why not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(1, MAX_NAMES + 1):
            name = stem if n == 1 else f"{stem}-{n}"
            if any((folder / f"{name}{suffix}").exists() for suffix, _ in files):
                continue
            written = _link_all(folder, name, files)
            if written is not None:
                return PrintResult.done(True, "saved {file}", str(written), sum(len(d) for _, d in files),
                                        file=str(written))
    except OSError as exc:
        return PrintResult.done(False, "cannot save {file} in {folder}: {why}. Not saved.", str(folder),
                                file=f"{stem}{files[-1][0]}", folder=str(folder), why=exc.strerror or str(exc))
    return PrintResult.done(False, "cannot save {file} in {folder}: {why}. Not saved.", str(folder),
                            file=f"{stem}{files[-1][0]}", folder=str(folder),
                            why=f"{MAX_NAMES} files of that name already there")


def _link_all(folder: Path, name: str, files: list[tuple[str, bytes]]) -> Path | None:
    """All of `files` under `name`, or none (a name taken meanwhile: the ones linked are taken back, None)."""
    linked: list[Path] = []
    for suffix, data in files:
        target = folder / f"{name}{suffix}"
        tmp = folder / f".{name}{suffix}.{uuid.uuid4().hex}.part"
        # a badge holds the buyer's name and the signed QR that gets its holder in: private from creation (0600)
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
            f.write(data)
        try:
            os.link(tmp, target)            # fails when the name exists: nothing is ever replaced
        except FileExistsError:
            for done in linked:
                done.unlink(missing_ok=True)
            return None
        finally:
            tmp.unlink(missing_ok=True)
        linked.append(target)
    return linked[-1]
