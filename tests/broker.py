"""A real mosquitto for tests and benchmarks: own config, free loopback port, stopped by PID.

    with Mosquitto(tmp_path) as broker:          # anonymous, 127.0.0.1:<free port>
        broker.port
    Mosquitto(tmp_path, password_file=..., acl_file=...)   # authenticated, per-device ACLs
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next((p for p in ("/usr/sbin/mosquitto", "/usr/bin/mosquitto") if os.path.exists(p)), None)


class Mosquitto:
    def __init__(self, folder: str | Path, port: int | None = None, password_file: str | Path | None = None,
                 acl_file: str | Path | None = None, extra_config: str = ""):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.password_file, self.acl_file, self.extra_config = password_file, acl_file, extra_config
        self.proc: subprocess.Popen | None = None
        self.config_path = self.folder / "mosquitto.conf"
        self.log_path = self.folder / "mosquitto.log"

    def write_config(self) -> None:
        lines = [f"listener {self.port} 127.0.0.1", "persistence true", f"persistence_location {self.folder}/",
                 f"log_dest file {self.log_path}", "log_type error", "log_type warning", "log_type notice",
                 "log_type information", "max_queued_messages 100000", "max_inflight_messages 100",
                 "persistent_client_expiration 1d"]
        if os.geteuid() == 0:
            lines.append("user root")   # as root, mosquitto otherwise drops to a user that cannot write the folder
        if self.password_file:
            lines += ["allow_anonymous false", f"password_file {self.password_file}"]
        else:
            lines.append("allow_anonymous true")
        if self.acl_file:
            lines.append(f"acl_file {self.acl_file}")
        if self.extra_config:
            lines.append(self.extra_config)
        self.config_path.write_text("\n".join(lines) + "\n")

    def start(self, timeout: float = 10.0) -> "Mosquitto":
        binary = mosquitto_binary()
        if binary is None:
            raise RuntimeError("mosquitto is not installed: apt-get install --no-install-recommends mosquitto")
        self.write_config()
        self.proc = subprocess.Popen([binary, "-c", str(self.config_path)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.proc.stderr.read().decode(errors='replace')}"
                                   f"{self.log_path.read_text() if self.log_path.exists() else ''}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.port} within {timeout}s")

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

    def __enter__(self) -> "Mosquitto":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
