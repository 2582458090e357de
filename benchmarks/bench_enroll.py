"""Provisioning figures: enrollment per device (alone and N at once), discovery, revocation cut-off.

    .venv/bin/python benchmarks/bench_enroll.py [--devices 20] [--single 10] [--revocations 5] [--attack 10]

Real parts only: SqliteStore, mosquitto with our password/ACL files (reloaded by SIGHUP), the HTTP endpoint,
python-zeroconf on loopback, paho clients. "Ready" = enrolled (key pair made, token redeemed, answer checked,
credentials + keyring saved 0600) and logged in to the broker with its own credentials, cmd topic subscribed.
"Under attack": the same, while 400 slowloris connections from 10 loopback addresses hold the endpoint and
10 other addresses flood it with malformed POSTs (docs/security.md).
"""
from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import figures  # noqa: E402,F401  (puts this checkout on sys.path)

from provisioning.device.discover import discover  # noqa: E402
from provisioning.device.enroll import enroll  # noqa: E402
from provisioning.device.link import DeviceLink  # noqa: E402
from provisioning.device.state import DeviceState  # noqa: E402
from provisioning.server.advertiser import Advertiser, service_infos  # noqa: E402
from provisioning.throttle import Throttle  # noqa: E402
from tests.test_provision_env import ORG, provision_env  # noqa: E402


def ready(env, folder: Path, token) -> tuple[float, float, DeviceLink]:
    t0 = time.monotonic()
    state = DeviceState(folder)
    enroll(state, env.server, token=token.token, expected_fingerprint=env.prov.fingerprint)
    t1 = time.monotonic()
    link = DeviceLink(state)
    link.connect(timeout=20)
    return t1 - t0, time.monotonic() - t0, link


def fmt(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]
    return (f"median {statistics.median(values) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
            f"max {values[-1] * 1000:.0f} ms (n={len(values)})")


def bench_single(env, root: Path, n: int) -> None:
    tokens = env.prov.registry.create_tokens(ORG, n, gate="north", events=tuple(env.events))
    enrolled, total = [], []
    for i, t in enumerate(tokens):
        e, r, link = ready(env, root / f"single{i}", t)
        enrolled.append(e), total.append(r)
        link.close()
    print(f"one device at a time   enroll: {fmt(enrolled)}")
    print(f"one device at a time   ready : {fmt(total)}")


def bench_concurrent(env, root: Path, n: int) -> None:
    tokens = env.prov.registry.create_tokens(ORG, n, gate="north", events=tuple(env.events))
    results: dict[int, object] = {}
    start = threading.Barrier(n + 1)

    def go(i):
        start.wait()
        try:
            results[i] = ready(env, root / f"conc{i}", tokens[i])
        except Exception as exc:
            results[i] = exc
    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    [t.start() for t in threads]
    start.wait()
    t0 = time.monotonic()
    [t.join(120) for t in threads]
    wall = time.monotonic() - t0
    failures = [r for r in results.values() if isinstance(r, Exception)]
    ok = [r for r in results.values() if not isinstance(r, Exception)]
    print(f"{n} devices at once      all ready in {wall:.2f} s wall; failures: {len(failures)} {failures[:2]}")
    print(f"{n} devices at once      per-device enroll: {fmt([r[0] for r in ok])}")
    print(f"{n} devices at once      per-device ready : {fmt([r[1] for r in ok])}")
    for r in ok:
        r[2].close()


def bench_discovery(runs: int) -> None:
    times = []
    for _ in range(runs):
        org = f"bench-{secrets.token_hex(3)}"
        infos = service_infos(f"tg-bench-{secrets.token_hex(3)}", ["127.0.0.1"], 8787, 1883, org, "ABCD:EF01:2345:6789")
        with Advertiser(infos, interfaces=["127.0.0.1"]):
            t0 = time.monotonic()
            found = discover(10, org=org, interfaces=["127.0.0.1"], first=True)
            times.append(time.monotonic() - t0)
            assert found, "discovery failed"
    print(f"zeroconf discovery (loopback, browse+resolve, first answer): {fmt(times)}")


def bench_revocation(env, root: Path, runs: int, signed_wipe: bool = True) -> None:
    """signed_wipe False: the device never gets the wipe command (not listening); the broker cut alone,
    then paho's automatic reconnect is refused and the device fetches the signed wipe from the endpoint."""
    tokens = env.prov.registry.create_tokens(ORG, runs, gate="north", events=tuple(env.events))
    sign = env.prov.admin.sign
    env.prov.admin.sign = sign if signed_wipe else None
    cut, wiped, total = [], [], []
    for i in range(runs):
        _, _, link = ready(env, root / f"rev{i}", tokens[i])
        gone = threading.Event()
        link.client.on_disconnect = lambda *a: gone.set()
        t0 = time.monotonic()
        env.prov.revoke(link.creds.device_id)
        total.append(time.monotonic() - t0)
        gone.wait(5)
        cut.append(time.monotonic() - t0 if gone.is_set() else float("inf"))
        deadline = time.monotonic() + 10
        while link.wiped is None and time.monotonic() < deadline:
            time.sleep(0.002)
        wiped.append(time.monotonic() - t0 if link.wiped is not None else float("inf"))
        link.close()
    env.prov.admin.sign = sign
    how = "signed wipe on its cmd topic" if signed_wipe else "no wipe command: refused reconnect, signed wipe from the endpoint"
    print(f"revocation [{how}]: revoke() returns (reload, take-over, removed): {fmt(total)}")
    print(f"revocation [{how}]: live session dropped after                  : {fmt(cut)}")
    print(f"revocation [{how}]: device wiped after                          : {fmt(wiped)}")


def bench_under_attack(env, root: Path, n: int) -> None:
    import http.client
    import socket
    tokens = env.prov.registry.create_tokens(ORG, n, gate="north", events=tuple(env.events))
    threads_before = threading.active_count()
    slow = []
    for i in range(400):
        s = socket.socket()
        s.bind((f"127.0.0.{2 + i % 10}", 0))
        s.connect(("127.0.0.1", env.http.port))
        s.sendall(b"P")
        slow.append(s)
    stop, flooded = threading.Event(), [0]

    def flood(source: str) -> None:
        while not stop.is_set():
            conn = http.client.HTTPConnection("127.0.0.1", env.http.port, timeout=5, source_address=(source, 0))
            try:
                conn.request("POST", "/v1/enroll", b"[" * 8000)
                conn.getresponse().read()
                flooded[0] += 1
            except OSError:
                pass
            finally:
                conn.close()
    flooders = [threading.Thread(target=flood, args=(f"127.0.0.{20 + i}",), daemon=True) for i in range(10)]
    [t.start() for t in flooders]
    time.sleep(0.5)
    t_start = time.monotonic()
    enrolled, total, peak = [], [], 0
    for i, t in enumerate(tokens):
        e, r, link = ready(env, root / f"attacked{i}", t)
        enrolled.append(e), total.append(r)
        peak = max(peak, threading.active_count() - threads_before - len(flooders))
        link.close()
    elapsed = time.monotonic() - t_start
    stop.set()
    [t.join(10) for t in flooders]
    for s in slow:
        s.close()
    print(f"under attack (400 slow clients, 10 flooding sources: {flooded[0] / elapsed:.0f} malformed POSTs/s)")
    print(f"under attack           enroll: {fmt(enrolled)}")
    print(f"under attack           ready : {fmt(total)}; endpoint threads at most {peak}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=20)
    ap.add_argument("--single", type=int, default=10)
    ap.add_argument("--revocations", type=int, default=5)
    ap.add_argument("--discovery", type=int, default=5)
    ap.add_argument("--attack", type=int, default=10, help="devices enrolled one by one under a flood (0: skip)")
    ap.add_argument("--tls", action="store_true", help="devices log in over the TLS listener (event CA)")
    a = ap.parse_args()
    print(f"broker listener: {'TLS' if a.tls else 'plain TCP'}; all on 127.0.0.1")
    with tempfile.TemporaryDirectory(prefix="tg-bench-enroll-") as tmp:
        root = Path(tmp)
        with provision_env(root / "env", throttle=Throttle(per_source=1000, code_limit=10000),
                           tls=a.tls) as env:
            bench_single(env, root, a.single)
            bench_concurrent(env, root, a.devices)
            bench_revocation(env, root, a.revocations)
            bench_revocation(env, root, a.revocations, signed_wipe=False)
        if a.attack:
            with provision_env(root / "attacked", tls=a.tls) as env:     # the default throttle, as in the field
                bench_under_attack(env, root, a.attack)
        if a.discovery:
            bench_discovery(a.discovery)
    return 0


if __name__ == "__main__":
    sys.exit(main())
