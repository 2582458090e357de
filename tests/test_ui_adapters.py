"""The app's adapters against the real parts: enrollment on the real endpoint + real mosquitto, then the sync's
online/offline badge; printers through the drivers to a printer socket on 127.0.0.1. No Kivy here."""
from __future__ import annotations

import time

import pytest

from agent.policy import Mode
from kiosk_ui import i18n
from kiosk_ui.adapters import build_services
from kiosk_ui.controller import Controller
from kiosk_ui.demo_data import seed
from kiosk_ui.door import Door
from tests.helpers import wait_for


@pytest.fixture(autouse=True)
def english():
    i18n.set_language("en")


def test_enroll_by_qr_then_online_then_offline(tmp_path):
    from tests.test_provision_env import ORG, provision_env
    with provision_env(tmp_path / "env") as env:
        token = env.prov.registry.create_tokens(ORG, 1, gate="north", events=tuple(env.events))[0]
        qr = env.prov.qr_for(token, env.server)
        home = tmp_path / "device"
        door = Door.open_home(home)
        ctl = Controller(door, build_services(door, home))
        try:
            assert ctl.services.sync.start() is False                # not enrolled yet: offline, and says why
            assert ctl.status().badge.startswith("OFFLINE")
            assert "not enrolled" in ctl.services.sync.status().detail
            first = ctl.services.enrollment.enroll_with_qr(qr.text())
            assert first.step == "contacting"
            done = ctl.services.enrollment.wait(20)
            assert done.step == "enrolled", done.message
            assert ctl.after_enrollment()
            assert door.policy.gate == "north" and door.policy.events == frozenset(env.events)
            assert door.keyring.keys, "the organiser's ticket keys were loaded"
            assert wait_for(lambda: ctl.services.sync.status().online, 15)
            assert ctl.status().badge == "Online · queue 0"
            env.broker.stop()
            assert wait_for(lambda: not ctl.services.sync.status().online, 15)
            assert ctl.status().badge.startswith("OFFLINE")
        finally:
            ctl.services.sync.stop()
            door.close()


def test_enrollment_refusals_are_plain_and_save_nothing(tmp_path):
    from tests.test_provision_env import ORG, provision_env
    with provision_env(tmp_path / "env") as env:
        token = env.prov.registry.create_tokens(ORG, 1, gate="north", events=tuple(env.events))[0]
        qr = env.prov.qr_for(token, env.server)
        home = tmp_path / "device"
        door = Door.open_home(home)
        svc = build_services(door, home).enrollment
        try:
            assert svc.enroll_with_qr("hello").step == "failed"
            assert "enrollment QR" in svc.progress().message
            assert svc.enroll_with_code("12").step == "failed"
            # a QR naming another organiser key (a rogue server): refused, nothing written
            rogue = qr.text().replace(qr.fingerprint, "0" * len(qr.fingerprint))
            svc.enroll_with_qr(rogue)
            outcome = svc.wait(20)
            assert outcome.step == "failed" and outcome.message
            assert not (home / "credentials.json").exists()
        finally:
            door.close()


def test_sync_with_damaged_credentials_keeps_the_door_working(tmp_path):
    home = tmp_path / "device"
    demo = seed(home)
    (home / "credentials.json").write_text("{not json")
    ctl = Controller(demo.door, build_services(demo.door, home))
    assert ctl.services.sync.start() is False
    assert "not enrolled" in ctl.services.sync.status().detail     # a damaged file is never trusted
    assert ctl.scan(demo.ticket(1001)).tone == "accepted"
    assert ctl.services.sync.status().queue == 1
    demo.door.close()


def test_zpl_printer_and_a_ticket_without_payload(tmp_path):
    from drivers.testkit.fake_printer import FakePrinter
    home = tmp_path / "device"
    demo = seed(home)
    ctl = Controller(demo.door, build_services(demo.door, home))
    with FakePrinter("zpl") as zebra:
        assert ctl.add_printer(f"127.0.0.1:{zebra.port}", language="zpl") == ""
        result = ctl.print_order("A-1003", reprint=True, ticket_keys=("1022",))
        assert result.ok and result.printed == 1 and len(zebra.jobs) == 1
        assert b"^XA" in zebra.last_job and b"Chlo" in zebra.last_job
        outbox = [body for _, kind, body in demo.door.ledger.outbox_pending() if kind == "kiosk"]
        assert outbox[-1]["action"] == "reprint" and outbox[-1]["tickets"] == ["1022"]
        ledger = demo.door.ledger
        ledger.conn.execute("UPDATE tickets SET payload=NULL WHERE ticket_key='1031'")
        refused = ctl.print_order("A-1004")
        assert not refused.ok and "No printable copy of ticket 1031" in refused.message
        assert len(zebra.jobs) == 1                                   # nothing half-printed
        # a payload the core cannot vouch for (another ticket's, or a flipped signature) is never printed
        other = ledger.ticket("1032")["payload"]
        ledger.conn.execute("UPDATE tickets SET payload=? WHERE ticket_key='1031'", (other,))
        assert "No printable copy of ticket 1031" in ctl.print_order("A-1004").message
        forged = other[:-3] + ("A" if other[-3] != "A" else "B") + other[-2:]
        ledger.conn.execute("UPDATE tickets SET payload=? WHERE ticket_key='1032'", (forged,))
        assert "No printable copy of ticket 1032" in ctl.print_order("A-1004", ticket_keys=("1032",)).message
        assert len(zebra.jobs) == 1
    assert ctl.add_printer("not an address at all") != ""
    demo.door.close()


def test_kiosk_exchange_takes_the_ticket_out_of_use(tmp_path):
    demo = seed(tmp_path / "device")
    door = demo.door
    with pytest.raises(ValueError):
        door.exchange("1002", " ")
    with pytest.raises(LookupError):
        door.exchange("999", "wrong date")
    door.exchange("1002", "Wrong date bought")
    ctl = Controller(door, build_services(door, tmp_path / "device"))
    view = ctl.scan(demo.ticket(1002))
    assert view.title == "TICKET CANCELLED" and "exchanged" in view.reason
    assert [b["action"] for _, k, b in door.ledger.outbox_pending() if k == "kiosk"] == ["exchange"]
    door.close()


def test_camera_decoder_falls_back_to_pyzbar_and_reads_a_ticket(tmp_path, monkeypatch):
    """Where zxing-cpp is missing (Android), the chain is pyzbar only — and still reads our TG1 QR."""
    import builtins

    import numpy as np
    import segno
    from PIL import Image

    from kiosk_ui.adapters.camera import decoder_chain
    demo = seed(tmp_path / "device")
    payload = demo.ticket(1001)
    png = tmp_path / "qr.png"
    segno.make(payload, error="m").save(str(png), scale=6, border=4)
    gray = np.asarray(Image.open(png).convert("L"))
    real_import = builtins.__import__

    def no_zxing(name, *args, **kw):
        if name == "zxingcpp":
            raise ImportError("no zxing-cpp on this platform")
        return real_import(name, *args, **kw)
    monkeypatch.setattr(builtins, "__import__", no_zxing)
    chain = decoder_chain()
    assert chain.primary.name == "pyzbar"
    assert chain.decode(gray).texts == (payload,)
    demo.door.close()


def test_counters_stats_and_conflicts_from_the_ledger(tmp_path):
    from kiosk_ui import door_queries
    demo = seed(tmp_path / "device")
    door = demo.door
    door.scan(demo.ticket(1001))
    door.scan(demo.ticket(1002))
    door.ledger.merge_remote([{"scan_uuid": "remote-1", "kind": "entry", "ticket_key": "1001", "event_id": 1,
                               "direction": "in", "at": demo.now - 60, "device_id": "tablet-9", "gate": "South"},
                              {"scan_uuid": "remote-2", "kind": "entry", "ticket_key": "1011", "event_id": 1,
                               "direction": "out", "at": demo.now - 30, "device_id": "tablet-9", "gate": "South"}])
    assert door_queries.conflicts(door.ledger) == 1                 # 1001 let in at two devices
    assert door_queries.inside_now(door.ledger) == 2                # 3 in, 1 out
    assert ("South", 1, 1) in door.stats("gate") and ("North", 2, 0) in door.stats("gate")
    door.undo_last("Scanned by mistake")                             # annuls 1002
    assert door_queries.inside_now(door.ledger) == 1
    assert door.counters().accepted == 1 and door.counters().scanned == 2
    # a ticket's state in the lists is the core's decision now, nothing recorded (the checks in their one order)
    assert door.ticket_state("1002") == "valid" and door.ticket_state("1001") == "used"
    assert door.ticket_state("1011") == "valid"                      # its only movement was an exit
    assert door.ticket_state("1031") == "unpaid"
    assert door.ticket_state("1021") == "other_zone"                 # zone before revocation, as a scan would say
    assert door.ticket_state("1021", at_this_gate=False) == "revoked"   # the desk: any zone
    scanned = door.counters().scanned
    assert door.ticket_state("1002") == "valid" and door.counters().scanned == scanned   # judged, not recorded
    door.set_mode(Mode.ENTRY_EXIT)
    assert door.ticket_state("1001") == "inside"
    with pytest.raises(ValueError):
        door.stats("hour")
    door.close()


def test_enroll_with_organiser_code_after_discovery(tmp_path):
    """The code path: discovery (fed the endpoint zeroconf would announce — multicast on loopback is not reliable
    on CI machines), then the real enrollment with the typed code, with the progress steps the screen shows."""
    from kiosk_ui.adapters.enrollment import Enrollment
    from provisioning.device.discover import Found
    from provisioning.protocol import show_code
    from tests.test_provision_env import ORG, provision_env
    with provision_env(tmp_path / "env") as env:
        token = env.prov.registry.create_tokens(ORG, 1, gate="south", events=tuple(env.events),
                                                fingerprint=env.prov.fingerprint)[0]
        fingerprint = env.prov.qr_for(token, env.server).fingerprint
        announced = Found("ticketgate acme", "127.0.0.1", env.http.port, ORG, fingerprint, "1", False)
        lonely = Enrollment(tmp_path / "nobody", discover=lambda fits: [])
        assert lonely.enroll_with_code(show_code(token.code)).step == "discovering"
        assert lonely.wait(10).step == "failed" and "no server of this organiser code found" in lonely.progress().message
        svc = Enrollment(tmp_path / "device", discover=lambda fits: [announced])
        assert svc.enroll_with_code(show_code(token.code).lower()).fraction == 0.1
        done = svc.wait(20)
        assert done.step == "enrolled" and done.fraction == 1.0, done.message
        assert svc.credentials.gate == "south"


def _code_of(env, not_fitting: str) -> tuple[object, str]:
    """A token `env`'s server issued whose organiser code does not fit the server key `not_fitting` (1 in 30 would),
    and that code as printed."""
    from provisioning.protocol import code_fits, show_code
    from tests.test_provision_env import ORG
    for _ in range(50):
        token = env.prov.registry.create_tokens(ORG, 1, gate="south", events=tuple(env.events),
                                                fingerprint=env.prov.fingerprint)[0]
        if not code_fits(token.code, not_fitting):
            return token, show_code(token.code)
    raise AssertionError("50 codes in a row fit another key")


def _typed(body: str, fits: str | None = None, not_fitting: tuple[str, ...] = ()) -> str:
    """An organiser code nobody issued, starting with `body` (7 characters): fitting the key `fits`, or none of
    `not_fitting`."""
    from provisioning.protocol import CODE_ALPHABET, code_check
    last = code_check(fits, body) if fits else next(c for c in CODE_ALPHABET
                                                      if all(code_check(fp, body) != c for fp in not_fitting))
    return body + last


def test_a_code_enrolls_at_its_server_when_another_organisers_server_answers_first(tmp_path):
    """Two ticketgate servers on the hotspot (another organiser's laptop, or a server of another event): the typed
    code went to whichever answered zeroconf first, and there it was an "unknown organiser code"; then to the next.
    Now the code goes only to the server whose key it fits (its last character): the other never receives it."""
    from kiosk_ui.adapters.enrollment import Enrollment
    from provisioning.device.discover import Found
    from provisioning.device.enroll import enroll
    from tests.test_provision_env import ORG, provision_env
    asked: list[str] = []

    def enroll_asked(state, server, **kw):      # the real enrollment; which server got the code
        asked.append(server)
        return enroll(state, server, **kw)
    with provision_env(tmp_path / "other") as other, provision_env(tmp_path / "env") as env:
        token, code = _code_of(env, not_fitting=other.prov.fingerprint)
        announced = [Found("ticketgate acme-1", "127.0.0.1", other.http.port, ORG, other.prov.fingerprint, "1", False),
                     Found("ticketgate acme-2", "127.0.0.1", env.http.port, ORG, env.prov.fingerprint, "1", False)]
        svc = Enrollment(tmp_path / "device", discover=lambda fits: announced, enroll=enroll_asked)
        svc.enroll_with_code(code)
        done = svc.wait(20)
        assert done.step == "enrolled", done.message
        assert svc.credentials.gate == "south" and env.store.device(svc.credentials.device_id) is not None
        assert asked == [f"127.0.0.1:{env.http.port}"] and other.store.devices(ORG) == []
        fps = (other.prov.fingerprint, env.prov.fingerprint)
        lost = Enrollment(tmp_path / "lost", discover=lambda fits: announced)     # a code of neither
        lost.enroll_with_code(_typed("K7M2Q9X", not_fitting=fps))
        assert lost.wait(20).step == "failed" and "no server of this organiser code found" in lost.progress().message
        mistyped = Enrollment(tmp_path / "mistyped", discover=lambda fits: announced)     # fits one, not issued
        mistyped.enroll_with_code(_typed("K7M2Q9X", fits=other.prov.fingerprint))
        assert mistyped.wait(20).step == "failed" and "unknown organiser code" in mistyped.progress().message


def test_a_code_enrolls_at_its_server_when_another_server_on_the_hotspot_makes_it_wait(tmp_path):
    """The other server answering first throttles this address (429: too many wrong codes from here): that was
    final, though the code belongs to the next server. A code that fits the waiting server is told to wait."""
    from kiosk_ui.adapters.enrollment import Enrollment
    from provisioning.device.discover import Found
    from tests.test_provision_env import ORG, provision_env
    with provision_env(tmp_path / "other") as other, provision_env(tmp_path / "env") as env:
        for _ in range(10):
            other.prov.service.throttle.failed("127.0.0.1")
        token, code = _code_of(env, not_fitting=other.prov.fingerprint)
        announced = [Found("ticketgate acme-1", "127.0.0.1", other.http.port, ORG, other.prov.fingerprint, "1", False),
                     Found("ticketgate acme-2", "127.0.0.1", env.http.port, ORG, env.prov.fingerprint, "1", False)]
        svc = Enrollment(tmp_path / "device", discover=lambda fits: announced)
        svc.enroll_with_code(code)
        assert svc.wait(20).step == "enrolled", svc.progress().message
        lost = Enrollment(tmp_path / "lost", discover=lambda fits: announced)
        lost.enroll_with_code(_typed("K7M2Q9X", fits=other.prov.fingerprint))
        assert lost.wait(20).step == "failed" and "429" in lost.progress().message


class RecordedBroadcasts:
    """Stands in for Android's registerReceiver (no Android here): keeps the callback so the test can deliver
    broadcasts shaped like the ones DataWedge / the Bluebird service send."""

    def __init__(self):
        self.actions, self.flags, self.callback, self.unregistered = (), None, None, False

    def __call__(self, actions, flags, callback):
        self.actions, self.flags, self.callback = actions, flags, callback
        return lambda: setattr(self, "unregistered", True)


def test_zebra_and_bluebird_broadcasts_reach_the_gate(tmp_path):
    from drivers.scanners import bluebird, datawedge, settings as scanner_settings
    from kiosk_ui.adapters.lasers import LaserInput
    demo = seed(tmp_path / "device")
    ctl = Controller(demo.door, build_services(demo.door, tmp_path / "device"))
    views = []
    scanner_settings.save(demo.door.ledger, scanner_settings.ScannerSettings(mode="zebra"))
    android = RecordedBroadcasts()
    sent = []
    send = lambda action, extras: sent.append(action)      # noqa: E731 (stands in for Android's sendBroadcast)
    zebra = LaserInput(demo.door.ledger, register=android, api=34, send=send, package="org.ticketgate.ticketgate")
    assert zebra.start(lambda text: views.append(ctl.scan(text)))
    assert android.actions == ("ch.ticketgate.SCAN", datawedge.RESULT_ACTION) and android.flags == 0x2   # exported on Android 14
    assert sent == [datawedge.API_ACTION]                                              # the profile, at start
    payload = demo.ticket(1001)
    android.callback("ch.ticketgate.SCAN", {datawedge.DATA_STRING: payload + "\n", datawedge.SOURCE: "scanner",
                                            datawedge.LABEL_TYPE: "LABEL-TYPE-QRCODE"})
    android.callback("ch.ticketgate.SCAN", {datawedge.SOURCE: "msr", datawedge.DATA_STRING: "%B4111"})
    zebra.stop()
    assert android.unregistered and [v.title for v in views] == ["ACCEPTED — IN"]
    assert zebra.ignored[-1] == ("zebra", "DataWedge msr input is not a barcode")

    scanner_settings.save(demo.door.ledger, scanner_settings.ScannerSettings(mode="bluebird"))
    android = RecordedBroadcasts()
    bb = LaserInput(demo.door.ledger, register=android, api=30, send=send, package="org.ticketgate.ticketgate")
    assert bb.start(lambda text: views.append(ctl.scan(text)))
    assert android.flags is None and sent[-1] == bluebird.ACTION_OPEN                # before API 33
    signed = [b - 256 if b > 127 else b for b in demo.ticket(1002).encode()] + [0, 0]   # Java bytes, NUL padded
    android.callback(bluebird.ACTION_DECODING_DATA, {bluebird.EXTRA_DATA: signed, bluebird.EXTRA_SYMBOLOGY: 27})
    android.callback(bluebird.ACTION_DECODING_DATA, {bluebird.EXTRA_DATA: [-1, -2, -3]})
    assert [v.title for v in views] == ["ACCEPTED — IN", "ACCEPTED — IN"]
    assert bb.ignored[-1][1] == "garbage bytes (not UTF-8 text)"
    demo.door.close()


def test_laser_modes_that_need_no_source(tmp_path):
    from drivers.scanners import settings as scanner_settings
    from kiosk_ui.adapters.lasers import LaserInput
    demo = seed(tmp_path / "device")
    assert LaserInput(demo.door.ledger).start(lambda text: None) is False             # camera mode (default)
    scanner_settings.save(demo.door.ledger, scanner_settings.ScannerSettings(mode="keyboard",
                                                                              serial_port="/dev/nonexistent-tty"))
    serial = LaserInput(demo.door.ledger)
    assert serial.start(lambda text: None) is False and "keyboard scanner not started" in serial.error
    scanner_settings.save(demo.door.ledger, scanner_settings.ScannerSettings(mode="keyboard",
                                                                              evdev_path="/dev/input/event-missing"))
    wedge = LaserInput(demo.door.ledger)                  # an input device that is gone: said, and stopped cleanly
    assert wedge.start(lambda text: None) is False and "keyboard scanner not started" in wedge.error
    assert wedge.source is None
    demo.door.close()


def test_scanner_mode_switch_behind_pin_restarts_the_laser(tmp_path):
    demo = seed(tmp_path / "device")
    ctl = Controller(demo.door, build_services(demo.door, tmp_path / "device"))
    assert ctl.scanner_mode() == "camera"
    ctl.lock.set_pin("2468")
    ctl.lock.lock()
    assert ctl.set_scanner_mode("keyboard") is False and ctl.scanner_mode() == "camera"
    assert ctl.lock.unlock("2468") == "ok"
    assert ctl.set_scanner_mode("keyboard") is True
    assert ctl.scanner_mode() == "keyboard" and demo.door.ledger.get_setting("scanner")["mode"] == "keyboard"
    demo.door.close()


def test_feedback_settings_and_overrides_reach_screen_and_sound(tmp_path):
    """The app plays what drivers.feedback.feedback_for says for this device: repeats silent, sound switched off in
    Set-up (PIN), a verdict moved to another kind by the organiser's override."""
    t = [1_790_000_000.0]
    demo = seed(tmp_path / "device", now=t[0], clock=lambda: t[0])
    ctl = Controller(demo.door, build_services(demo.door, tmp_path / "device"), clock=lambda: t[0])
    played = ctl.services.feedback.played
    first = ctl.scan(demo.ticket(1001))
    t[0] += 1
    again = ctl.scan(demo.ticket(1001))
    assert (first.tone, again.tone) == ("accepted", "repeat") and played == ["accept", "silent"]
    demo.door.ledger.set_setting("feedback", {"overrides": {"wrong_zone": "attention"}})
    moved = ctl.scan(demo.ticket(1021, zones=(2,)))
    assert (moved.title, moved.tone, played[-1]) == ("WRONG ZONE", "attention", "attention")
    ctl.lock.set_pin("4321")
    ctl.lock.lock()
    assert ctl.set_feedback(sound=False) is False                    # behind the PIN
    assert ctl.lock.unlock("4321") == "ok" and ctl.set_feedback(sound=False)
    t[0] += 10
    ctl.scan(demo.ticket(1001))
    assert played[-1] == "silent" and ctl.feedback.overrides == {"wrong_zone": "attention"}   # the rest kept
    demo.door.close()


def test_undo_says_what_it_takes_back(tmp_path):
    """'Undo entry' takes back an entry; in quick cancellation the same button puts the ticket back in use."""
    demo = seed(tmp_path / "device")
    ctl = Controller(demo.door, build_services(demo.door, tmp_path / "device"))
    ctl.scan(demo.ticket(1001))
    assert ctl.undo_last("Scanned by mistake") == "Entry of ticket 1001 undone."
    assert ctl.door.counters().accepted == 0 and ctl.door.ticket_state("1001") == "valid"
    assert ctl.set_mode(Mode.QUICK_CANCEL)
    assert ctl.scan(demo.ticket(1002)).tone == "cancel"
    assert ctl.undo_last("Scanned by mistake") == "Ticket 1002 is valid again (cancellation undone)."
    assert ctl.set_mode(Mode.NORMAL) and ctl.scan(demo.ticket(1002)).title == "ACCEPTED — IN"
    assert ctl.undo_last("Scanned by mistake").startswith("Entry of ticket 1002")
    assert ctl.undo_last("Scanned by mistake") == "Nothing to undo."          # one undo per action, never twice
    demo.door.close()


def test_the_demo_s_tickets_are_valid_at_any_hour_of_the_day(tmp_path):
    """The demo device (and the tests built on it) judges tonight's tickets inside their window whatever the hour
    it runs at: its event once started at 17:00 UTC, so from midnight to 11:00 UTC every ticket was 'not yet valid'."""
    midnight = time.time() - time.time() % 86400
    states = {}
    for hour in range(24):
        now = midnight + hour * 3600 + 900
        demo = seed(tmp_path / f"device-{hour}", now=now, clock=lambda now=now: now)
        states[hour] = (demo.door.ticket_state("1002"), demo.door.scan(demo.ticket(1002)).code.value)
        demo.door.close()
    assert {h: s for h, s in states.items() if s != ("valid", "accepted")} == {}


def test_undo_of_an_entry_uploaded_before_a_wipe_says_only_the_organiser_can(tmp_path):
    """A door wiped and enrolled again (its check-ins become the new id's, agent.home.store_identity) whose last
    entry the server holds under the old id: 'Undo entry' said 'Nothing to undo.' (the core refuses it, the server
    would); it says who may, and the entry stays counted."""
    from dataclasses import replace as _replace
    demo = seed(tmp_path / "device")
    ctl = Controller(demo.door, build_services(demo.door, tmp_path / "device"))
    ctl.scan(demo.ticket(1001))
    ledger = demo.door.ledger
    ledger.outbox_ack([i for i, _, _ in ledger.outbox_pending()])        # uploaded as handheld-3, acknowledged
    ledger.adopt_device_id("handheld-3", "dev-new")                       # enrolled again (store_identity)
    demo.door.gate.set_policy(_replace(demo.door.gate.policy, device_id="dev-new"))
    assert ctl.undo_last("Scanned by mistake") == ("Only the organiser can undo the last entry here (it is "
                                                   "handheld-3's on the server).")
    assert ctl.door.ticket_state("1001") != "valid" and ledger.outbox_size() == 0     # nothing annulled, nothing sent
    demo.door.close()
