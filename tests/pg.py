"""A real PostgreSQL for tests and benchmarks: `initdb` in a temporary folder, a free loopback port, the unix
socket inside that folder, a random password (scram), stopped and removed on exit.

    with PostgresServer() as pg:        # Debian's `postgresql` package (binaries found by pg_config or glob)
        url = pg.create_database()      # postgresql://tg:…@127.0.0.1:PORT/tg_1 — a fresh, empty database
        pg.drop_database(url)

initdb and postgres refuse to run as root: as root they run as `nobody` (the folder is handed to it).
`durable=False` (tests) turns fsync off; benchmarks keep PostgreSQL's defaults.
"""
from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from server_stub.sync.broker_process import free_port

USER = "tg"


def postgres_bindir() -> Path | None:
    """Where initdb/postgres live: `pg_config --bindir`, else the newest /usr/lib/postgresql/*/bin."""
    candidates = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
        candidates.append(Path(out))
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                                           key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
                                           reverse=True)]
    return next((c for c in candidates if (c / "initdb").exists() and (c / "postgres").exists()), None)


class PostgresServer:
    def __init__(self, durable: bool = False):
        self.bindir = postgres_bindir()
        if self.bindir is None:
            raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
        self.durable = durable
        self.password = secrets.token_urlsafe(18)
        self.port = 0
        self.folder: Path | None = None
        self.process: subprocess.Popen | None = None
        self._count = 0

    # -- running as an unprivileged user ---------------------------------------------------------------------
    def _as_owner(self, argv: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return argv
        return ["setpriv", f"--reuid={self._uid}", f"--regid={self._gid}", "--clear-groups", "--"] + argv

    def start(self) -> "PostgresServer":
        # as root, directly in /tmp whatever $TMPDIR says: `nobody` must reach it (and a socket path stays short)
        self.folder = Path(tempfile.mkdtemp(prefix="tg-pg-", dir="/tmp" if os.geteuid() == 0 else None))
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            self._uid, self._gid = nobody.pw_uid, nobody.pw_gid
            os.chown(self.folder, self._uid, self._gid)
        os.chmod(self.folder, 0o700)
        pwfile = self.folder / "pw"
        pwfile.write_text(self.password + "\n")
        if os.geteuid() == 0:
            os.chown(pwfile, self._uid, self._gid)
        os.chmod(pwfile, 0o600)
        data = self.folder / "data"
        init = subprocess.run(self._as_owner([str(self.bindir / "initdb"), "-D", str(data), "-U", USER,
                                              f"--pwfile={pwfile}", "--auth=scram-sha-256", "--encoding=UTF8",
                                              "--locale=C.UTF-8", "--no-sync"]),
                              capture_output=True, text=True, timeout=120)
        pwfile.unlink()
        if init.returncode != 0:
            self.stop()
            raise RuntimeError(f"initdb failed: {init.stderr.strip()[-2000:]}")
        self.port = free_port()
        options = ["-c", "listen_addresses=127.0.0.1", "-c", f"port={self.port}",
                   "-c", f"unix_socket_directories={self.folder}", "-c", "max_connections=200",
                   "-c", "shared_buffers=64MB"]
        if not self.durable:
            options += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        self._argv = self._as_owner([str(self.bindir / "postgres"), "-D", str(data), *options])
        self.log = open(self.folder / "postgres.log", "wb")
        self.process = subprocess.Popen(self._argv, stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_ready()
        return self

    def halt(self) -> None:
        """Stop the server ("fast" shutdown: clients are disconnected), keeping its data for `resume`."""
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)        # "fast" shutdown; SIGTERM ("smart") waits for the clients
        self.process.wait(30)

    def resume(self) -> None:
        """Start the halted server again, on the same port with the same data."""
        self.process = subprocess.Popen(self._argv, stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30.0) -> None:
        import psycopg
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                text = (self.folder / "postgres.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"postgres exited: {text}")
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("postgres did not accept connections in time")
                time.sleep(0.1)

    def url(self, database: str) -> str:
        return f"postgresql://{USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def _admin(self, sql: str) -> None:
        import psycopg
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        self._count += 1
        name = f"tg_{os.getpid()}_{self._count}"
        self._admin(f"CREATE DATABASE {name}")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        self._admin(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()          # "smart" shutdown would wait for clients; SIGTERM is "fast"
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None
        if getattr(self, "log", None):
            self.log.close()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __enter__(self) -> "PostgresServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
