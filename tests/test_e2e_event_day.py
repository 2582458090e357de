"""The event day end to end, through the public commands only (`ticketgate …` in subprocesses), as docs/guides/
tell each role (issue 9, "Done when"):

  organiser   server init, event create (zones, categories), import-orders from CSV, push, serve, order cancel,
              stats --json, conflicts --json
  technician  provision serve --start-broker, tokens create, provision enroll (two doors and a kiosk), one door
              enrolled through the app's enrollment (kiosk_ui.adapters.enrollment, as Set-up drives it)
  doors       agent scan, agent sync (one door goes offline and comes back)
  kiosk       agent pay (payment received), agent exchange

Every device is a separate "machine": its own home folder ($TICKETGATE_HOME) and $HOME. At the end the server
accounts for every action of every device under its enrolled identity: nothing lost, nothing dropped, and the door
saw the cancellation.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.broker import free_port, mosquitto_binary
from tests.helpers import stop_process, wait_for_line

ROOT = Path(__file__).resolve().parent.parent
ORG = "acme"
pytestmark = [pytest.mark.slow, pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")]

ORDERS_CSV = """buyer_name;email;category;zone;quantity;status;order_ref
Ann Martin;ann@example.org;Adult;Floor;2;paid;A
Bob Roy;bob@example.org;Child;Balcony;1;paid;B
Cléo Petit;cleo@example.org;Adult;Floor;1;pending;C
Dan Moreau;dan@example.org;Adult;Floor;1;paid;D
Eve Blanc;eve@example.org;Adult;Balcony;1;paid;E
Finn Dubois;finn@example.org;Adult;Floor;1;paid;F
"""

APP_ENROLL = """
import sys
from pathlib import Path
from kiosk_ui.adapters import build_services
from kiosk_ui.controller import Controller
from kiosk_ui.door import Door
home = Path(sys.argv[1])
door = Door.open_home(home)
ctl = Controller(door, build_services(door, home, camera=False, feedback=False))
ctl.services.enrollment.enroll_with_qr(sys.argv[2])          # Set-up -> "Scan enrollment QR"
done = ctl.services.enrollment.wait(30)
assert done.step == "enrolled", done.message
ctl.after_enrollment()
door.set_identity("Porte nord 3", door.policy.gate)          # Set-up -> "Nom de l'appareil": a display name only
ctl.services.sync.stop()
print(door.policy.device_id)
door.close()
"""


class Machine:
    """One computer or handheld: its own $HOME and device home."""

    def __init__(self, root: Path, name: str):
        self.name, self.home = name, root / name
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETGATE_")}
        self.env.update(HOME=str(root / f"{name}-user"), PYTHONPATH=str(ROOT), TICKETGATE_HOME=str(self.home))
        self.verdicts: list[dict] = []

    def run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "agent", *args], cwd=ROOT, env=self.env, capture_output=True,
                              text=True, timeout=timeout)
        if check:
            assert proc.returncode == 0, f"{self.name}: ticketgate {' '.join(args)}\n{proc.stdout}\n{proc.stderr}"
        return proc

    def json(self, *args: str) -> object:
        return json.loads(self.run(*args, "--json").stdout)

    def start(self, *args: str, ready: str) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-m", "agent", *args], cwd=ROOT, env=self.env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if wait_for_line(proc, ready, 30):
            return proc
        proc.kill()
        raise AssertionError(f"{self.name}: {args} never said {ready!r}: {proc.stderr.read()}")

    # -- a device's day -----------------------------------------------------------------------------------------
    def scan(self, payload: str) -> dict:
        verdict = json.loads(self.run("agent", "scan", "--json", payload, check=False).stdout)
        self.verdicts.append(verdict)
        return verdict

    def sync(self) -> dict:
        out = self.run("agent", "sync", "--until-idle", "--for", "60", "--json", check=False)
        assert out.returncode == 0, f"{self.name}: sync did not finish: {out.stdout}\n{out.stderr}"
        return json.loads(out.stdout.strip().splitlines()[-1])

    def status(self) -> dict:
        return self.json("agent", "status")


def wait_status(organiser: Machine, srv: tuple, device_id: str, state: str, timeout: float = 15) -> bool:
    """`server devices` shows the device's presence as `state` within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if {d["device_id"]: d for d in organiser.json(*srv, "devices")}[device_id]["status"] == state:
            return True
        time.sleep(0.3)
    return False


stop = stop_process


def test_event_day_through_the_public_commands(tmp_path):
    organiser = Machine(tmp_path, "organiser")
    data = str(tmp_path / "organiser-data")
    srv = ("server", "--data", data)

    # -- organiser: organiser, event with zones and categories, orders from CSV (docs/guides/*/organiser.md) ----
    organiser.run(*srv, "init", "--org", ORG, "--name", "Acme Festival")
    now = datetime.now(timezone.utc)
    organiser.run(*srv, "event", "create", "--name", "Opening night", "--start",
                  (now - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M"), "--end",
                  (now + timedelta(hours=6)).strftime("%Y-%m-%d %H:%M"), "--tz", "UTC",
                  "--zone", "1=Floor", "--zone", "2=Balcony", "--category", "1=Adult", "--category", "2=Child:With an adult")
    csv = tmp_path / "orders.csv"
    csv.write_text(ORDERS_CSV, encoding="utf-8")
    imported = organiser.json(*srv, "import-orders", str(csv), "--event", "1")
    assert (imported["orders"], imported["tickets"]) == (6, 7)
    orders = {o["buyer_name"].split()[0]: o["number"] for o in organiser.json(*srv, "order", "find", "example.org")}
    tickets = {name: [t["ticket_key"] for t in organiser.json(*srv, "order", "show", number)["tickets"]]
               for name, number in orders.items()}
    payload = {key: organiser.json(*srv, "ticket", "show", key)["payload"]
               for keys in tickets.values() for key in keys}

    # -- technician: provisioning server and broker, tokens (docs/guides/*/technician.md) ------------------------
    http_port, broker_port = free_port(), free_port()
    provision = organiser.start("provision", "serve", "--data", data, "--org", ORG, "--start-broker",
                                "--listen", "127.0.0.1", "--port", str(http_port), "--advertise", "127.0.0.1",
                                "--broker-port", str(broker_port), "--no-zeroconf", ready="enrollment endpoint")
    serve = None
    try:
        doors = organiser.run("provision", "tokens", "create", "--data", data, "--org", ORG, "--count", "3",
                              "--gate", "north", "--events", "1", "--out", str(tmp_path / "doors.png")).stdout
        kiosks = organiser.run("provision", "tokens", "create", "--data", data, "--org", ORG, "--count", "1",
                               "--gate", "desk", "--role", "kiosk", "--events", "1",
                               "--out", str(tmp_path / "kiosks.png")).stdout
        door_codes = re.findall(r"code (\w{4}-\w{4})", doors)
        kiosk_code = re.findall(r"code (\w{4}-\w{4})", kiosks)[0]
        qr_texts = organiser.json("decode", str(tmp_path / "doors.png"))["texts"]
        assert len(door_codes) == 3 and len(qr_texts) == 3

        # two doors and the kiosk: `ticketgate provision enroll` on each device, no --dir
        door1, door2, kiosk, door3 = (Machine(tmp_path, n) for n in ("door1", "door2", "kiosk", "door3"))
        endpoint = f"127.0.0.1:{http_port}"
        for machine, code in ((door1, door_codes[0]), (door2, door_codes[1]), (kiosk, kiosk_code)):
            out = machine.run("provision", "enroll", "--code", code, "--server", endpoint).stdout
            assert "login OK" in out, out
        # the third door through the app's Set-up screen (enrollment QR), then renamed there
        app = subprocess.run([sys.executable, "-c", APP_ENROLL, str(door3.home), qr_texts[2]], cwd=ROOT,
                             env=door3.env, capture_output=True, text=True, timeout=120)
        assert app.returncode == 0, app.stderr
        ids = {m.name: m.json("provision", "status")["device_id"] for m in (door1, door2, kiosk, door3)}
        assert app.stdout.strip() == ids["door3"], "renaming in Set-up changed the device id"
        assert len(set(ids.values())) == 4 and all(i.startswith("dev-") for i in ids.values())
        assert kiosk.json("provision", "status")["role"] == "kiosk"
        registered = {d["device_id"]: d for d in organiser.json("provision", "devices", "--data", data, "--org", ORG)}
        assert set(registered) == set(ids.values())

        # -- organiser: sync server and push on the technician's broker (the login provision serve wrote) --------
        serve = organiser.start(*srv, "serve", ready="sync server on")
        pushed = organiser.json(*srv, "push")
        assert pushed["devices"] == 4

        for m in (door1, door2, kiosk, door3):
            got = m.sync()
            assert got["device_id"] == ids[m.name] and got["bundle_version"] > 0, got
            status = m.status()
            assert status["policy"]["device_id"] == ids[m.name], "the device acts as its enrolled identity"
            assert status["counts"]["tickets"] == 7
        assert door3.status()["policy"]["gate"] == "north"

        # -- doors scan; the second door learns the first door's entries ------------------------------------------
        assert door1.scan(payload[tickets["Ann"][0]])["verdict"] == "accepted"
        assert door1.scan(payload[tickets["Bob"][0]])["verdict"] == "accepted"
        door1.sync()
        door2.sync()
        used = door2.scan(payload[tickets["Ann"][0]])
        assert used["verdict"] == "already_used" and used["first_use"]["device"] == ids["door1"]
        assert door2.scan(payload[tickets["Ann"][1]])["verdict"] == "accepted"
        assert door2.scan(payload[tickets["Cléo"][0]])["verdict"] == "unpaid"
        door2.sync()

        # -- the kiosk: payment received for Cléo, Dan's ticket exchanged -------------------------------------------
        kiosk.run("agent", "pay", orders["Cléo"])
        kiosk.run("agent", "exchange", tickets["Dan"][0], "--reason", "torn ticket")
        kiosk.sync()
        assert organiser.json(*srv, "order", "show", orders["Cléo"])["status"] == "paid"
        dan = organiser.json(*srv, "order", "show", orders["Dan"])["tickets"]
        assert len(dan) == 2 and sum(1 for t in dan if t["revoked"]) == 1, dan

        # -- the organiser cancels Eve's order; the door refuses her ticket after its sync ---------------------------
        organiser.run(*srv, "order", "cancel", orders["Eve"], "--reason", "refunded")
        # the server announces changes as it sees them; the door takes what arrived each time it syncs
        for _ in range(20):
            door1.sync()
            knows = door1.status()["counts"]["revocations"] >= 2                  # Dan's old ticket, Eve's
            paid = [t["order_status"] for t in door1.json("agent", "search", orders["Cléo"])] == ["paid"]
            if knows and paid:
                break
        else:
            pytest.fail("the door never learnt the cancellation, the exchange and the payment")
        eve = door1.scan(payload[tickets["Eve"][0]])
        assert eve["verdict"] == "revoked" and "refunded" in eve["detail"], eve      # the app: CANCELLED TICKET
        dan_old = door1.scan(payload[tickets["Dan"][0]])
        assert dan_old["verdict"] == "revoked" and "exchanged" in dan_old["detail"], dan_old
        assert door1.scan(payload[tickets["Cléo"][0]])["verdict"] == "accepted"

        # -- door2 online, then gone (battery, Wi-Fi): its Last Will tells the organiser; offline it admits Finn;
        #    door3, online, admits Finn too; door2 comes back ---------------------------------------------------------
        live = door2.start("agent", "sync", ready="online")
        try:
            assert wait_status(organiser, srv, ids["door2"], "online")
        finally:
            live.kill()                                     # no goodbye: the broker publishes the Last Will
            live.wait(10)
        assert wait_status(organiser, srv, ids["door2"], "offline"), "the organiser never saw door2 go offline"
        assert door2.scan(payload[tickets["Finn"][0]])["verdict"] == "accepted"
        assert door3.scan(payload[tickets["Finn"][0]])["verdict"] == "accepted"
        assert door2.status()["counts"]["outbox_pending"] > 0
        door3.sync()
        door2.sync()
        for m in (door1, door2, kiosk, door3):
            m.sync()
            status = m.status()
            assert status["counts"]["outbox_pending"] == 0, m.name                # nothing left to send
            assert status.get("refused_uploads") == [], (m.name, status.get("refused_uploads"))   # nothing refused

        # -- the organiser's accounts: every action of every device, under its enrolled identity --------------------
        stats = organiser.json(*srv, "stats")
        devices = stats["devices"]
        assert set(devices) <= set(ids.values()), f"actions under an id nobody enrolled: {set(devices) - set(ids.values())}"
        for m in (door1, door2, door3):
            did = ids[m.name]
            assert devices[did]["scans"] == len(m.verdicts), (m.name, devices[did], m.verdicts)
            assert devices[did]["entries"] == sum(v["verdict"] == "accepted" for v in m.verdicts), m.name
        assert stats["entries"] == 6        # Ann x2, Bob, Cléo, Finn twice
        assert stats["double_entries"] == {"refused_already_used": 1, "conflicts": 1, "exchanged_after_entry": 0,
                                           "admitted_after_refund": 0, "admitted_and_cancelled": 0}
        conflicts = organiser.json(*srv, "conflicts")
        assert [c["ticket_key"] for c in conflicts] == [tickets["Finn"][0]]
        assert {a["device_id"] for a in conflicts[0]["admissions"]} == {ids["door2"], ids["door3"]}
        known = {d["device_id"]: d for d in organiser.json(*srv, "devices")}
        assert set(known) == set(ids.values())
        assert all(d["refused_uploads"] == 0 for d in known.values()), known     # nothing any device sent was refused
        assert organiser.json(*srv, "refusals") == []
    finally:
        if serve is not None:
            stop(serve)
        stop(provision)
