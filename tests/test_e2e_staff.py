"""Staff end to end through the public commands (issue 13, "Done when"): the organiser adds a door steward, a desk
clerk and a supervisor; the roster travels to a door and a kiosk in their signed bundles through a real mosquitto;
they log in by PIN and by badge; a door steward cannot undo or change zones, a desk clerk cannot validate a payment, a
supervisor can; every action on the server names its staff member; the server refuses a forged staff id and a
steward's undo from a tampered device; a deactivation reaches the door."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from tests.broker import free_port, mosquitto_binary
from tests.test_e2e_event_day import ROOT, Machine, stop

pytestmark = [pytest.mark.slow, pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")]
ORG = "acme"

TAMPER = """
import json, sys
from agent.ledger import Ledger
from agent.sync.messages import ActionItem
ledger = Ledger.open(sys.argv[1])
for uuid, kind, staff, ref in json.loads(sys.argv[2]):
    ledger.enqueue("action", ActionItem(uuid, kind, sys.argv[3], 1, "in" if kind == "entry" else None, __import__("time").time(),
                                        sys.argv[4], "north", ref_uuid=ref, staff=staff).to_wire())
"""


def login(m: Machine, who: str, pin: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent", "agent", "login", "--staff", who, "--pin", "--json"],
                          cwd=ROOT, env=m.env, input=pin + "\n", capture_output=True, text=True, timeout=60)


def test_staff_on_door_and_kiosk_through_the_public_commands(tmp_path):
    organiser = Machine(tmp_path, "organiser")
    data = str(tmp_path / "organiser-data")
    srv = ("server", "--data", data)
    organiser.run(*srv, "init", "--org", ORG, "--name", "Acme")
    now = datetime.now(timezone.utc)
    organiser.run(*srv, "event", "create", "--name", "Night", "--start", (now - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M"),
                  "--end", (now + timedelta(hours=5)).strftime("%Y-%m-%d %H:%M"), "--zone", "1=Floor", "--zone", "2=Balcony")
    orders = [organiser.json(*srv, "order", "add", "--event", "1", "--buyer", n, *(["--pending"] if n == "Cléo" else []))
              for n in ("Ann", "Bob", "Cléo", "Dan")]
    keys = [o["tickets"][0]["ticket_key"] for o in orders]
    payload = [organiser.json(*srv, "ticket", "show", k)["payload"] for k in keys]

    def add(name, role, pin=None, badge=False):
        proc = subprocess.run([sys.executable, "-m", "agent", *srv, "staff", "add", "--name", name, "--role", role,
                               *(["--pin"] if pin else []), *(["--badge"] if badge else []), "--json"], cwd=ROOT,
                              env=organiser.env, input=(pin or "") + "\n", capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)["staff_id"]
    lea, dee, sam = add("Léa", "door", "1234"), add("Dee", "desk", "5555"), add("Sam", "supervisor", "9876", badge=True)
    badge = organiser.json(*srv, "staff", "badge", sam)["payload"]
    assert "1234" not in organiser.run(*srv, "staff", "list", "--json").stdout

    http_port, broker_port = free_port(), free_port()
    provision = organiser.start("provision", "serve", "--data", data, "--org", ORG, "--start-broker", "--listen",
                                "127.0.0.1", "--port", str(http_port), "--advertise", "127.0.0.1", "--broker-port",
                                str(broker_port), "--no-zeroconf", ready="enrollment endpoint")
    serve = None
    try:
        codes = {}
        for role in ("door", "kiosk"):
            out = organiser.run("provision", "tokens", "create", "--data", data, "--org", ORG, "--count", "1", "--gate",
                                "north", "--role", role, "--events", "1", "--out", str(tmp_path / f"{role}.png")).stdout
            codes[role] = re.findall(r"code (\w{4}-\w{4})", out)[0]
        door, kiosk = Machine(tmp_path, "door"), Machine(tmp_path, "kiosk")
        for m, role in ((door, "door"), (kiosk, "kiosk")):
            assert "login OK" in m.run("provision", "enroll", "--code", codes[role], "--server",
                                       f"127.0.0.1:{http_port}").stdout
        serve = organiser.start(*srv, "serve", ready="sync server on")
        assert organiser.json(*srv, "push")["devices"] == 2
        for m in (door, kiosk):
            m.sync()
            assert m.status()["staff_on_device"] == 3 and m.status()["on_duty"] is None

        # -- the door: nobody on duty scans nothing; the steward logs in by PIN; a wrong PIN is refused ------------
        refused = door.run("agent", "scan", "--json", payload[0], check=False)
        assert refused.returncode == 1 and "log in first" in json.loads(refused.stdout)["login_needed"], refused.stdout
        assert login(door, "Léa", "0000").returncode == 1
        ok = login(door, "Léa", "1234")
        assert ok.returncode == 0 and json.loads(ok.stdout)["name"] == "Léa", ok.stderr
        assert door.scan(payload[0])["verdict"] == "accepted"
        zones = door.run("agent", "configure", "--zones", "2", check=False)
        assert zones.returncode == 1 and "cannot change modes, events and zones" in zones.stderr
        undo = door.run("agent", "annul", "--reason", "wrong ticket", check=False)
        assert undo.returncode == 1 and "cannot undo" in undo.stderr
        assert door.status()["policy"]["zones"] is None
        # the supervisor scans their badge on the same scanner: on duty, they undo and change the zones
        on = json.loads(door.run("agent", "scan", "--json", badge).stdout)
        assert on == {"staff": sam, "name": "Sam", "role": "supervisor"}
        door.run("agent", "annul", "--reason", "wrong ticket")
        door.run("agent", "configure", "--zones", "1,2")
        assert door.status()["on_duty"]["name"] == "Sam"
        login(door, "Léa", "1234")
        assert door.scan(payload[1])["verdict"] == "accepted"

        # -- the kiosk: the desk clerk exchanges but cannot validate a payment; the supervisor can -----------------
        assert login(kiosk, "Dee", "5555").returncode == 0
        kiosk.run("agent", "exchange", keys[3], "--reason", "torn")
        pay = kiosk.run("agent", "pay", orders[2]["number"], check=False)
        assert pay.returncode == 1 and "cannot validate a payment" in pay.stderr
        kiosk.run("agent", "login", "--badge", badge)
        kiosk.run("agent", "pay", orders[2]["number"])

        # -- a tampered door: an entry naming an unknown staff id, an undo under the steward's name ----------------
        forged = [["forged-1", "entry", "999", None], ["forged-2", "annul", lea, "x"]]
        subprocess.run([sys.executable, "-c", TAMPER, str(door.home / "ledger.sqlite"), json.dumps(forged), keys[1],
                        door.status()["policy"]["device_id"]], cwd=ROOT, env=door.env, check=True, timeout=60)
        for m in (door, kiosk):
            m.sync()
        reasons = sorted(r["reason"] for r in organiser.json(*srv, "refusals"))
        assert any("unknown staff member '999'" in r for r in reasons), reasons
        assert any(f"Léa ({lea}) (door) cannot undo" in r for r in reasons), reasons
        assert len(reasons) == 2, reasons
        assert len(door.status()["refused_uploads"]) == 2

        # -- every action on the server names its staff member --------------------------------------------------
        actions = organiser.json(*srv, "staff", "actions")
        named = sorted((a["type"], a["kind"] or "", a["staff_name"]) for a in actions)
        assert named == sorted([("action", "entry", "Léa"), ("action", "annul", "Sam"), ("action", "entry", "Léa"),
                                ("config_change", "", "Sam"), ("kiosk", "exchange", "Dee"),
                                ("kiosk", "payment_validated", "Sam")]), named
        assert organiser.json(*srv, "order", "show", orders[2]["number"])["status"] == "paid"

        # -- the organiser deactivates the steward: the door drops her with its next update ---------------------
        organiser.run(*srv, "staff", "deactivate", lea)
        for _ in range(20):
            door.sync()
            if door.status()["on_duty"] is None:
                break
        else:
            pytest.fail("the deactivation never reached the door")
        again = login(door, "Léa", "1234")
        assert again.returncode == 1 and "deactivated" in again.stderr
    finally:
        if serve is not None:
            stop(serve)
        stop(provision)
