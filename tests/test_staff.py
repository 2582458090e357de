"""Staff: the organiser's store (SQLite and PostgreSQL), the roster in a bundle, logins on a device (PIN, badge,
throttle, idle lock), permissions on the device and again at ingestion."""
from __future__ import annotations

import time

import pytest

from agent.ledger import Ledger
from agent.staff import NotPermitted, StaffError, hash_pin, make_badge, pin_matches, read_badge
from agent.staff_session import OnDuty, store_roster
from agent.sync.messages import ActionItem, PaymentValidated, RefusalItem, RefundRequest, item_from_wire

NOW = time.time()


def test_pin_hash_is_salted_slow_and_checked_in_constant_time():
    a, b = hash_pin("1234"), hash_pin("1234")
    assert a["salt"] != b["salt"] and a["hash"] != b["hash"] and a["n"] >= 1 << 14
    assert pin_matches("1234", a) and not pin_matches("1235", a) and not pin_matches("12a4", a)
    assert not pin_matches("1234", dict(a, n=3)) and not pin_matches("1234", {"kdf": "md5"})
    with pytest.raises(StaffError, match="4 to 8 digits"):
        hash_pin("12")


def test_staff_store_add_set_deactivate_and_roster(store):
    door = store.add_staff("fest", "Léa Martin", "door", pin="1234")
    sup = store.add_staff("fest", "Sam Boss", "supervisor", pin="9876", badge=True)
    assert door["staff_id"] != sup["staff_id"] and sup["badge_serial"] == 1 and door["badge_serial"] == 0
    v = store.version("fest")
    changed = store.set_staff("fest", door["staff_id"], active=False)
    assert not changed["active"] and store.version("fest") > v
    assert store.staff_version("fest") == store.version("fest")
    roster = store.staff_roster("fest")
    assert [(r["name"], r["role"], r["active"]) for r in roster] == [("Léa Martin", "door", False),
                                                                      ("Sam Boss", "supervisor", True)]
    assert pin_matches("9876", roster[1]["pin"]) and "1234" not in str(roster)
    assert store.set_staff("fest", sup["staff_id"], new_badge=True)["badge_serial"] == 2
    assert store.staff_since("fest") <= time.time()
    from agent.errors import InvalidInput
    for bad in ({"role": "boss"}, {"name": "=x\x07"}, {"pin": "12"}):
        with pytest.raises(InvalidInput):
            store.add_staff("fest", bad.get("name", "X"), bad.get("role", "door"), pin=bad.get("pin", "1234"))
    with pytest.raises(InvalidInput, match="PIN, a badge"):
        store.add_staff("fest", "Nobody", "door")
    with pytest.raises(LookupError):
        store.set_staff("fest", "999", name="x")


def _device(tmp_path, members, org="fest", key=None):
    ledger = Ledger.open(tmp_path / "ledger.sqlite")
    with ledger.transaction():
        store_roster(ledger, org, members)
    return ledger, OnDuty(ledger, key)


def _members():
    return [{"staff_id": "1", "name": "Léa", "role": "door", "active": True, "pin": hash_pin("1234"), "badge_serial": 0},
            {"staff_id": "2", "name": "Sam", "role": "supervisor", "active": True, "pin": hash_pin("9876"),
             "badge_serial": 3},
            {"staff_id": "3", "name": "Old", "role": "desk", "active": False, "pin": hash_pin("1111"),
             "badge_serial": 1}]


def test_device_login_by_pin_throttled_idle_lock_and_permissions(tmp_path):
    clock = [1000.0]
    ledger, duty = _device(tmp_path, _members())
    duty.clock = lambda: clock[0]
    with pytest.raises(NotPermitted, match="log in first"):
        duty.require("entry")
    for _ in range(3):
        with pytest.raises(StaffError, match="wrong PIN"):
            duty.login_pin("Léa", "0000")
    with pytest.raises(StaffError, match="wait 5 s"):
        duty.login_pin("Léa", "1234")         # throttled: even the right PIN waits
    clock[0] += 6
    assert duty.login_pin("léa", "1234").staff_id == "1"
    assert duty.require("entry").name == "Léa" and ledger.on_duty == "1"
    with pytest.raises(NotPermitted, match="Léa \\(door\\) cannot undo"):
        duty.require("annul")
    with pytest.raises(NotPermitted, match="cannot change modes"):
        duty.require("configure")
    with pytest.raises(NotPermitted, match="cannot refund"):
        duty.require("refund")
    with pytest.raises(StaffError, match="deactivated"):
        duty.login_pin("3", "1111")
    duty.set_idle_timeout(60)
    clock[0] += 61
    assert duty.current() is None and ledger.on_duty == ""
    with pytest.raises(NotPermitted, match="log in first"):
        duty.require("entry")
    assert duty.login_pin("2", "9876").role == "supervisor"
    assert duty.require("annul").staff_id == "2" and duty.require("refund") is not None


def test_badge_login_forged_replaced_or_foreign_refused(tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    ledger, duty = _device(tmp_path, _members(), key=pub)
    assert read_badge(make_badge("fest", "2", 3, key.sign), pub) == ("fest", "2", 3)
    assert duty.login(make_badge("fest", "2", 3, key.sign)).name == "Sam"
    for badge, reason in ((make_badge("fest", "2", 3, other.sign), "forged"),
                          (make_badge("fest", "2", 2, key.sign), "replaced"),
                          (make_badge("other", "2", 3, key.sign), "another organiser"),
                          (make_badge("fest", "3", 1, key.sign), "deactivated"),
                          (make_badge("fest", "9", 1, key.sign), "unknown"),
                          ("TGB1:garbage", "unreadable")):
        with pytest.raises(StaffError, match=reason):
            duty.login(badge)


def test_items_queued_name_the_staff_on_duty(tmp_path):
    from agent.gate import Gate
    from agent.keyring import Keyring
    ledger, duty = _device(tmp_path, _members())
    duty.login_pin("Sam", "9876")
    ledger.enqueue("kiosk", PaymentValidated("O-1", "k1").to_wire())
    rows = ledger.outbox_pending()
    assert item_from_wire(rows[-1][2]).staff == "2"
    gate = Gate(ledger, Keyring({}))
    gate.scan("garbage")          # a refused scan: statistics, named too
    assert item_from_wire(ledger.outbox_pending()[-1][2]).staff == "2"


def test_roster_migrates_the_legacy_supervisor_pin(tmp_path):
    ledger = Ledger.open(tmp_path / "l.sqlite")
    ledger.set_setting("ui_pin", {"salt": "00", "hash": "x"})
    store_roster(ledger, "fest", _members()[:1])          # no supervisor yet: the old PIN still guards
    assert ledger.get_setting("ui_pin")
    store_roster(ledger, "fest", _members())
    assert ledger.get_setting("ui_pin") is None and ledger.get_setting("ui_pin_migrated_at")


def test_ingest_refuses_unknown_inactive_or_unpermitted_staff(store):
    from server_stub.sync.ingest import Scope, held_events, store_lookups
    e1 = store.create_event("fest", "Night", NOW, NOW + 3600, "UTC")
    scope = lambda role: Scope({"device_id": "d", "org": "fest", "role": role},  # noqa: E731
                               lambda: held_events(store, "fest", [e1]), *store_lookups(store))
    entry = ActionItem("a", "entry", "pretix:1", e1, "in", time.time(), "d")
    assert scope("door").refusal(entry) is None                       # the organiser keeps no staff yet
    door = store.add_staff("fest", "Léa", "door", pin="1234")["staff_id"]
    sup = store.add_staff("fest", "Sam", "supervisor", pin="9876")["staff_id"]
    gone = store.add_staff("fest", "Old", "door", pin="1111")["staff_id"]
    store.set_staff("fest", gone, active=False)
    annul = ActionItem("b", "annul", "pretix:1", e1, None, time.time(), "d", ref_uuid="a")
    later = time.time() + 1
    assert "no staff member named" in scope("door").refusal(ActionItem("c", "entry", "pretix:1", e1, "in", later, "d"))
    before = ActionItem("c0", "entry", "pretix:1", e1, "in", NOW - 3600, "d")
    assert scope("door").refusal(before) is None                      # done before the organiser kept staff
    assert scope("door").refusal(RefusalItem("forged", None, None, later, "d")) is None
    assert scope("door").refusal(ActionItem("d", "entry", "pretix:1", e1, "in", later, "d", staff=door)) is None
    assert "Léa" in scope("door").refusal(ActionItem("e", "annul", "pretix:1", e1, None, later, "d", ref_uuid="a",
                                                     staff=door))
    batch = scope("door")           # an annulment names an action the server holds or the batch carried before it
    assert batch.refusal(ActionItem("a", "entry", "pretix:1", e1, "in", later, "d", staff=sup)) is None
    assert batch.refusal(ActionItem("f", "annul", "pretix:1", e1, None, later, "d", ref_uuid="a", staff=sup)) is None
    assert "unknown staff member '77'" in scope("door").refusal(ActionItem("g", "entry", "pretix:1", e1, "in", later,
                                                                             "d", staff="77"))
    # what a device did offline by a member deactivated before it (a door action, a kiosk's payment taken): it
    # happened, taken (the store flags it), still judged by the role; what the server does now (a desk request) refused
    assert scope("door").refusal(ActionItem("h", "entry", "pretix:1", e1, "in", later, "d", staff=gone)) is None
    assert "cannot validate a payment" in scope("kiosk").refusal(PaymentValidated("O-2", "d", at=later, staff=gone))
    assert "deactivated" in scope("kiosk").staff_refusal(RefundRequest("fest", "k", "r2", "O-1", "why", at=later,
                                                                       staff=gone), later)
    assert "cannot refund" in scope("kiosk").staff_refusal(RefundRequest("fest", "k", "r1", "O-1", "why", at=later,
                                                                         staff=door))
    assert "cannot validate a payment" in scope("kiosk").refusal(PaymentValidated("O-1", "d", at=later, staff=door))
    assert annul.staff == ""
    store.ingest([dict(ActionItem("z", "entry", "1", e1, "in", later, "d", staff=sup).to_wire(), org="fest")])
    assert [(a["staff"], a["staff_name"], a["flag"]) for a in store.staff_actions("fest")] == [(sup, "Sam", "")]
    store.ingest([dict(ActionItem("y", "entry", "1", e1, "in", later, "d", staff=gone).to_wire(), org="fest"),
                  dict(ActionItem("x", "entry", "1", e1, "in", NOW - 3600, "d", staff=gone).to_wire(), org="fest")])
    flags = sorted(a["flag"] for a in store.staff_actions("fest", gone))
    deactivated = f"staff member Old ({gone}) deactivated at " + time.strftime(
        "%Y-%m-%d %H:%M:%S UTC", time.gmtime(int(store.staff_member(gone)["deactivated_at"])))
    assert flags[0] == deactivated, flags
    # dated before her deactivation (and before she was added), received after it: flagged too, saying so
    assert flags[1].startswith(deactivated + "; dated ") and "before it, but uploaded after it" in flags[1], flags
    assert f"staff member Old ({gone}) added at " in flags[1], flags


def test_badge_files_decode_to_the_signed_payload_and_are_private(tmp_path):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    import numpy as np
    from PIL import Image

    from drivers.camera.chain import DecoderChain
    root = Path(__file__).resolve().parent.parent
    data = str(tmp_path / "server")

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "agent", "server", "--data", data, *args], cwd=root, input=stdin,
                              capture_output=True, text=True, timeout=60)
    assert run("init", "--org", "fest", "--name", "Fest").returncode == 0
    assert run("staff", "add", "--name", "Sam", "--role", "supervisor", "--pin", stdin="12\n").returncode == 1
    made = run("staff", "add", "--name", "Sam", "--role", "supervisor", "--badge", "--json")
    sid = json.loads(made.stdout)["staff_id"]
    lea = json.loads(run("staff", "add", "--name", "Léa", "--role", "door", "--pin", "--json", stdin="1234\n").stdout)
    assert lea["has_pin"] and "pin" not in lea
    no_badge = run("staff", "badge", lea["staff_id"])
    assert no_badge.returncode == 1 and "has no badge" in no_badge.stderr
    out = run("staff", "badge", sid, "--png", str(tmp_path / "b.png"), "--pdf", str(tmp_path / "b.pdf"), "--json")
    payload = json.loads(out.stdout)["payload"]
    assert payload.startswith("TGB1:")
    for f in ("b.png", "b.pdf"):
        assert os.stat(tmp_path / f).st_mode & 0o777 == 0o600
    (text,) = DecoderChain().decode(np.asarray(Image.open(tmp_path / "b.png").convert("L"))).texts
    assert text == payload
    assert (tmp_path / "b.pdf").read_bytes().startswith(b"%PDF")
