"""A mosquitto the demo (or a one-machine set-up) starts and stops itself: own config and folder, a free
loopback port, stopped by PID. Raises `BrokerMissing` with the install command when mosquitto is absent."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

INSTALL_HINT = ("mosquitto is not installed. On Debian/Ubuntu: `sudo apt-get install --no-install-recommends mosquitto` "
                "(./dev.sh demo does it for you), or point the demo at a broker with --broker HOST:PORT.")


class BrokerMissing(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mosquitto_binary() -> str | None:
    """$TICKETGATE_MOSQUITTO, else mosquitto on PATH or in the usual sbin folders."""
    if os.environ.get("TICKETGATE_MOSQUITTO"):
        path = os.environ["TICKETGATE_MOSQUITTO"]
        return path if os.access(path, os.X_OK) else None
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto") if os.path.exists(p)), None)


class BrokerProcess:
    def __init__(self, folder: str | Path, port: int | None = None, extra_config: str = ""):
        self.folder = Path(folder)
        self.port = port or free_port()
        self.extra_config = extra_config
        self.proc: subprocess.Popen | None = None
        self.log_path = self.folder / "mosquitto.log"

    def config(self) -> str:
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true", "persistence true",
                 f"persistence_location {self.folder}/", f"log_dest file {self.log_path}",
                 "max_queued_messages 200000", "max_inflight_messages 100", "persistent_client_expiration 1d"]
        if os.geteuid() == 0:
            lines.append("user root")
        return "\n".join(lines + [self.extra_config]) + "\n"

    def start(self, timeout: float = 10.0) -> "BrokerProcess":
        binary = mosquitto_binary()
        if binary is None:
            raise BrokerMissing(INSTALL_HINT)
        self.folder.mkdir(parents=True, exist_ok=True)
        conf = self.folder / "mosquitto.conf"
        conf.write_text(self.config())
        self.proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = self.log_path.read_text() if self.log_path.exists() else ""
                raise RuntimeError(f"mosquitto exited: {self.proc.stderr.read().decode(errors='replace')}{log[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on port {self.port} within {timeout} s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def __enter__(self) -> "BrokerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
