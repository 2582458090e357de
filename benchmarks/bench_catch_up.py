"""Gates back after the broker lost their sessions (mosquitto killed -9 and restarted): what each one downloads and
how long until it holds every entry the other gates made while it was away.

    python benchmarks/bench_catch_up.py [--tickets 200000] [--gates 20] [--before 2000] [--missed 2000]
    python benchmarks/bench_catch_up.py --quick          # 20,000 tickets, 5 gates, 500 + 500 entries

Real parts: one mosquitto, the server store (SQLite) and sync server, gates that are real devices (Gate + DeviceSync,
each with its own SQLite ledger holding every ticket of the event: gate 0 receives the full bundle, the others start
from copies of its folder). Then `--before` entries are made at a scanning gate and relayed to every gate (which keep
the server's action cursor), the gates go offline, the broker is killed (-9) and started again (every session
lost), `--missed` entries are made, and all gates come back at once:

  * per gate: bytes the server sent on its down topic from then on, and the time until its ledger holds every
    missed entry (its catch-up: the version delta and the entries after its cursor);
  * the whole data a gate asked for before (a full bundle, carrying every entry): its size for this event, the
    server's time to build one (it builds one per gate), and gate 0's time to apply one, for comparison.

The ticket count is a fraction of the 1M-ticket festival (building a 1M store takes ~70 s here); the whole data
grows with the tickets (~30 MB per 1M, docs/scaling.md), the catch-up does not (it carries no ticket row when no
ticket changed).
"""
from __future__ import annotations

import argparse
import shutil
import signal
import tempfile
import threading
import time
import uuid
from pathlib import Path

from bench_sync_common import ORG, world
from figures import pct

from agent.sync import topics
from agent.sync.device import DeviceOptions
from agent.sync.transport import BrokerConfig, PahoTransport
from agent.sync.uploader import UploadOptions
from server_stub.sync import bundles
from server_stub.sync.sim_device import SimDevice

OPTIONS = DeviceOptions(upload=UploadOptions(batch_size=500, ack_timeout=1.0, max_backoff=2.0), hello_retry=1.0)


class DownBytes:
    """A listener on every gate's down topic: bytes the server sent to each (manifest, chunks, clock replies, acks)."""

    def __init__(self, port: int):
        self.bytes: dict[str, int] = {}
        self.lock = threading.Lock()
        self.t = PahoTransport(f"watch-{uuid.uuid4().hex[:8]}", BrokerConfig(port=port), clean_start=True)
        self.t.on_message = self._got
        self.t.subscribe(f"tg/{ORG}/dev/+/down")
        subscribed = threading.Event()
        self.t.client.on_subscribe = lambda *_: subscribed.set()
        self.t.start()
        assert subscribed.wait(10), "the byte counter never subscribed"

    def _got(self, topic: str, payload: bytes) -> None:
        parsed = topics.parse(topic)
        if parsed is not None:
            with self.lock:
                self.bytes[parsed.device] = self.bytes.get(parsed.device, 0) + len(payload)


def wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out: {what}")
        time.sleep(0.05)


def remote(gate: SimDevice) -> int:
    return gate.ledger.conn.execute("SELECT count(*) FROM checkins WHERE origin='remote'").fetchone()[0]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tickets", type=int, default=200_000)
    p.add_argument("--gates", type=int, default=20)
    p.add_argument("--before", type=int, default=2000, help="entries relayed to the gates before the crash")
    p.add_argument("--missed", type=int, default=2000, help="entries made while the gates were away")
    p.add_argument("--quick", action="store_true", help="20,000 tickets, 5 gates, 500 + 500 entries")
    args = p.parse_args()
    if args.quick:
        args.tickets, args.gates, args.before, args.missed = 20_000, 5, 500, 500
    names = [f"gate-{i:03d}" for i in range(args.gates)]
    brokers: list = []
    with tempfile.TemporaryDirectory(prefix="bench-catch-up-") as tmp, \
            world(Path(tmp), args.tickets, names + ["scanner"], brokers=brokers) as (store, event, config, servers):
        folder, key = Path(tmp), store.server_public_key(ORG)
        t0 = time.perf_counter()
        first = SimDevice(folder / names[0], ORG, names[0], key, config, [event], options=OPTIONS).go_online()
        wait(lambda: first.ready(args.tickets), 600, "gate 0's full bundle")
        full_apply = time.perf_counter() - t0
        first.close()
        scanner_folder = folder / "scanner"
        for name in names[1:] + ["scanner"]:
            shutil.copytree(folder / names[0], folder / name)
        gates = [SimDevice(folder / n, ORG, n, key, config, [event], options=OPTIONS) for n in names]
        scanner = SimDevice(scanner_folder, ORG, "scanner", key, config, [event], options=OPTIONS)
        for g in gates + [scanner]:
            g.go_online()
        wait(lambda: not any(g.online_sync.catching_up for g in gates + [scanner]), 300, "the copies' first catch-up")
        tickets = [str(t) for (t,) in store.q("SELECT ticket_id FROM tickets ORDER BY ticket_id")]
        payload = store.payload_issuer(ORG)

        def admit(keys: list[str]) -> None:
            for k in keys:
                v = scanner.scan(payload(k))
                assert v.accepted, v
            wait(lambda: scanner.ledger.outbox_size() == 0, 300, "the scanner's uploads")

        admit(tickets[:args.before])
        wait(lambda: all(remote(g) >= args.before for g in gates), 300, "the relays before the crash")
        for g in gates:
            g.go_offline()
        [broker] = brokers
        broker.proc.send_signal(signal.SIGKILL)        # every session lost; the server reconnects by itself
        broker.proc.wait(10)
        broker.start()
        wait(lambda: scanner.online_sync.connected and not scanner.online_sync.catching_up, 120, "the scanner back")
        admit(tickets[args.before:args.before + args.missed])

        counter = DownBytes(config.port)
        everything = args.before + args.missed
        done: dict[str, float] = {}
        cpu0 = time.process_time()
        t_back = time.perf_counter()
        for g in gates:
            g.go_online()
        while len(done) < len(gates) and time.perf_counter() - t_back < 600:
            for g in gates:
                if g.device_id not in done and remote(g) >= everything and not g.online_sync.catching_up:
                    done[g.device_id] = time.perf_counter() - t_back
            time.sleep(0.02)
        cpu = time.process_time() - cpu0
        time.sleep(0.5)
        sent = [counter.bytes.get(n, 0) for n in names]
        lost = [n for n in names if n not in done]
        doubled = sum(g.ledger.conn.execute("SELECT count(*) - count(DISTINCT scan_uuid) FROM checkins")
                      .fetchone()[0] for g in gates)
        t_build = time.perf_counter()
        whole = bundles.build(store, ORG, [event])
        build = time.perf_counter() - t_build
        whole_bytes = sum(len(c) for c in whole.chunks)
        counter.t.stop()
        for g in gates + [scanner]:
            g.close()

    times = sorted(done.values())
    print(f"{args.gates} gates back at once after a broker kill -9, {args.tickets:,} tickets, {args.before:,} entries "
          f"held before, {args.missed:,} missed")
    print(f"  catch-up: bytes sent per gate p50 {pct(sent, 50) / 1000:.1f} kB, max {max(sent) / 1000:.1f} kB; "
          f"every missed entry held: p50 {pct(times, 50):.2f} s, p95 {pct(times, 95):.2f} s, max {times[-1]:.2f} s "
          f"(gates not caught up: {len(lost)}, entries held twice: {doubled}); this process's CPU meanwhile "
          f"{cpu:.1f} s (server, broker client, {args.gates} gates)")
    print(f"  the whole data instead (what a gate asked for before): {whole_bytes / 1e6:.1f} MB in "
          f"{len(whole.chunks)} chunks per gate, built in {build:.1f} s per gate on the server, applied by gate 0 "
          f"in {full_apply:.1f} s (push -> ready); x{args.gates} gates: {whole_bytes * args.gates / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
