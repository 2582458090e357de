"""A minimal IPP card printer on 127.0.0.1 for tests: answers Print-Job (RFC 8011) over HTTP and keeps each
document it received (the bytes after the request's attributes), like a badge printer's spooler would.

    with IppPrinter() as printer:           # printer.port, printer.documents: [(mime, bytes)]

`mode="silent"`: it keeps the document, then closes the connection without answering (a card printer that took
the job and rebooted, or jammed).
"""
from __future__ import annotations

import http.server
import struct
import threading

PRINT_JOB, END_OF_ATTRIBUTES = 0x0002, 0x03


def parse_request(body: bytes) -> tuple[int, int, dict[str, str], bytes]:
    """-> (operation, request id, attributes by name as text, the document). ValueError when it is not IPP."""
    if len(body) < 9:
        raise ValueError("IPP request too short")
    _, _, operation, request_id = struct.unpack(">BBHI", body[:8])
    attrs: dict[str, str] = {}
    i = 8
    while i < len(body):
        tag = body[i]
        i += 1
        if tag == END_OF_ATTRIBUTES:
            return operation, request_id, attrs, body[i:]
        if tag < 0x10:                                   # another attribute group begins
            continue
        (nlen,) = struct.unpack(">H", body[i:i + 2])
        name = body[i + 2:i + 2 + nlen].decode()
        i += 2 + nlen
        (vlen,) = struct.unpack(">H", body[i:i + 2])
        attrs[name] = body[i + 2:i + 2 + vlen].decode("utf-8", "replace")
        i += 2 + vlen
    raise ValueError("IPP request without end-of-attributes")


def _response(status: int, request_id: int, job_id: int) -> bytes:
    def attr(tag: int, name: str, value: bytes) -> bytes:
        return struct.pack(">BH", tag, len(name)) + name.encode() + struct.pack(">H", len(value)) + value
    out = struct.pack(">BBHI", 2, 0, status, request_id) + b"\x01"
    out += attr(0x47, "attributes-charset", b"utf-8") + attr(0x48, "attributes-natural-language", b"en")
    if status < 0x0400:
        out += b"\x02" + attr(0x21, "job-id", struct.pack(">i", job_id))
    return out + b"\x03"


class IppPrinter:
    def __init__(self, port: int = 0, mode: str = "ok") -> None:
        self.documents: list[tuple[str, bytes]] = []       # (document-format, bytes) per Print-Job accepted
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    operation, request_id, attrs, document = parse_request(body)
                    ok = operation == PRINT_JOB and bool(document)
                except (ValueError, struct.error):
                    operation, request_id, attrs, document, ok = 0, 0, {}, b"", False
                if ok:
                    outer.documents.append((attrs.get("document-format", ""), document))
                if mode == "silent":
                    self.close_connection = True
                    return
                reply = _response(0x0000 if ok else 0x0400, request_id, len(outer.documents))
                self.send_response(200)
                self.send_header("Content-Type", "application/ipp")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.host, self.port = "127.0.0.1", self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="ipp-printer", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "IppPrinter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
