"""The enrollment endpoint: a stdlib ThreadingHTTPServer in front of EnrollmentService.

Small JSON bodies only (16 KiB); every error is a JSON {"error": ...} with a status code; the log line
names the path and status, never a token, code or password.
"""
from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from provisioning.server.enrollment import EnrollmentService, Outcome

log = logging.getLogger("ticketgate.provision.http")
MAX_BODY = 16 * 1024


class _Handler(BaseHTTPRequestHandler):
    server_version = "ticketgate-provision/1"
    timeout = 10          # a client that stalls mid-request loses its thread after 10 s
    service: EnrollmentService   # set on the subclass made by EnrollmentServer

    def log_message(self, fmt: str, *args) -> None:
        log.info("%s %s", self.address_string(), fmt % args)

    def _send(self, outcome: Outcome) -> None:
        data = json.dumps(outcome.body).encode()
        self.send_response(outcome.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for k, v in outcome.headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/v1/info":
            self._send(Outcome(200, self.service.info()))
        else:
            self._send(Outcome(404, {"error": "not found"}))

    def do_POST(self) -> None:
        source = self.client_address[0]
        try:
            length = int(self.headers.get("Content-Length", "-1"))
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.service.throttle.failed(source)
            self.close_connection = True
            self._send(Outcome(413 if length > MAX_BODY else 411, {"error": "body missing or too large"}))
            return
        raw = self.rfile.read(length)
        try:
            req = json.loads(raw) if raw else {}
        except (UnicodeDecodeError, ValueError):
            req = None
        if self.path == "/v1/challenge":
            self._send(self.service.challenge(source))
        elif self.path == "/v1/revocation":
            self._send(self.service.revocation(source, req))
        elif self.path == "/v1/enroll":
            try:
                self._send(self.service.enroll(source, req))
            except Exception:   # store or broker trouble: the device retries with a new token/challenge
                log.exception("enrollment failed")
                self._send(Outcome(500, {"error": "the server could not finish the enrollment; try again"}))
        else:
            self._send(Outcome(404, {"error": "not found"}))


class EnrollmentServer:
    """`with EnrollmentServer(service, "127.0.0.1", 0) as srv: srv.port`"""

    def __init__(self, service: EnrollmentService, host: str = "0.0.0.0", port: int = 0):
        handler = type("Handler", (_Handler,), {"service": service})
        server_class = type("Server", (ThreadingHTTPServer,), {"request_queue_size": 128})  # a box of devices at once
        self.httpd = server_class((host, port), handler)
        self.httpd.daemon_threads = True
        self.host, self.port = host, self.httpd.server_address[1]
        self._thread: threading.Thread | None = None

    def start(self) -> "EnrollmentServer":
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="provision-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread:
            self._thread.join(5)

    def __enter__(self) -> "EnrollmentServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
