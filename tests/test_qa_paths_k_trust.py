"""A QA walk of trust (session K): a stolen door's broker login, a flood of garbage uploads and the private files,
set up as the guides say (`server init`, `provision serve` with its broker, `server serve`, `provision enroll` on
two door homes; the `field` fixture of test_qa_attacks) and attacked with raw MQTT clients. Each test fails on the
defect it names."""
from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from agent.sync import topics
from agent.sync.messages import ActionItem, Batch
from tests.broker import mosquitto_binary
from tests.helpers import wait_for
from tests.test_qa_attacks import field, tg   # noqa: F401  (`field`: the fixture)

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


class Client:
    """A raw MQTT 5 client: what it received (topic, payload, retained), its PUBACK codes, whether it is connected."""

    def __init__(self, login: dict[str, Any], client_id: str, will: tuple[str, bytes] | None = None,
                 loop: bool = True, inflight: int = 20):
        self.got: list[tuple[str, bytes, bool]] = []
        self.acks: dict[int, str] = {}
        self.connected: bool | None = None
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(login["username"], login["password"])
        self.client.max_inflight_messages_set(inflight)
        if will is not None:
            self.client.will_set(will[0], will[1], qos=1, retain=True)
        self.client.on_message = lambda c, u, m: self.got.append((m.topic, m.payload, bool(m.retain)))
        self.client.on_connect = lambda c, u, f, rc, p: setattr(self, "connected", not rc.is_failure)
        self.client.on_disconnect = lambda c, u, f, rc, p: setattr(self, "connected", False)
        self.client.on_publish = lambda c, u, mid, rc, p: self.acks.__setitem__(mid, str(rc))
        host, port = login["broker"].rsplit(":", 1) if isinstance(login["broker"], str) else (
            login["broker"]["host"], login["broker"]["port"])
        self.client.connect(host, int(port))
        if loop:
            self.client.loop_start()
            assert wait_for(lambda: self.connected is not None, 10) and self.connected, client_id
        else:          # no network thread: the caller drives it, and can drop the connection without a DISCONNECT
            deadline = time.monotonic() + 10
            while self.connected is None and time.monotonic() < deadline:
                self.client.loop(0.1)
            assert self.connected, client_id

    def subscribe(self, *filters: str) -> None:
        for f in filters:
            self.client.subscribe(f, qos=1)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> str:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        assert wait_for(lambda: info.mid in self.acks, 10), topic
        return self.acks[info.mid]

    def drop(self) -> None:
        """The connection lost without a DISCONNECT (what makes the broker send the Last Will)."""
        sock = self.client.socket()
        assert sock is not None
        sock.close()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def device_login(home: Path) -> dict[str, Any]:
    return json.loads((home / "device" / "credentials.json").read_text())


def server_login(org: Path, purpose: str = "cmd") -> dict[str, Any]:
    """The organiser's broker login as `provision serve` wrote it, as one of its one-shot server users (one
    connection each: the client id is the username)."""
    login = json.loads(next(org.rglob("broker-login.json")).read_text())
    return dict(login, username=f"{login['username']}-{purpose}")


def test_walk_a_stolen_doors_broker_login_reaches_only_its_own_topics(field):  # noqa: F811
    """With the door's broker login, a thief subscribes to `#`, `$SYS/#`, another door's downlink and another
    organiser's topics; publishes on another door's uplink, the live topic, the server's presence and downlink; sets a
    Last Will on the live topic; connects with the other door's client id. All of that is refused (evidence). The
    defect: the ACL let a device write `tg/+/dev/ITSELF/up|status` under ANY organiser name, so it could leave
    retained messages (4 MiB each) on as many topics as it liked in the broker's memory and persistence file (20
    here), and speak on another organiser's topics. Now it writes only its own two topics of its own organiser."""
    door, gate, server = device_login(field.door), device_login(field.gate), server_login(field.org)
    me, other = door["device_id"], gate["device_id"]
    watcher = Client(server, "watcher")
    watcher.subscribe("tg/#")
    genuine = Client(gate, other)
    genuine.subscribe(topics.down("acme", other))
    thief = Client(door, other)                       # the other door's client id: ignored (client id = username)
    try:
        thief.subscribe("#", "$SYS/#", topics.down("acme", other), "tg/other/#", "tg/+/ev/+/live")
        assert thief.publish(topics.device_status("acme", me), b"marker-1") == "Success"
        assert wait_for(lambda: any(p == b"marker-1" for _, p, _ in watcher.got))       # subscriptions are in
        watcher.client.publish(topics.down("acme", other), b"for-the-gate", qos=1)
        watcher.client.publish("tg/other/ev/1/live", b"other-org", qos=1)
        refused = {t: thief.publish(t, b"forged", retain=True)
                   for t in (topics.up("acme", other), topics.live("acme", 1), topics.server_status("acme"),
                             topics.down("acme", other), topics.down("acme", me), "zz/anything")}
        assert set(refused.values()) == {"Not authorized"}, refused
        elsewhere = {f"tg/org{i}/dev/{me}/{leaf}": thief.publish(f"tg/org{i}/dev/{me}/{leaf}", b"x" * 1000, retain=True)
                     for i in range(10) for leaf in ("up", "status")}
        watcher.client.publish(topics.down("acme", me), b"marker-2", qos=1)
        assert wait_for(lambda: any(p == b"marker-2" for _, p, _ in thief.got))
        assert wait_for(lambda: any(p == b"for-the-gate" for _, p, _ in genuine.got))
        assert genuine.connected                       # not kicked off by the thief's connection
        assert {t for t, _, _ in thief.got} == {topics.server_status("acme"), topics.down("acme", me)}, thief.got
        assert not [t for t, p, _ in watcher.got if p == b"forged"]
        # retained messages the broker keeps under other organisers' names for this device
        fresh = Client(server_login(field.org, "push"), "fresh")
        fresh.subscribe(f"tg/+/dev/{me}/+")
        time.sleep(1.5)
        kept = sorted(t for t, _, retained in fresh.got if retained and not t.startswith("tg/acme/"))
        fresh.close()
        assert kept == [] and set(elsewhere.values()) == {"Not authorized"}, (kept, elsewhere)
    finally:
        thief.close()
        genuine.close()
    # a Last Will on a topic it may not publish is never published; one on its own presence is (the check works)
    forged = Client(door, "w1", will=(topics.live("acme", 1), b"forged-will"), loop=False)
    forged.drop()
    time.sleep(0.5)
    honest = Client(door, "w2", will=(topics.device_status("acme", me), b"honest-will"), loop=False)
    honest.drop()
    assert wait_for(lambda: any(p == b"honest-will" for _, p, _ in watcher.got), 10)
    assert not any(p == b"forged-will" for _, p, _ in watcher.got)
    watcher.close()


def _refused(org: Path, device: str) -> list[dict]:
    return json.loads(tg(org, "server", "refusals", "--device", device, "--limit", "100000", "--json").stdout)


def _accounted(rows: list[dict]) -> int:
    """Uploads refused whole that `server refusals` accounts for: one per row, plus the counts of a summary row."""
    counted = [r for r in rows if "counted_since" in r["body"]]
    return len(rows) - len(counted) + sum(int(r["reason"].split(" ", 1)[0].replace(",", "")) for r in counted)


def test_attack_10000_garbage_uploads_are_counted_not_kept_one_by_one(field):  # noqa: F811
    """A stolen door publishes 10,000 different uploads that are not JSON, in about a second. Before: each cost a
    store transaction, a `server refusals` row and a line of `server serve`'s log (10,000 rows, 10,000 lines, 1 MB:
    unbounded), and another door's upload waited up to 5.9 s for its ack. Now the first 20 are kept one by one, the
    others counted per reason in one summary row (and one log line saying counting started); every upload is
    accounted for; the other door's uploads are acked during the flood."""
    door, gate = device_login(field.door), device_login(field.gate)
    thief, honest = Client(door, "thief", inflight=1000), Client(gate, "gate")
    honest.subscribe(topics.down("acme", gate["device_id"]))
    up = topics.up("acme", door["device_id"])

    def honest_upload(row: int) -> float | None:
        acks = len(honest.got)
        body = ActionItem(str(uuid.uuid4()), "entry", f"pretix:K{row}", 1, "in", time.time(), gate["device_id"],
                          "south").to_wire()
        t0 = time.monotonic()
        honest.client.publish(topics.up("acme", gate["device_id"]), Batch.encode(
            "acme", gate["device_id"], uuid.uuid4().hex, time.time(), [(1000 + row, "action", json.dumps(body))]),
            qos=1)
        return time.monotonic() - t0 if wait_for(lambda: len(honest.got) > acks, 60) else None

    started = time.monotonic()
    try:
        sent = [thief.client.publish(up, b"garbage %d " % i + b"x" * 200, qos=1) for i in range(10_000)]
        during = [honest_upload(i) for i in range(5)]
        assert all(s is not None for s in during), during
        assert wait_for(lambda: all(m.is_published() for m in sent), 60)
        assert wait_for(lambda: _accounted(_refused(field.org, door["device_id"])) >= 10_000, 120, step=1.0)
    finally:
        thief.close()
        honest.close()
    # the budget: 20 kept one by one, then 1 per 10 s of the flood (a loaded machine takes longer), and the summary
    kept_at_most = 20 + int((time.monotonic() - started) / 10) + 1 + 1
    rows = _refused(field.org, door["device_id"])
    assert _accounted(rows) == 10_000 and len(rows) <= kept_at_most, (len(rows), kept_at_most, rows[:2])
    summary = [r for r in rows if "counted_since" in r["body"]]
    assert len(summary) == 1 and "malformed JSON (JSONDecodeError) ×" in summary[0]["reason"], summary
    log = field.serve_log.read_text()
    assert log.count(up) <= kept_at_most and log.count("counted per reason") == 1, log[-2000:]
    print(f"another door's upload acked in {max(during):.2f} s at most during the flood")   # type: ignore[type-var]



def test_refusals_over_the_budget_are_counted_per_reason_in_one_summary_per_window():
    """The budget behind the test above: 20 kept one by one, then one in 10 s; at most 8 reasons per device (the
    reason text comes from the thief: more are `other reasons`); a new window starts a new summary."""
    from server_stub.sync.refusal_budget import OTHER, RefusalBudget
    now = [0.0]
    budget = RefusalBudget(clock=lambda: now[0], wall=lambda: 1e9 + now[0])
    assert [budget.keep("a") for _ in range(21)] == [True] * 20 + [False] and budget.keep("b")
    now[0] = 10.0
    assert budget.keep("a") and not budget.keep("a")
    starts = [budget.count("a", f"bad {i % 12}")[1] for i in range(24)]
    counted, _ = budget.count("a", "bad 0")
    assert starts == [True] + [False] * 23 and counted.total == 25 and len(counted.reasons) == 9
    assert counted.reasons[OTHER] == 8 and counted.reasons["bad 0"] == 3 and counted.since == 1e9 + 10
    assert counted.text().startswith("25 more upload(s) refused whole") and "bad 0 ×3" in counted.text()
    now[0] += 3601
    again, new = budget.count("a", "bad 0")
    assert new and again.total == 1 and again.since == 1e9 + now[0]



def test_attack_10000_presences_cost_one_write_per_drain(tmp_path, broker):
    """A stolen door publishes 10,000 presences (`online`, a new time each, the last `offline`) in about a second.
    Before: each was a store transaction (10,000); another door's upload waited up to 12.4 s for its ack meanwhile
    (0.02-0.04 s before; load 4.8). Now the last presence of a device in each drain is its state: one write per
    drain; a presence superseded by a later one of the same device before ingestion took it is not queued twice
    (inbox.py). Real mosquitto, the real SyncServer and SQLite store; the store's presence writes are counted."""
    from tests.sync_fixtures import ORG, make_store, start_server
    store, event, _ = make_store(tmp_path / "server", tickets=1)
    writes: list[str] = []
    touch = store.touch_device
    store.touch_device = lambda device_id, seen_at=None, status=None: (   # type: ignore[method-assign]
        writes.append(device_id), touch(device_id, seen_at, status))[1]
    server = start_server(store, broker.port)
    drains: list[int] = []         # per drain: how many of gate-a's presences it held
    process, status_topic = server._process, topics.device_status(ORG, "gate-a")

    def counted(work: list) -> None:
        drains.append(sum(topic == status_topic for topic, _ in work))
        process(work)
    server._process = counted      # type: ignore[method-assign]
    thief = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, "gate-a", protocol=mqtt.MQTTv5)
    thief.max_inflight_messages_set(1000)
    honest, acks = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, "gate-b", protocol=mqtt.MQTTv5), []
    honest.on_message = lambda c, u, m: acks.append(time.monotonic())
    try:
        for c in (thief, honest):
            c.connect("127.0.0.1", broker.port)
            c.loop_start()
        honest.subscribe(topics.down(ORG, "gate-b"), qos=1)
        time.sleep(0.5)
        t0 = time.time() - 100
        sent = [thief.publish(topics.device_status(ORG, "gate-a"), json.dumps(
            {"state": "offline" if i == 9_999 else "online", "device": "gate-a", "ts": t0 + i / 100}).encode(), qos=1)
            for i in range(10_000)]
        body = ActionItem(str(uuid.uuid4()), "entry", "pretix:K1", event, "in", time.time(), "gate-b").to_wire()
        asked = time.monotonic()
        honest.publish(topics.up(ORG, "gate-b"), Batch.encode(ORG, "gate-b", "b1", time.time(),
                                                             [(1, "action", json.dumps(body))]), qos=1)
        assert wait_for(lambda: acks, 60)
        assert wait_for(lambda: all(m.is_published() for m in sent), 60)
        assert wait_for(lambda: (store.device("gate-a") or {}).get("status") == "offline", 60)
    finally:
        for c in (thief, honest):
            c.loop_stop()
            c.disconnect()
        server.stop()
    assert store.device("gate-a")["last_seen"] == pytest.approx(t0 + 99.99)     # the latest state is kept
    held = [n for n in drains if n]
    assert sum(held) + server.stats["presences_collapsed"] == 10_000, (sum(held), server.stats)   # each one seen
    assert len(held) < 10_000, len(held)                  # some superseded before a drain, or a drain held more
    assert writes.count("gate-a") == len(held), (writes.count("gate-a"), len(held))   # one write per drain: was 10,000
    print(f"another door's upload acked {acks[0] - asked:.2f} s after it was sent, during the flood")



def test_attack_batches_over_the_burst_are_counted_once_their_rows_pass_the_budget(field):  # noqa: F811
    """A stolen door sends 30 batches of 2,000 entries each (over its burst of 1,000: refused whole, reason `rate`).
    Before: every item was a `server refusals` row (60,000; a 4 MiB batch holds 40,000: unbounded). Now a device's
    items of such batches are kept one by one up to 10,000 (then 2 a second); the other batches are counted in the
    summary row. Every ack still names every item refused (the device keeps them marked refused)."""
    door = device_login(field.door)
    me = door["device_id"]
    thief = Client(door, "thief")
    thief.subscribe(topics.down("acme", me))
    time.sleep(0.5)
    try:
        for n in range(30):
            rows = [(n * 2000 + i, "action", json.dumps(ActionItem(str(uuid.uuid4()), "entry", f"pretix:T{n}-{i}", 1,
                                                                   "in", time.time(), me, "north").to_wire()))
                    for i in range(1, 2001)]
            thief.publish(topics.up("acme", me), Batch.encode("acme", me, f"b{n}", time.time(), rows))
            # each answered before the next: more than the device's share of the server's queue (8 MiB, inbox.py)
            # would not be taken (no ack: a device sends it again)
            assert wait_for(lambda: len(thief.got) > n, 60, step=0.1), n
        assert len(thief.got) == 30
    finally:
        thief.close()
    acks = [json.loads(p) for t, p, _ in thief.got]
    assert all(len(json.dumps(a)) > 2000 * 20 for a in acks)       # each names its 2,000 refused items
    rows = _refused(field.org, me)
    summary = [r for r in rows if "counted_since" in r["body"]]
    assert len(rows) - len(summary) == 10_000, len(rows)
    assert len(summary) == 1 and summary[0]["reason"].startswith("25 more upload(s) refused whole"), summary
    assert "rate: a batch of 2000 items" in summary[0]["reason"]


SECRET_FILES = (".sqlite", ".sqlite-wal", ".sqlite-shm", ".db", ".pem", ".key", "credentials.json", "keyring.json",
                "broker-login.json", "passwd", "acl")


def test_walk_private_files_and_logs_after_enrolling_and_serving(tmp_path):
    """`server init`, `provision serve` (its broker), a door enrolled with its code, `server serve`, the door synced,
    a second `provision serve` and the server left running; umask 022. Every database (and -wal/-shm), key,
    credential, password and ACL file is 0600; no password, private key or enrollment code in any log line or any
    command's output (but `provision tokens create`'s, whose job is to print the codes). The defect: the server's
    data folder (its database, its keys' folder) was created 0755, readable by every local user."""
    from tests.helpers import stop_process
    from tests.test_qa_attacks import _start
    from tests.broker import free_port
    org, door = tmp_path / "org", tmp_path / "door"
    org.mkdir(), door.mkdir()
    old = os.umask(0o022)
    outputs: list[str] = []
    procs = []
    try:
        outputs.append(tg(org, "server", "init", "--org", "acme", "--name", "Acme").stdout)
        logs = {name: tmp_path / f"{name}.log" for name in ("prov", "serve")}
        http_port = free_port()
        procs.append(_start(org, "provision", "serve", "--org", "acme", "--start-broker", "--listen", "127.0.0.1",
                            "--port", str(http_port), "--advertise", "127.0.0.1", "--no-zeroconf", "--broker-port",
                            str(free_port()), "--for", "300", log=logs["prov"]))
        assert wait_for(lambda: "enrollment endpoint" in logs["prov"].read_text(), 30)
        sheet = tg(org, "provision", "tokens", "create", "--org", "acme", "--count", "1", "--gate", "north",
                   "--out", str(org / "north.pdf")).stdout
        code = sheet.split("code ")[-1].split()[0]
        for cmd in (("provision", "enroll", "--code", code, "--server", f"127.0.0.1:{http_port}"),):
            done = tg(door, *cmd)
            outputs += [done.stdout, done.stderr]
        procs.append(_start(org, "server", "serve", log=logs["serve"]))
        assert wait_for(lambda: "sync server" in logs["serve"].read_text(), 30)
        for cmd in (("agent", "sync", "--until-idle", "--for", "60"), ("agent", "status"), ("provision", "status")):
            done = tg(door, *cmd)
            outputs += [done.stdout, done.stderr]
        for cmd in (("devices",), ("refusals",), ("provision", "devices", "--org", "acme")):
            done = tg(org, *(cmd if cmd[0] == "provision" else ("server", *cmd)))
            outputs += [done.stdout, done.stderr]
    finally:
        os.umask(old)
        for p in reversed(procs):
            stop_process(p)
    secrets_ = {code, code.replace("-", "")}
    device = json.loads((door / "device" / "credentials.json").read_text())
    secrets_.add(device["password"])
    server = json.loads(next(org.rglob("broker-login.json")).read_text())
    secrets_.add(server["password"])
    for pem in [*org.rglob("*.pem"), *door.rglob("*.pem"), *door.rglob("*.key")]:
        body = "".join(line for line in pem.read_text().splitlines() if "-----" not in line)
        secrets_.update(body[i:i + 24] for i in range(0, max(len(body) - 24, 1), 24))
    assert len(secrets_) >= 8 and code in sheet           # the codes, passwords and key lines looked for
    said = outputs + [p.read_text(errors="replace") for p in logs.values()] + \
        [p.read_text(errors="replace") for p in org.rglob("*.log")]
    leaks = {s[:6] + "…" for s in secrets_ if len(s) >= 8 for text in said if s in text}
    assert not leaks, leaks
    wide = [f"{oct(p.stat().st_mode & 0o777)} {p.relative_to(tmp_path)}"
            for home in (org, door) for p in home.rglob("*")
            if p.name.endswith(SECRET_FILES) and p.is_file() and p.stat().st_mode & 0o077]
    assert not wide, wide
    data = [p for p in org.rglob("server.sqlite")][0].parent
    folders = [data, *(p for p in data.rglob("*") if p.is_dir()), door / "device"]
    open_folders = [f"{oct(p.stat().st_mode & 0o777)} {p.relative_to(tmp_path)}" for p in folders
                    if p.stat().st_mode & 0o077]
    assert not open_folders, open_folders


def test_walk_the_demos_kept_folders_are_private(tmp_path):
    """`ticketgate demo --keep DIR` under umask 022: its server (database, keys), door and desk homes (ledgers,
    keyrings) and broker folder. Every secret file is 0600 and every folder 0700. The defect: DIR, the door and desk
    homes and the broker's folder were 0755 (their listings, and the folders of the ledgers, open to every user)."""
    import subprocess
    import sys
    kept = tmp_path / "kept"
    old = os.umask(0o022)
    try:
        proc = subprocess.run([sys.executable, "-m", "agent", "demo", "--tickets", "30", "--lang", "en", "--keep",
                               str(kept)], cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True,
                              timeout=300)
    finally:
        os.umask(old)
    assert proc.returncode == 0, proc.stderr[-2000:]
    secrets_ = [p for p in kept.rglob("*") if p.is_file() and p.name.endswith(SECRET_FILES)]
    assert len(secrets_) >= 8 and not [p for p in secrets_ if p.stat().st_mode & 0o077], \
        [(oct(p.stat().st_mode), str(p)) for p in secrets_]
    folders = [kept, *(p for p in kept.rglob("*") if p.is_dir())]
    assert not [p for p in folders if p.stat().st_mode & 0o077], [(oct(p.stat().st_mode), str(p)) for p in folders]
