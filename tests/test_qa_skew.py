"""A device whose clock is far ahead, through the public commands with the device's processes run under `faketime`
(Debian package `faketime`, installed by dev.sh): the organiser's side runs on the true time. Each test fails on the
defect it names."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.broker import mosquitto_binary
from tests.test_qa_user_paths import ROOT, _enrolled_door, _env, tg

pytestmark = pytest.mark.skipif(mosquitto_binary() is None or shutil.which("faketime") is None,
                                reason="mosquitto or faketime not installed")
DAY = 86400


def tg_at(home: Path, ahead: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    """`ticketgate …` on a device whose wall clock is `ahead` (faketime's "+3d") of the true time; its monotonic and
    boot clocks are not shifted (they are not the clock a user sets, and Python's timed waits need them true)."""
    env = dict(_env(home), FAKETIME_DONT_FAKE_MONOTONIC="1")
    proc = subprocess.run(["faketime", "-f", ahead, sys.executable, "-m", "agent", *args], cwd=ROOT, env=env,
                          input=stdin, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, (args, proc.stdout, proc.stderr)
    return proc


def _event_now(home: Path, days: int = 7) -> list[str]:
    """An event open from yesterday for `days` days, with one paid order of two tickets: their signed QR payloads."""
    now = time.time()
    start, end = (time.strftime("%Y-%m-%d", time.gmtime(now + d * DAY)) for d in (-1, days))
    tg(home, "server", "init", "--org", "acme", "--name", "Acme Festival")
    tg(home, "server", "event", "create", "--name", "Week", "--start", f"{start} 10:00", "--end", f"{end} 23:00",
       "--zone", "1=Floor", "--category", "1=Adult")
    order = json.loads(tg(home, "server", "order", "add", "--event", "1", "--buyer", "Ann Martin", "--quantity", "2",
                          "--ticket", "category=Adult,zone=Floor", "--json").stdout)
    return [json.loads(tg(home, "server", "ticket", "show", t["ticket_key"], "--json").stdout)["payload"]
            for t in order["tickets"]]


def _server_entries(home: Path) -> list[dict]:
    """The entries the organiser's store holds (its real SQLite file)."""
    import sqlite3
    db = sqlite3.connect(home / ".local/share/ticketgate/server/server.sqlite")
    try:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM scans WHERE kind='entry' ORDER BY seq")]
    finally:
        db.close()


def _forget_server_time(home: Path) -> None:
    """The device's ledger as a device that never learnt the server's time has it (enrolled by a version that did
    not measure at enrollment, or working before it was enrolled): no clock estimate."""
    import sqlite3
    ledger = sqlite3.connect(home / "device" / "ledger.sqlite")
    with ledger:
        ledger.execute("DELETE FROM settings WHERE key IN ('clock', 'clock_offset', 'clock_rtt')")
    ledger.close()


def test_a_device_enrolled_3_days_ahead_judges_and_stamps_on_server_time_before_its_first_sync(tmp_path):
    """A handheld whose clock is 3 days ahead, enrolled and scanning before its first sync: it judged tickets on its
    own clock (a ticket of an event that ends tomorrow: `expired`) and stamped its entries with no offset (the
    server refused them as 'dated_ahead'). The signed enrollment answer carries the server's time: the device learns
    its offset there."""
    home = tmp_path / "home"
    home.mkdir()
    payloads = _event_now(home, days=1)
    with _enrolled_door(home, gate="north", events="1", device=lambda h, *a: tg_at(h, "+3d", *a)):
        said = tg_at(home, "+3d", "agent", "scan", "--json", stdin=payloads[0] + "\n").stdout
        assert json.loads(said)["verdict"] == "accepted", said
        tg(home, "server", "push")
        tg_at(home, "+3d", "agent", "sync", "--until-idle", "--for", "40")
        assert json.loads(tg_at(home, "+3d", "agent", "status", "--json").stdout)["refused_uploads"] == []
        entries = _server_entries(home)
        assert len(entries) == 1 and abs(entries[0]["at"] + entries[0]["clock_offset"] - time.time()) < 600, entries


def test_entries_scanned_3_days_ahead_before_the_first_sync_are_taken_re_dated(tmp_path):
    """A handheld whose clock is 3 days ahead and that never learnt the server's time, scanning before it ever
    synced: its entries were stamped with no offset, and the server refused them all ('dated_ahead'); `resend-refused`
    sent them as they were, refused again. Now the device holds them until it has learnt the server's time, then
    sends them re-dated by the measured skew; the device's own time stays in the upload (`at`) for audit."""
    home = tmp_path / "home"
    home.mkdir()
    payloads = _event_now(home)
    with _enrolled_door(home, gate="north", events="1"):
        _forget_server_time(home)
        said = tg_at(home, "+3d", "agent", "scan", "--json", stdin=payloads[0] + "\n").stdout
        assert json.loads(said)["verdict"] == "accepted"
        tg(home, "server", "push")
        tg_at(home, "+3d", "agent", "sync", "--until-idle", "--for", "40")
        status = json.loads(tg_at(home, "+3d", "agent", "status", "--json").stdout)
        assert status["refused_uploads"] == [], status["refused_uploads"]
        entries = _server_entries(home)
        assert len(entries) == 1, entries
        server_at = entries[0]["at"] + entries[0]["clock_offset"]
        assert abs(server_at - time.time()) < 600, entries[0]          # on the server's time line
        assert entries[0]["at"] - time.time() > 2.9 * DAY               # the device's own time, kept


def test_a_kiosk_3_days_ahead_has_its_payment_taken_after_it_synced(tmp_path):
    """A kiosk whose clock is 3 days ahead, synced (it knows the skew): a payment taken at the desk was uploaded with
    the kiosk's own time as `at` (kiosk messages carry no offset) and refused as 'dated_ahead' for ever, so the
    order stayed unpaid on the server. Now its `at` is in server time, the kiosk's own kept as `device_at`."""
    home = tmp_path / "home"
    home.mkdir()
    _event_now(home)
    pending = json.loads(tg(home, "server", "order", "add", "--event", "1", "--buyer", "Bob Roy", "--pending",
                            "--ticket", "category=Adult,zone=Floor", "--json").stdout)
    with _enrolled_door(home, gate="desk", events="1", role="kiosk"):
        tg(home, "server", "push")
        tg_at(home, "+3d", "agent", "sync", "--until-idle", "--for", "40")
        tg_at(home, "+3d", "agent", "pay", pending["number"])
        tg_at(home, "+3d", "agent", "sync", "--until-idle", "--for", "40")
        status = json.loads(tg_at(home, "+3d", "agent", "status", "--json").stdout)
        assert status["refused_uploads"] == [], status["refused_uploads"]
        assert json.loads(tg(home, "server", "order", "show", pending["number"], "--json").stdout)["status"] == "paid"


def test_an_entry_refused_as_dated_ahead_is_resent_re_dated(tmp_path):
    """A door that synced, then restarted with its clock 3 days ahead (its stored estimate is of the boot before, so
    only its offset is left): its entry is refused as 'dated_ahead'. `resend-refused` sent it again as it was, and
    it was refused again; now it goes re-dated by the skew measured since."""
    import sqlite3
    home = tmp_path / "home"
    home.mkdir()
    payloads = _event_now(home)
    with _enrolled_door(home, gate="north", events="1"):
        tg(home, "server", "push")
        tg(home, "agent", "sync", "--until-idle", "--for", "40")
        ledger = sqlite3.connect(home / "device" / "ledger.sqlite")
        with ledger:     # the reboot: the estimate's boot is not this one
            ledger.execute("UPDATE settings SET value=json_set(value, '$.boot_id', 'the-boot-before') WHERE key='clock'")
        ledger.close()
        said = tg_at(home, "+3d", "agent", "scan", "--json", stdin=payloads[0] + "\n").stdout
        assert json.loads(said)["verdict"] == "accepted"
        tg_at(home, "+3d", "agent", "sync", "--until-idle", "--for", "40")
        refused = json.loads(tg_at(home, "+3d", "agent", "status", "--json").stdout)["refused_uploads"]
        assert [r["reason_code"] for r in refused] == ["dated_ahead"], refused
        tg_at(home, "+3d", "agent", "resend-refused")
        tg_at(home, "+3d", "agent", "sync", "--until-idle", "--for", "40")
        assert json.loads(tg_at(home, "+3d", "agent", "status", "--json").stdout)["refused_uploads"] == []
        entries = _server_entries(home)
        assert len(entries) == 1 and abs(entries[0]["at"] + entries[0]["clock_offset"] - time.time()) < 600, entries
