"""A mosquitto the demo (or a one-machine set-up) starts and stops itself: own config and folder, a free
loopback port, stopped by PID. Raises `BrokerMissing` with the install command when mosquitto is absent."""
from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from agent.errors import TicketgateError
from agent.private_files import private_dir
from agent.sync.messages import broker_size_limit

INSTALL_HINT = ("mosquitto is not installed. On Debian/Ubuntu: `sudo apt-get install --no-install-recommends mosquitto` "
                "(./dev.sh demo does it for you), or point the demo at a broker with --broker HOST:PORT.")


class BrokerMissing(TicketgateError, RuntimeError):
    pass


_handed_out: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    """The ports the kernel gives outgoing connections (and `bind(0)`)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


class PortTaken(TicketgateError, RuntimeError):
    """mosquitto could not bind its port: another process holds it."""


def free_port() -> int:
    """A loopback port free now, below the kernel's ephemeral range when it leaves room (20000 up): an outgoing
    connection of this or another process cannot take it before the server binds it. Never the same one twice
    in a process. Still a guess across processes: a server binding it retries elsewhere (BrokerProcess)."""
    low = _ephemeral_range()[0]
    candidates = range(20000, low) if low > 21000 else range(0)
    for _ in range(100):
        port = random.choice(candidates) if candidates else 0
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no free loopback port found")


def mosquitto_binary() -> str | None:
    """$TICKETGATE_MOSQUITTO, else mosquitto on PATH or in the usual sbin folders."""
    if os.environ.get("TICKETGATE_MOSQUITTO"):
        path = os.environ["TICKETGATE_MOSQUITTO"]
        return path if os.access(path, os.X_OK) else None
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto") if os.path.exists(p)), None)


class BrokerProcess:
    """mosquitto with its own config and folder on 127.0.0.1; anonymous, or with a password file and an ACL file
    (then `reload()` — SIGHUP — makes it re-read them). Also the tests' broker (tests/broker.py)."""

    def __init__(self, folder: str | Path, port: int | None = None, extra_config: str = "",
                 password_file: str | Path | None = None, acl_file: str | Path | None = None):
        self.folder = Path(folder)
        self._chosen_port = not port
        self.port = port or free_port()
        self.extra_config = extra_config
        self.password_file, self.acl_file = password_file, acl_file
        self.proc: subprocess.Popen | None = None
        self.config_path = self.folder / "mosquitto.conf"
        self.log_path = self.folder / "mosquitto.log"

    def config(self) -> str:
        lines = [f"listener {self.port} 127.0.0.1", "persistence true", f"persistence_location {self.folder}/",
                 f"log_dest file {self.log_path}", "log_type error", "log_type warning", "log_type notice",
                 "log_type information", "max_queued_messages 200000", "max_inflight_messages 100",
                 "persistent_client_expiration 1d", broker_size_limit(),
                 "set_tcp_nodelay true"]      # small answers (acks, desk answers) not held back by Nagle's ~40 ms
        if os.geteuid() == 0:
            lines.append("user root")   # as root, mosquitto otherwise drops to a user that cannot write the folder
        if self.password_file:
            lines += ["allow_anonymous false", f"password_file {self.password_file}"]
        else:
            lines.append("allow_anonymous true")
        if self.acl_file:
            lines.append(f"acl_file {self.acl_file}")
        return "\n".join(lines + [self.extra_config]) + "\n"

    def start(self, timeout: float = 10.0) -> "BrokerProcess":
        """Start mosquitto and wait until it listens. A port chosen here that another process took meanwhile
        ("Address already in use") is replaced by another free port, up to 5 times; a port given stays."""
        for attempt in range(5):
            try:
                return self._start_once(timeout)
            except PortTaken:
                if not self._chosen_port or attempt == 4:
                    raise
                self.port = free_port()
        raise AssertionError("unreachable")

    def _start_once(self, timeout: float) -> BrokerProcess:
        binary = mosquitto_binary()
        if binary is None:
            raise BrokerMissing(INSTALL_HINT)
        private_dir(self.folder)      # its persistence file holds what devices have not fetched yet
        self.config_path.write_text(self.config())
        log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.proc = subprocess.Popen([binary, "-c", str(self.config_path)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self._log_since(log_start)
            if self.proc.poll() is not None:
                err = (self.proc.stderr.read() if self.proc.stderr else b"").decode(errors="replace")
                self.proc = None
                if "Address already in use" in log + err:
                    raise PortTaken(f"port {self.port} is taken")
                raise RuntimeError(f"mosquitto exited: {err}{log[-2000:]}")
            if " running" in log:         # "mosquitto version 2.0.11 running": its listeners are open
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                        return self
                except OSError:
                    pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on port {self.port} within {timeout} s")

    def _log_since(self, offset: int) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def reload(self) -> None:
        """SIGHUP: mosquitto re-reads its password and ACL files."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGHUP)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> "BrokerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
