"""A large device ledger for the core benchmarks, built once and reused (default /tmp/ticketgate-bench).

Deterministic: the same N always gives the same tickets (names with accents, emails, order numbers).
The signing key is a throw-away benchmark key generated from a fixed seed (never used for real tickets).
"""
from __future__ import annotations

import random
import sys
import time
import unicodedata
from pathlib import Path

import figures  # noqa: E402,F401  (puts this checkout on sys.path)

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from agent.keyring import Keyring  # noqa: E402
from agent.ledger import Ledger  # noqa: E402
from agent.signing import SigningKey  # noqa: E402

BENCH_DIR = Path("/tmp/ticketgate-bench")
FIXTURE_VERSION = 4   # bump when the generated data or the schema changes: the file name changes with it
EVENT_ID = 7
FIRST = ["Hélène", "Zoë", "José", "Ana", "Bjørn", "Émile", "Jürgen", "Noémie", "Łukasz", "Mia", "Omar", "Chloé",
         "François", "Ines", "Søren", "Tomás", "Yasmin", "Ava", "Ren", "Aurélie", "Paul", "Lena", "Kofi", "Nadia"]
LAST = ["Dupont", "Müller", "García", "Nowak", "Rossi", "Dubois", "Jensen", "Silva", "Novák", "Öztürk", "Martin",
        "Lefèvre", "Smith", "Kowalski", "Andersson", "Moreau", "Fernández", "Weiß", "Brown", "Petit", "Nguyen"]


def bench_key() -> SigningKey:
    """Benchmark-only key, derived from a fixed seed so payloads are reproducible."""
    return SigningKey(1, Ed25519PrivateKey.from_private_bytes(bytes(range(32))), organiser="benchmark (test key)")


def keyring() -> Keyring:
    ring = Keyring()
    ring.add(bench_key().trusted())
    return ring


def ascii_(name: str) -> str:
    """How e-mail addresses spell names: Hélène -> helene, Bjørn -> bjrn."""
    return unicodedata.normalize("NFD", name).encode("ascii", "ignore").decode().lower()


def tickets(n: int):
    rnd = random.Random(20261123)
    for i in range(1, n + 1):
        first, last = rnd.choice(FIRST), rnd.choice(LAST)
        order = f"O{(i + 2) // 3:07d}"            # about 3 tickets per order
        yield {"ticket_key": str(i), "event_id": EVENT_ID, "order_number": order,
               "buyer_name": f"{first} {last} {rnd.randrange(1000, 9999)}",   # a varied surname part, like real data
               "email": f"{ascii_(first)}.{ascii_(last)}{i % 9973}@example.org",
               "category": i % 4, "zone": 1 + i % 3, "order_status": "paid" if i % 50 else "pending"}


def ledger_path(n: int) -> Path:
    return BENCH_DIR / f"ledger-v{FIXTURE_VERSION}-{n}.sqlite"


def build(n: int, quiet: bool = False) -> Path:
    """Build the ledger with n tickets unless it already exists (a `.done` marker guards half-built files)."""
    path = ledger_path(n)
    done = path.with_suffix(".done")
    if path.exists() and done.exists():
        return path
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), done):
        p.unlink(missing_ok=True)
    t0 = time.perf_counter()
    ledger = Ledger.open(path)
    ledger.conn.execute("PRAGMA synchronous=OFF")   # bulk load only; scans reopen with synchronous=FULL
    ledger.upsert_events([{"event_id": EVENT_ID, "name": "Benchmark festival",
                           "zones": [{"zone_id": z, "name": f"zone {z}"} for z in (1, 2, 3)]}])
    ledger.upsert_tickets(tickets(n), batch=20000)
    ledger.conn.execute("INSERT INTO tickets_fts(tickets_fts) VALUES ('optimize')")
    ledger.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    ledger.conn.execute("VACUUM")
    ledger.close()
    done.touch()
    if not quiet:
        print(f"built {path} with {n} tickets in {time.perf_counter() - t0:.1f} s")
    return path


if __name__ == "__main__":
    build(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
