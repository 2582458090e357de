"""A rogue "broker" on 127.0.0.1 for the attack tests (no tests here): it answers every MQTT CONNECT with one
refusal CONNACK and hangs up — what anyone on the hotspot can do on the broker's address.

    with RogueBroker(port, code=0x89) as rogue:      # v5 clients get 20 03 00 89 00, v3.1.1 clients 20 02 00 rc
        rogue.connects                                # [(monotonic time, protocol level)], one per CONNECT
"""
from __future__ import annotations

import socket
import threading
import time


def _read_exact(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def read_connect(conn: socket.socket) -> int:
    """Read one CONNECT packet; returns its protocol level (4 = MQTT 3.1.1, 5 = MQTT 5)."""
    header = _read_exact(conn, 1)[0]
    if header >> 4 != 1:
        raise ConnectionError(f"not a CONNECT (packet type {header >> 4})")
    length, shift = 0, 0
    for _ in range(4):
        byte = _read_exact(conn, 1)[0]
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    body = _read_exact(conn, length)
    return body[6]          # 2-byte name length, "MQTT", then the protocol level


def connack(level: int, code: int) -> bytes:
    return bytes([0x20, 3, 0, code, 0]) if level == 5 else bytes([0x20, 2, 0, code])


class RogueBroker:
    def __init__(self, port: int, code: int, host: str = "127.0.0.1"):
        self.code, self.connects = code, []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2.0)
                try:
                    level = read_connect(conn)
                    self.connects.append((time.monotonic(), level))
                    conn.sendall(connack(level, self.code))
                    time.sleep(0.05)             # let the client read it before the hang-up
                except (ConnectionError, OSError):
                    pass

    def wait_connects(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.connects) < count:
            time.sleep(0.02)
        return len(self.connects) >= count

    def __enter__(self) -> "RogueBroker":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(3)
        self.sock.close()
