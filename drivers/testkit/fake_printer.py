"""A raw TCP printer on 127.0.0.1 that captures every byte and answers status queries like a real one.

Modes: "ok"; "paper_out" (status says out of paper); "stall" (answers the first status query, then never reads
nor answers again: a jammed printer); "close_mid_job" (reads a little then resets). It answers the status query of
its printer language (drivers.printers.registry: "escpos" DLE EOT n, "zpl" ~HS).
"""
from __future__ import annotations

import socket
import threading

from drivers.printers import registry


class FakePrinter:
    def __init__(self, language: str = "escpos", mode: str = "ok", host: str = "127.0.0.1", port: int = 0):
        """`port` 0: any free one; else that port (a printer back on the address it had)."""
        self.language, self.mode = language, mode
        protocol = registry.get(language).status
        if protocol is None:
            raise ValueError(f"{language} printers answer no raw TCP status query")
        self.protocol = protocol
        self.jobs: list[bytes] = []           # one entry per connection: everything received, status queries removed
        self._srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if mode == "stall":
            self._srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self._srv.bind((host, port))
        self._srv.listen(8)
        self._srv.settimeout(0.05)                 # accept() wakes up to notice close()
        self.host, self.port = self._srv.getsockname()[:2]
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._srv.close()
        for c in self._conns:
            c.close()

    @property
    def last_job(self) -> bytes:
        return self.jobs[-1] if self.jobs else b""

    def _reply(self) -> bytes:
        return self.protocol.sample_reply(paper_out=self.mode == "paper_out")

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(None)
            self._conns.append(conn)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        query = self.protocol.query
        data, index = bytearray(), len(self.jobs)
        self.jobs.append(b"")
        conn.settimeout(5)
        try:
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
                if self.mode == "close_mid_job" and len(data) > 64:
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    break
                while query in data:               # answer each complete status query, drop it from the capture
                    at = data.index(query)
                    del data[at:at + len(query)]
                    self.jobs[index] = bytes(data)     # captured before answering: the client may close at once
                    conn.sendall(self._reply())
                    if self.mode == "stall":       # answered the pre-job status, now jammed: never read again
                        self.jobs[index] = bytes(data)
                        self._stop.wait(30)
                        return
                self.jobs[index] = bytes(data)
        except OSError:
            pass
        finally:
            self.jobs[index] = bytes(data)
            conn.close()
