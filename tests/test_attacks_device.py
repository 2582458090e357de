"""Attacks on the device core (issue 10 §3–§8, device side): one test per attack, named after it.

Each drives the real parts: real SQLite files, the `ticketgate` command in subprocesses where a user would,
real mosquitto where the sync is involved. docs/security.md lists them with their outcome."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from agent.keyring import Keyring
from agent.ledger import Ledger
from tests.test_core_support import issue, test_key

ROOT = Path(__file__).resolve().parent.parent
KEY = test_key()
FAR = 2**32 - 1


def ticketgate(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent", *args], cwd=ROOT, input=stdin, capture_output=True,
                          text=True, timeout=60)


def make_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    ring = Keyring()
    ring.add(KEY.trusted())
    ring.save(tmp_path / "ring.json")
    assert ticketgate("agent", "--home", str(home), "trust", str(tmp_path / "ring.json")).returncode == 0
    return home


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- §5 a damaged ledger is refused and left untouched ------------------------------------------------------------
def test_attack_zero_byte_ledger(tmp_path):
    home = make_home(tmp_path)
    ticket = issue(KEY, 11, valid_until=FAR)
    first = ticketgate("agent", "--home", str(home), "scan", "--json", ticket)
    assert json.loads(first.stdout)["verdict"] == "accepted"
    ledger = home / "ledger.sqlite"
    before = sorted(p.name for p in home.iterdir())          # the keyring, the ledger and its ticket index file
    assert before == ["keyring.json", "ledger.sqlite", "ledger.sqlite.index-1.db"]
    ledger.write_bytes(b"")                                  # `: > ledger.sqlite`
    status = ticketgate("agent", "--home", str(home), "status")
    assert status.returncode != 0 and "ledger.sqlite is empty (0 bytes)" in status.stderr and "untouched" in status.stderr
    again = ticketgate("agent", "--home", str(home), "scan", "--json", ticket)
    assert again.returncode != 0 and again.stdout == ""       # no verdict at all, certainly not `accepted`
    assert ledger.stat().st_size == 0 and sorted(p.name for p in home.iterdir()) == before


def test_attack_zero_byte_ledger_with_wal(tmp_path):
    """The main file truncated while its WAL still holds unsynced check-ins: both are left exactly as they are."""
    home = make_home(tmp_path)
    live = Ledger.open(home / "ledger.sqlite")               # the app, running: its check-ins sit in the WAL
    live.record("11", _entry("scan-1"), outbox={"type": "action", "scan_uuid": "scan-1"})
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(home / "keyring.json", copy)
    shutil.copy(home / "ledger.sqlite-wal", copy)
    (copy / "ledger.sqlite").write_bytes(b"")
    live.close()
    wal = digest(copy / "ledger.sqlite-wal")
    status = ticketgate("agent", "--home", str(copy), "status", "--json")
    assert status.returncode != 0 and "empty" in status.stderr and status.stdout == ""
    assert (copy / "ledger.sqlite").stat().st_size == 0 and digest(copy / "ledger.sqlite-wal") == wal
    (copy / "ledger.sqlite").unlink()                        # a WAL without its database: refused too
    status = ticketgate("agent", "--home", str(copy), "status")
    assert status.returncode != 0 and "ledger.sqlite-wal is there" in status.stderr
    assert not (copy / "ledger.sqlite").exists() and digest(copy / "ledger.sqlite-wal") == wal


# -- §7 private files private from creation -----------------------------------------------------------------------
def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_attack_private_files_modes(tmp_path):
    old = os.umask(0o022)                                    # a usual desktop umask: others may read by default
    try:
        home = make_home(tmp_path)
        ticket = issue(KEY, 11, valid_until=FAR)
        assert ticketgate("agent", "--home", str(home), "scan", ticket).returncode == 0
        live = Ledger.open(home / "ledger.sqlite")           # running: -wal and -shm exist
        live.record("12", _entry("scan-2"))
        files = [home / n for n in ("ledger.sqlite", "ledger.sqlite-wal", "ledger.sqlite-shm", "keyring.json")]
        assert {f.name: oct(_mode(f)) for f in files} == {f.name: "0o600" for f in files}
        assert _mode(home) == 0o700
        live.close()
        data = tmp_path / "server"                           # the server store: every buyer's name and e-mail
        init = ticketgate("server", "--data", str(data), "init", "--org", "fest", "--name", "Fest")
        assert init.returncode == 0, init.stderr
        from server_stub.store import open_store
        store = open_store(data)
        server_files = [data / n for n in ("server.sqlite", "server.sqlite-wal", "server.sqlite-shm")]
        assert {f.name: oct(_mode(f)) for f in server_files} == {f.name: "0o600" for f in server_files}
        store.close()
        legacy = tmp_path / "legacy"                          # a ledger an older version left 0644: tightened
        shutil.copytree(home, legacy)
        os.chmod(legacy / "ledger.sqlite", 0o644)
        assert ticketgate("agent", "--home", str(legacy), "status").returncode == 0
        assert _mode(legacy / "ledger.sqlite") == 0o600
    finally:
        os.umask(old)


def _entry(scan_uuid: str, at: float = 1000.0, **kw):
    from agent.history import Action
    return Action(scan_uuid=scan_uuid, kind="entry", at=at, device_id="device", gate="gate", event_id=1,
                  direction="in", **kw)


# -- §3 §4 clocks: actions on server time, a clock step after syncing ----------------------------------------------
def _synced_device(tmp_path, broker, clock, tickets: int = 3, options=None):
    from agent.sync.transport import BrokerConfig
    from server_stub.sync.sim_device import SimDevice
    from tests.helpers import wait_for
    from tests.sync_fixtures import FAST, ORG, make_store, start_server
    store, event, orders = make_store(tmp_path / "server", tickets=tickets, devices=("gate-a",))
    server = start_server(store, broker.port)
    door = SimDevice(tmp_path / "door", ORG, "gate-a", store.server_public_key(ORG), BrokerConfig(port=broker.port),
                     [event], options=options or FAST, clock=clock).go_online()
    assert wait_for(lambda: door.ready(tickets) and door.ledger.get_setting("clock_offset") is not None)
    return store, server, door, orders


def _verdicts_after_reset(tmp_path, broker, skew: float) -> tuple[list[str], int]:
    import time
    from tests.helpers import wait_for
    store, server, door, orders = _synced_device(tmp_path, broker, lambda: time.time() + skew)
    try:
        key = orders[0]["tickets"][0]["ticket_key"]
        payload = store.issue_ticket_payload(key)
        assert door.scan(payload).accepted
        assert wait_for(lambda: door.ledger.outbox_size() == 0)
        store.reset_ticket(key, "let her in again")
        assert wait_for(lambda: any(a.kind == "reset" for a in door.ledger.actions(key)))
        codes = [door.scan(payload).code.value for _ in range(3)]
        assert wait_for(lambda: door.ledger.outbox_size() == 0)
        stored = store.q("SELECT count(*) FROM scans WHERE kind='entry' AND ticket_key=?", (key,))[0][0]
        assert store.conflicts("demo") == []
        return codes, stored
    finally:
        door.close()
        server.stop()
        store.close()


def test_attack_reset_with_slow_clock(tmp_path, broker):
    """Device clock 30 s slow: after the organiser's reset the gate admits once, then says already used."""
    codes, stored = _verdicts_after_reset(tmp_path, broker, skew=-30.0)
    assert codes == ["accepted", "already_used", "already_used"] and stored == 2


def test_attack_reset_with_fast_clock(tmp_path, broker):
    """Device clock 1 h fast: the reset takes effect (the ticket is admitted once more)."""
    codes, stored = _verdicts_after_reset(tmp_path, broker, skew=3600.0)
    assert codes == ["accepted", "already_used", "already_used"] and stored == 2


def test_attack_reset_after_entry_relayed_from_a_fast_gate(tmp_path, broker):
    """Gate B's clock is 1 h fast; its entry reaches gate A through the server; the organiser resets the ticket:
    gate A admits it once more (the relayed entry is placed on server time, before the reset)."""
    import time
    from agent.sync.transport import BrokerConfig
    from server_stub.sync.sim_device import SimDevice
    from tests.helpers import wait_for
    from tests.sync_fixtures import FAST, ORG, make_store, start_server
    store, event, orders = make_store(tmp_path / "server", tickets=2, devices=("gate-a", "gate-b"))
    server = start_server(store, broker.port)
    key_pub = store.server_public_key(ORG)
    a = SimDevice(tmp_path / "a", ORG, "gate-a", key_pub, BrokerConfig(port=broker.port), [event], options=FAST).go_online()
    b = SimDevice(tmp_path / "b", ORG, "gate-b", key_pub, BrokerConfig(port=broker.port), [event], options=FAST,
                  clock=lambda: time.time() + 3600).go_online()
    try:
        assert wait_for(lambda: a.ready(2) and b.ready(2) and b.ledger.get_setting("clock_offset") is not None)
        key = orders[0]["tickets"][0]["ticket_key"]
        payload = store.issue_ticket_payload(key)
        assert b.scan(payload).accepted
        assert wait_for(lambda: a.ledger.history(key).entries)            # relayed to gate A
        store.reset_ticket(key, "let her in again")
        assert wait_for(lambda: any(x.kind == "reset" for x in a.ledger.actions(key)))
        assert [a.scan(payload).code.value for _ in range(2)] == ["accepted", "already_used"]
    finally:
        a.close()
        b.close()
        server.stop()
        store.close()


def test_attack_clock_step_after_sync(tmp_path, broker):
    """Booted 3 days behind, synced, then the clock corrected while connected: tonight's tickets stay valid,
    a refund's revocation and the server's acks are accepted, the outbox drains, scans land on server time."""
    import time
    from tests.helpers import wait_for
    skew = {"s": -3 * 86400.0}
    store, server, door, orders = _synced_device(tmp_path, broker, lambda: time.time() + skew["s"], tickets=3)
    try:
        assert abs(door.ledger.get_setting("clock_offset") - 3 * 86400.0) < 2
        skew["s"] = 0.0                                            # NTP steps the clock while connected
        verdict = door.scan(store.issue_ticket_payload(orders[0]["tickets"][0]["ticket_key"]))
        assert verdict.accepted, verdict
        assert wait_for(lambda: door.ledger.outbox_size() == 0), door.sync.rejections
        at, offset = store.q("SELECT at, clock_offset FROM scans WHERE device_id='gate-a' AND type='action'")[0]
        assert abs(at + offset - time.time()) < 5 and abs(offset) < 5
        store.refund_order(orders[1]["number"], "refunded")
        assert wait_for(lambda: door.ledger.history(orders[1]["tickets"][0]["ticket_key"]).revoked), door.sync.rejections
        assert wait_for(lambda: abs(door.ledger.get_setting("clock_offset")) < 2)     # measured again after the step
        assert not [r for r in door.sync.rejections if "stale" in r[1]] and door.sync.stats["late"] == 0
    finally:
        door.close()
        server.stop()
        store.close()


def test_offset_is_measured_again_while_connected(tmp_path, broker):
    """Without reconnecting, the sync asks the server's time again every `remeasure` seconds."""
    import time
    from dataclasses import replace
    from tests.helpers import wait_for
    from tests.sync_fixtures import FAST
    store, server, door, orders = _synced_device(tmp_path, broker, time.time, options=replace(FAST, remeasure=0.5))
    try:
        first = door.ledger.clock_estimate().server_at
        assert wait_for(lambda: door.ledger.clock_estimate().server_at > first + 1.0, timeout=10)
        assert server.stats["hellos"] >= 3
    finally:
        door.close()
        server.stop()
        store.close()


# -- §6 two scanner processes on one device home -------------------------------------------------------------------
def test_attack_two_scanner_processes(tmp_path):
    """Two `agent scan` processes on one home, fed the same tickets in lockstep: each ticket admitted once."""
    home = make_home(tmp_path)
    assert ticketgate("agent", "--home", str(home), "configure", "--reread-window", "0").returncode == 0
    procs = [subprocess.Popen([sys.executable, "-m", "agent", "agent", "--home", str(home), "scan", "--json"], cwd=ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1) for _ in range(2)]
    tickets = [issue(KEY, 1000 + i, valid_until=FAR) for i in range(150)]
    verdicts: dict[str, list[str]] = {}
    try:
        for t in tickets:
            for p in procs:
                p.stdin.write(t + "\n")
                p.stdin.flush()
            for p in procs:
                line = p.stdout.readline()
                assert line, "a scanner process stopped"
                v = json.loads(line)
                verdicts.setdefault(v["ticket"], []).append(v["verdict"])
    finally:
        for p in procs:
            p.stdin.close()
            p.wait(timeout=30)
    assert len(verdicts) == len(tickets)
    twice = [k for k, v in verdicts.items() if v.count("accepted") > 1]
    assert twice == [] and all(sorted(v) == ["accepted", "already_used"] for v in verdicts.values())
    ledger = Ledger.open(home / "ledger.sqlite")
    try:
        actions = [b for _, kind, b in ledger.outbox_pending(1000) if kind == "action"]
        assert ledger.counts()["checkins"] == len(tickets) and len(actions) == len(tickets)
        seqs = [s for (s,) in ledger.conn.execute("SELECT device_seq FROM checkins WHERE origin='local' ORDER BY seq")]
        assert seqs == list(range(1, len(tickets) + 1))        # one device sequence, no number used twice
    finally:
        ledger.close()


# -- §8 replay of a signed live message after a restart ------------------------------------------------------------
def test_attack_replay_after_restart(tmp_path, broker):
    """Block, unblock (captured), block again; the device restarts while the server is offline; the captured
    unblock replayed on the live topic is refused and the ticket stays blocked."""
    import time
    from agent.sync import topics
    from agent.sync.transport import BrokerConfig, PahoTransport
    from server_stub.sync.sim_device import SimDevice
    from tests.helpers import wait_for
    from tests.sync_fixtures import FAST, ORG, subscribed
    store, server, door, orders = _synced_device(tmp_path, broker, time.time)
    key = orders[0]["tickets"][0]["ticket_key"]
    event = door.events[0]
    captured: list[bytes] = []
    sniffer = PahoTransport("sniffer", BrokerConfig(port=broker.port), clean_start=True)
    sniffer.on_message = lambda topic, payload: captured.append(payload)
    sniffer.subscribe(topics.live(ORG, event))
    acked = subscribed(sniffer)        # connected is not subscribed: what is sent before is lost
    sniffer.start()
    try:
        assert acked.wait(10)
        store.block_ticket(key, "reported stolen")
        assert wait_for(lambda: door.ledger.history(key).blocked)
        store.unblock_ticket(key)
        assert wait_for(lambda: door.ledger.history(key).blocked is None)
        unblock = [p for p in captured if b"unblocked" in p and key.encode() in p]
        assert unblock, "the unblock was seen on the live topic"
        store.block_ticket(key, "stolen after all")
        assert wait_for(lambda: door.ledger.history(key).blocked)
        server.stop()                                             # the organiser's server goes offline
        trusted = door.keyring.keys                               # (a real device keeps keyring.json)
        door.close()
        door = SimDevice(tmp_path / "door", ORG, "gate-a", store.server_public_key(ORG), BrokerConfig(port=broker.port),
                         [event], options=FAST).go_online()       # the device restarts
        door.keyring.keys = trusted
        assert wait_for(lambda: door.sync.transport.connected)
        time.sleep(0.3)
        assert sniffer.publish(topics.live(ORG, event), unblock[-1], wait=5)
        assert wait_for(lambda: any("replayed" in reason for _, reason in door.sync.rejections))
        assert door.ledger.history(key).blocked == "stolen after all"
        assert door.scan(store.issue_ticket_payload(key)).code.value == "blocked"
    finally:
        sniffer.stop()
        door.close()
        store.close()


def test_attack_stale_message_before_first_clock_reply(tmp_path, broker):
    """A signed unblock from an hour ago the device never saw, sent after a restart while the server is offline
    (no clock reply yet): judged on the stored server-time estimate, not applied (counted as a late update)."""
    import time
    import uuid
    from agent.sync import topics
    from agent.sync.signed import seal
    from agent.sync.transport import BrokerConfig, PahoTransport
    from server_stub.sync.sim_device import SimDevice
    from tests.helpers import wait_for
    from tests.sync_fixtures import FAST, ORG
    store, server, door, orders = _synced_device(tmp_path, broker, time.time)
    key = orders[0]["tickets"][0]["ticket_key"]
    event = door.events[0]
    old_unblock = seal({"type": "update", "org": ORG, "event": event, "id": uuid.uuid4().hex, "ts": time.time() - 3600,
                        "unblocked": [key]}, store.server_key(ORG).sign)
    attacker = PahoTransport("attacker", BrokerConfig(port=broker.port), clean_start=True)
    attacker.start()
    try:
        store.block_ticket(key, "reported stolen")
        assert wait_for(lambda: door.ledger.history(key).blocked)
        server.stop()
        door.close()
        door = SimDevice(tmp_path / "door", ORG, "gate-a", store.server_public_key(ORG), BrokerConfig(port=broker.port),
                         [event], options=FAST).go_online()
        assert wait_for(lambda: door.sync.transport.connected) and attacker.wait_connected(10)
        time.sleep(0.3)
        assert attacker.publish(topics.live(ORG, event), old_unblock, wait=5)
        assert wait_for(lambda: door.sync.stats["late"] == 1)
        assert door.ledger.history(key).blocked == "reported stolen"
    finally:
        attacker.stop()
        door.close()
        store.close()


def test_attack_keyring_files_with_fields_of_another_type_are_refused_and_trust_nothing(tmp_path):
    """`agent trust` of keyring files naming the device's own key with a field of another type: a time `"soon"`, a
    time of 1e400 (infinity), events `["a"]` or `5`, key id `"x"`, a public key `"!!"`; a list instead of an
    object; a pretix part `5`. Before: the list ended on an AttributeError traceback, and the key with `"soon"` or
    `["a"]` was trusted and saved: every scan of its tickets then said `unreadable payload (TypeError)` (a traceback
    in the log) or `forged` ("may not sign for event 1"). Now each file is refused naming the field, exit 1, the
    keyring unchanged, the genuine ticket still admitted."""
    home = make_home(tmp_path)
    before = digest(home / "keyring.json")
    own = KEY.trusted().to_json()
    bodies = [[], {"keys": [own], "pretix": 5}] + [
        {"keys": [dict(own, **{name: value})]}
        for name, value in (("valid_from", "soon"), ("valid_until", float("inf")), ("events", ["a"]), ("events", 5),
                            ("key_id", "x"), ("public_key", "!!"))]
    for i, body in enumerate(bodies):
        hostile = tmp_path / f"hostile-{i}.json"
        hostile.write_text(json.dumps(body))
        trust = ticketgate("agent", "--home", str(home), "trust", str(hostile))
        assert trust.returncode == 1 and "Traceback" not in trust.stderr, (body, trust.stdout, trust.stderr)
        assert f"cannot read {hostile}:" in trust.stderr, trust.stderr
        assert digest(home / "keyring.json") == before, body
    scan = ticketgate("agent", "--home", str(home), "scan", "--json", issue(KEY, 12, valid_until=FAR))
    assert json.loads(scan.stdout)["verdict"] == "accepted", scan.stdout


def test_attack_keyring_or_pretix_event_file_nested_too_deep(tmp_path):
    """A keyring or pretix event JSON of `[` x 100,000 (a damaged download, or one handed over by someone hostile)
    given to `agent trust`, `agent trust-pretix` and `decode --keyring`. Before: a RecursionError traceback each.
    Now the file is said not to be one (nested too deep), exit 1 (decode: a warning, the image still decoded); the
    keys the device trusts are unchanged."""
    home = make_home(tmp_path)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    before = digest(home / "keyring.json")
    trust = ticketgate("agent", "--home", str(home), "trust", str(deep))
    assert trust.returncode == 1 and "Traceback" not in trust.stderr, trust.stderr
    assert f"cannot read {deep}: {deep} is not a keyring (JSON nested too deep)" in trust.stderr
    pretix = ticketgate("agent", "--home", str(home), "trust-pretix", str(deep), "--event-id", "3")
    assert pretix.returncode == 1 and "Traceback" not in pretix.stderr, pretix.stderr
    assert f"{deep} is not a pretix event (JSON nested too deep)" in pretix.stderr
    assert digest(home / "keyring.json") == before
    from PIL import Image
    Image.new("L", (64, 64), 255).save(tmp_path / "blank.png")
    decoded = ticketgate("decode", "--keyring", str(deep), str(tmp_path / "blank.png"))
    assert decoded.returncode == 1 and "Traceback" not in decoded.stderr, decoded.stderr
    assert "is not a keyring (JSON nested too deep)" in decoded.stderr and "no QR code found" in decoded.stdout
