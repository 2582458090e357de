"""Ledger benchmark: size at N tickets (default 1,000,000), search latency, cold start of `ticketgate agent scan`.

    python benchmarks/bench_ledger.py                  # 1M tickets (built once into /tmp/ticketgate-bench)
    python benchmarks/bench_ledger.py --tickets 20000  # quick run

Figures, not assertions. "Cold" runs evict the ledger file from the page cache first (posix_fadvise DONTNEED on
our own file only); the interpreter and libraries stay cached as they would on a device after boot.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

from figures import ROOT, pct  # noqa: E402  (puts this checkout on sys.path)
import core_fixture as fx  # noqa: E402

from agent.ledger import Ledger, index_file  # noqa: E402
from agent.ticket_format import Ticket  # noqa: E402

HEAVY = ("kivy", "cv2", "paho", "zeroconf", "PIL", "numpy", "google.protobuf", "segno")




NO_SURNAME = sorted(set("abcdefghijklmnopqrstuvwxyz") - {plain_[0] for plain_ in map(fx.ascii_, fx.LAST)})


def plain(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c)).lower()


def evict(path: Path) -> None:
    for p in (path, Path(f"{path}-wal")):
        if p.exists():
            fd = os.open(p, os.O_RDONLY)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)


def size_report(path: Path) -> None:
    conn = sqlite3.connect(path)
    total = path.stat().st_size
    rows = conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 6").fetchall()
    for files in index_file.index_files(str(path)).values():     # the ticket index file (one when idle)
        index = min(files, key=len)
        total += os.path.getsize(index)
        conn.execute("ATTACH DATABASE ? AS idx", (index,))
        rows = conn.execute("SELECT name, sum(pgsize) FROM dbstat('idx') GROUP BY name ORDER BY 2 DESC LIMIT 6"
                            ).fetchall()
    conn.close()
    print(f"ledger size: {total / 1e6:.1f} MB ({total / 2**20:.1f} MiB); largest parts: "
          + ", ".join(f"{n} {b / 1e6:.1f} MB" for n, b in rows))


def search_report(path: Path, n_tickets: int, n_queries: int) -> None:
    """p50/p99 per query kind; `letter index`: whether the file has FTS5's 1-character prefix index."""
    rnd = random.Random(3)
    sample = {int(t["ticket_key"]): t for t in fx.tickets(min(n_tickets, 50_000))}
    picks = rnd.sample(sorted(sample), n_queries)
    kinds = {
        "first name (accent-free, lower case)": lambda t: plain(t["buyer_name"].split()[0]),
        "first + last name": lambda t: plain(" ".join(t["buyer_name"].split()[:2])),
        "full name as printed": lambda t: t["buyer_name"],
        "typing: first 3 letters of first name": lambda t: plain(t["buyer_name"])[:3],
        "typing: first name + 4 letters of last": lambda t: " ".join([plain(t["buyer_name"]).split()[0],
                                                                     plain(t["buyer_name"]).split()[1][:4]]),
        "email prefix": lambda t: t["email"].split("@")[0],
        "typing: order number prefix (6 chars)": lambda t: t["order_number"][:6],
        "miss: first name + a wrong letter": lambda t: plain(t["buyer_name"]).split()[0] + "x",
        "typing: first name + 1 letter of last": lambda t: " ".join([plain(t["buyer_name"]).split()[0],
                                                                    plain(t["buyer_name"]).split()[1][0]]),
        "typing: email up to 1 letter ('ana.n')": lambda t: t["email"][:t["email"].index(".") + 2],
        "first name + a letter no surname starts with": lambda t: plain(t["buyer_name"]).split()[0] + " "
                                                                + NO_SURNAME[int(t["ticket_key"]) % len(NO_SURNAME)],
        "order number": lambda t: t["order_number"],
        "ticket id": lambda t: t["ticket_key"],
        "one letter (whole word only, by design)": lambda t: plain(t["buyer_name"][0]),
    }
    led = Ledger.open(path)
    print(f"search index: 1-letter prefix index {'yes' if index_file.has_letter_index(led.conn) else 'no'}")
    led.search("warm up")
    all_times = []
    for label, make in kinds.items():
        times, cpu, hits = [], [], 0
        for tid in picks:
            q = make(sample[tid])
            t0, c0 = time.perf_counter(), time.thread_time()
            rows = led.search(q)
            times.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.thread_time() - c0) * 1000)
            hits += any(r["ticket_key"] == str(tid) for r in rows) or len(rows) == 20
        all_times += times
        print(f"search {label:<44} n={len(times)} p50={statistics.median(times):.2f} ms p99={pct(times, 99):.2f} ms "
              f"max={max(times):.2f} ms CPU p99={pct(cpu, 99):.2f} ms (found or a full page: {hits}/{len(times)})")
    print(f"search, all kinds: n={len(all_times)} p50={statistics.median(all_times):.2f} ms "
          f"p99={pct(all_times, 99):.2f} ms")
    led.close()


def cold_start_report(path: Path, runs: int) -> None:
    home = fx.BENCH_DIR / "home"
    home.mkdir(exist_ok=True)
    ledger = home / "ledger.sqlite"
    for p in (ledger, Path(f"{ledger}-wal"), Path(f"{ledger}-shm")):
        p.unlink(missing_ok=True)
    shutil.copyfile(path, ledger)         # a fresh copy: the runs below add check-ins
    fx.keyring().save(home / "keyring.json")
    key = fx.bench_key()
    env = dict(os.environ, PYTHONPATH=str(ROOT), TICKETGATE_HOME=str(home))
    cmd = [sys.executable, "-m", "agent", "agent", "scan", "--json", "--reread-window", "0"]
    walls = {"warm": [], "cold ledger": []}
    for i in range(runs):
        for label in walls:
            if label == "cold ledger":
                evict(ledger)
            payload = key.issue(Ticket(1, fx.EVENT_ID, 900_000 + i * 2 + (label == "warm"), zones=(1,)))
            t0 = time.perf_counter()
            out = subprocess.run(cmd + [payload], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
            walls[label].append(time.perf_counter() - t0)
            assert out.returncode == 0 and json.loads(out.stdout)["verdict"] in ("accepted", "unpaid"), out
    for label, w in walls.items():
        print(f"`ticketgate agent scan PAYLOAD` process wall time, {label}: median {statistics.median(w) * 1000:.0f} ms, "
              f"max {max(w) * 1000:.0f} ms over {len(w)} runs (start, open ledger, verify, durable check-in, exit)")
    prof = subprocess.run([sys.executable, "-X", "importtime"] + cmd[1:] + ["junk"], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=60)
    rows = [re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line) for line in prof.stderr.splitlines()]
    rows = [(int(m.group(2)), len(m.group(3)), m.group(4)) for m in rows if m]
    top = sorted((r for r in rows if r[1] <= 1), reverse=True)[:6]
    total = sum(r[0] for r in rows if r[1] == 1)
    loaded = {r[2] for r in rows}
    heavy = [h for h in HEAVY if any(m == h or m.startswith(h + ".") for m in loaded)]
    print(f"-X importtime: {total / 1000:.0f} ms of imports in total; heaviest top-level: "
          + ", ".join(f"{name} {us / 1000:.0f} ms" for us, _, name in top))
    print(f"heavy modules on the scan path: {heavy or 'none'} (checked: {', '.join(HEAVY)})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tickets", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--ledger", type=Path, help="search this ledger instead of the built one (e.g. an older index)")
    ap.add_argument("--search-only", action="store_true")
    args = ap.parse_args(argv)
    path = args.ledger or fx.build(args.tickets)
    size_report(path)
    search_report(path, args.tickets, args.queries)
    if not args.search_only:
        cold_start_report(path, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
