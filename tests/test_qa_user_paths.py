"""Paths a user walks through the public commands (`ticketgate …` in subprocesses, fresh HOME), found broken by
outside testing: each test fails on the defect it names."""
from __future__ import annotations

import contextlib
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.broker import free_port, mosquitto_binary
from tests.helpers import stop_process
from tests.qa_organiser import ROOT, _env, _start, organiser_running, tg  # noqa: F401 (also used by other tests)


def _private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


@pytest.fixture
def organiser(tmp_path):
    """The organiser's guide, first commands: init, an event with zones and categories, an order."""
    home = tmp_path / "home"
    home.mkdir()
    tg(home, "server", "init", "--org", "acme", "--name", "Acme Festival")
    tg(home, "server", "event", "create", "--name", "Opening night", "--start", "2026-07-01 18:00", "--end",
       "2026-07-02 02:00", "--tz", "Europe/Paris", "--zone", "1=Floor", "--category", "1=Adult")
    tg(home, "server", "order", "add", "--event", "1", "--buyer", "Ann Martin", "--email", "ann@example.org",
       "--quantity", "2", "--ticket", "category=Adult,zone=Floor")
    return home


def test_secret_sheets_and_etickets_are_0600(organiser, tmp_path):
    """Token sheets (a code enrolls a device), the Wi-Fi QR (the hotspot password) and e-tickets (a signed QR gets
    its holder in, with the buyer's name and e-mail) were written 0644, readable by every user of the laptop."""
    home = organiser
    out = tmp_path / "out"
    out.mkdir()
    tg(home, "provision", "tokens", "create", "--org", "acme", "--count", "2", "--gate", "north", "--events", "1",
       "--out", str(out / "doors.pdf"))
    tg(home, "provision", "tokens", "create", "--org", "acme", "--count", "1", "--gate", "desk", "--role", "kiosk",
       "--events", "1", "--out", str(out / "kiosks.png"))
    tg(home, "provision", "wifi-qr", "--ssid", "Door Net", "--password", "event-2026", "--out", str(out / "wifi.png"))
    tg(home, "provision", "wifi-qr", "--ssid", "Door Net", "--password", "event-2026", "--out", str(out / "wifi.svg"))
    tg(home, "server", "export-etickets", "--event", "1", "--out", str(out / "etickets"), "--format", "both")
    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert {p.suffix for p in files} == {".pdf", ".png", ".svg"} and len(files) >= 7, files
    assert [p.name for p in files if not _private(p)] == []
    assert (out / "doors.pdf").read_bytes().startswith(b"%PDF")
    assert (out / "wifi.png").read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in (out / "wifi.svg").read_bytes()


def _broker_login_works(creds: dict) -> bool:
    import paho.mqtt.client as mqtt
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{creds['username']}")
    client.username_pw_set(creds["username"], creds["password"])
    try:
        return client.connect(creds["broker"]["host"], creds["broker"]["port"], keepalive=5) == 0 and \
            client.loop(timeout=2.0) == 0 and client.is_connected()
    except OSError:
        return False
    finally:
        client.disconnect()


@pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")
def test_server_device_revoke_cuts_the_broker_login(organiser):
    """Organiser's guide: "If a device is lost or stolen, revoke it" (`server device revoke`). The store refused
    its uploads, but its broker login still worked: a stolen door kept reading every live update of its events.
    With `provision serve` running, the login is now cut within seconds and the wipe sent."""
    import json
    home = organiser
    http_port, broker_port = free_port(), free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "agent", "provision", "serve", "--org", "acme", "--start-broker", "--listen",
         "127.0.0.1", "--port", str(http_port), "--advertise", "127.0.0.1", "--no-zeroconf", "--broker-port",
         str(broker_port), "--for", "90"],
        cwd=ROOT, env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "enrollment endpoint" in serve.stdout.readline()
        sheet = tg(home, "provision", "tokens", "create", "--org", "acme", "--count", "1", "--gate", "north",
                   "--events", "1", "--out", str(home / "doors.pdf")).stdout
        code = sheet.split("code ")[-1].split()[0]
        tg(home, "provision", "enroll", "--code", code, "--server", f"127.0.0.1:{http_port}")
        creds = json.loads((home / "device" / "credentials.json").read_text())
        assert _broker_login_works(creds)
        tg(home, "server", "device", "revoke", creds["device_id"])
        deadline = time.monotonic() + 15
        while _broker_login_works(creds) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not _broker_login_works(creds), "a revoked device still logs in to the broker"
        said = [serve.stdout.readline() for _ in range(3)]      # broker line, enrolled #1, revoked
        assert any(f"revoked {creds['device_id']}: broker login removed" in line for line in said), said
    finally:
        stop_process(serve)


_stop = stop_process


@contextlib.contextmanager
def _enrolled_door(home: Path, *, gate: str, events: str, role: str = "door",
                   device: Callable[..., subprocess.CompletedProcess] = tg) -> Iterator[None]:
    """The technician's and organiser's set-up through the public commands: `provision serve` with its broker,
    `server serve`, one token for `gate` on `events`, and this home's device enrolled with it (by `device`, a
    `tg`-like runner: the device's own clock)."""
    with organiser_running(home, seconds=120) as running:
        running.enroll(home, gate, events, role, device)
        yield


@pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")
def test_rollback_of_a_stolen_doors_quick_cancellations_restores_the_order(organiser):
    """A stolen door quick-cancels every ticket of a paid order (the server cancels the order); the organiser
    revokes the door and rolls it back (organiser's guide). The cancellations were annulled but the order stayed
    cancelled, so its buyers were still refused at every door."""
    import json
    home = organiser
    now = time.time()
    day = time.strftime("%Y-%m-%d", time.gmtime(now - 86400))
    tomorrow = time.strftime("%Y-%m-%d", time.gmtime(now + 86400))
    tg(home, "server", "event", "create", "--name", "Tonight", "--start", f"{day} 18:00", "--end", f"{tomorrow} 18:00",
       "--zone", "1=Floor", "--category", "1=Adult")
    order = json.loads(tg(home, "server", "order", "add", "--event", "2", "--buyer", "Pre Printed", "--quantity", "2",
                          "--ticket", "category=Adult,zone=Floor", "--json").stdout)
    tg(home, "server", "quota", "set", "2", "--capacity", "10")
    keys = [t["ticket_key"] for t in order["tickets"]]
    payloads = [json.loads(tg(home, "server", "ticket", "show", k, "--json").stdout)["payload"] for k in keys]
    with _enrolled_door(home, gate="box-office", events="2"):
        device = json.loads((home / "device" / "credentials.json").read_text())["device_id"]
        tg(home, "server", "push")
        tg(home, "agent", "sync", "--until-idle", "--for", "30")
        tg(home, "agent", "configure", "--mode", "quick_cancel")
        said = tg(home, "agent", "scan", "--json", stdin="\n".join(payloads) + "\n").stdout.splitlines()
        assert [json.loads(line)["verdict"] for line in said] == ["cancelled", "cancelled"]
        tg(home, "agent", "sync", "--until-idle", "--for", "30")
        assert json.loads(tg(home, "server", "order", "show", order["number"], "--json").stdout)["status"] == "cancelled"
        assert json.loads(tg(home, "server", "quota", "list", "2", "--json").stdout)[0]["sold"] == 0   # back on sale

        tg(home, "server", "device", "revoke", device)
        tg(home, "server", "device", "rollback", device, "--reason", "device stolen")
        after = json.loads(tg(home, "server", "order", "show", order["number"], "--json").stdout)
        assert after["status"] == "paid", after
        assert json.loads(tg(home, "server", "quota", "list", "2", "--json").stdout)[0]["sold"] == 2   # taken again


def test_the_sell_screen_dates_the_event_in_the_apps_language(tmp_path):
    """Kiosk guide, Sell tickets, with the app in French for an English event: amounts were French ("25,00 EUR")
    but the event's date on the button at the top stayed English ("Mon 30 Nov 2026"); the receipt keeps the
    event's language."""
    from kiosk_ui import i18n
    from kiosk_ui.adapters.desk import KioskDesk
    from kiosk_ui.demo_data import seed, seed_desk
    from kiosk_ui.presenters.cart import cart_view
    demo = seed(tmp_path)
    desk = KioskDesk(demo.door, tmp_path, clock=lambda: demo.now)
    seed_desk(demo, desk)
    target = next(t for t in desk.targets() if not t.is_pass)
    assert target.language == "en" and any(d in target.date_text for d in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"))
    try:
        i18n.set_language("fr")
        title = cart_view(target, {}, None).title
        assert any(d in title for d in ("lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim.")), title
        i18n.set_language("en")
        assert target.date_text in cart_view(target, {}, None).title
    finally:
        i18n.set_language("en")


def test_import_orders_names_the_line_with_a_field_missing(organiser, tmp_path):
    """Organiser's guide: "A line with a mistake stops the whole import and says which line". A line with one
    field too few made the delimiter guess fail, and the error blamed the header ("line 1: unknown column(s)")."""
    home = organiser
    orders = tmp_path / "orders.csv"
    orders.write_text("buyer_name;email;category;zone;quantity;status;order_ref\n"
                      "Ann Martin;ann@example.org;Adult;Floor;2;paid;A\n"
                      "Bob Roy;bob@example.org;Adult;Floor;1;pending\n", encoding="utf-8")
    before = tg(home, "server", "report", "participants", "--json").stdout
    for extra in (["--dry-run"], []):
        proc = tg(home, "server", "import-orders", str(orders), "--event", "1", *extra, ok=False)
        assert proc.returncode == 1
        assert "line 3: 6 fields, the header has 7" in proc.stdout + proc.stderr, proc.stdout + proc.stderr
        assert "line 1" not in proc.stdout + proc.stderr
    assert tg(home, "server", "report", "participants", "--json").stdout == before     # nothing half-imported
    orders.write_text('"buyer_name","email","category","zone"\n"Martin, Ann","ann@example.org","Adult","Floor"\n',
                      encoding="utf-8")
    assert "1 order(s)" in tg(home, "server", "import-orders", str(orders), "--event", "1").stdout


@pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")
def test_a_wiped_device_keeps_no_staff_list_nor_login(organiser):
    """Technician's guide: a revoked or wiped device keeps no personal data. The staff list (names, PIN hashes: a
    4-digit PIN falls to an offline search) and the supervisor's open session survived `provision wipe`, and
    were still there after the device was enrolled again."""
    import json
    home = organiser
    tg(home, "server", "staff", "add", "--name", "Sam Okafor", "--role", "supervisor", "--pin", stdin="5678\n")
    with _enrolled_door(home, gate="north", events="1"):
        tg(home, "server", "push")
        tg(home, "agent", "sync", "--until-idle", "--for", "30")
        tg(home, "agent", "login", "--staff", "Sam Okafor", "--pin", stdin="5678\n")
        status = json.loads(tg(home, "agent", "status", "--json").stdout)
        assert status["staff_on_device"] == 1 and status["on_duty"]["name"] == "Sam Okafor"

        tg(home, "provision", "wipe", "--yes")
        status = json.loads(tg(home, "agent", "status", "--json").stdout)
        assert status["staff_on_device"] == 0 and not status["on_duty"], status
        refused = tg(home, "agent", "login", "--staff", "Sam Okafor", "--pin", stdin="5678\n", ok=False)
        assert refused.returncode != 0
        ledger = (home / "device" / "ledger.sqlite").read_bytes()
        assert b"Sam Okafor" not in ledger


def test_tokens_output_and_status_json_read_cleanly(organiser, tmp_path):
    """`provision tokens create` piped or logged printed "rendering 1/2rendering 2/2" on the first line; `provision
    status --json` on a device not enrolled printed plain text."""
    import json
    home = organiser
    out = tg(home, "provision", "tokens", "create", "--org", "acme", "--count", "2", "--gate", "north", "--events",
             "1", "--out", str(tmp_path / "doors.pdf")).stdout
    assert any(line.startswith("2 door enrollment QR(s)") for line in out.splitlines()), out
    assert "rendering" not in out and "\r" not in out
    proc = tg(home, "provision", "status", "--json", ok=False)
    assert proc.returncode == 1 and json.loads(proc.stdout)["enrolled"] is False
