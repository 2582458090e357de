"""Laser/imager scanners: DataWedge and Bluebird broadcasts (recorded extras), the Android 14 receiver flags,
keyboard wedge timing, evdev events, a serial scanner on a real pty pair, the laser-mode setting."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from agent.ledger import Ledger
from drivers.scanners import bluebird, datawedge
from drivers.scanners.android import RECEIVER_EXPORTED, RECEIVER_NOT_EXPORTED, ScannerReceiver, receiver_flags
from drivers.scanners.evdev_source import EvdevSource, ScannerError, keys_to_chars
from drivers.scanners.reads import IgnoredRead, ScanRead, clean_scan
from drivers.scanners.serial_source import SerialFramer, SerialSource
from drivers.scanners.settings import ScannerSettings, load, receiver_actions, save
from drivers.scanners.wedge import WedgeAssembler
from drivers.testkit.tickets import Issuer

DATA = Path(__file__).parent / "data" / "drivers"


def _load(name):
    return json.loads((DATA / name).read_text())


def _check(read, expect):
    if "text" in expect:
        assert isinstance(read, ScanRead), read
        assert read.text == expect["text"]
        if "symbology" in expect:
            assert read.symbology == expect["symbology"]
    else:
        assert isinstance(read, IgnoredRead), read
        assert expect["ignored"] in read.reason


@pytest.mark.parametrize("case", _load("datawedge_intents.json")["scans"], ids=lambda c: c["name"])
def test_datawedge_recorded_intents(case):
    _check(datawedge.parse_scan_intent(case["action"], case["extras"]), case["expect"])


@pytest.mark.parametrize("case", _load("bluebird_broadcasts.json")["broadcasts"], ids=lambda c: c["name"])
def test_bluebird_recorded_broadcasts(case):
    _check(bluebird.parse_broadcast(case["action"], case["extras"]), case["expect"])


def test_datawedge_profile_bundle_and_results():
    action, extras = datawedge.set_config_intent("ch.ticketgate.app")
    assert action == "com.symbol.datawedge.api.ACTION"
    cfg = extras["com.symbol.datawedge.api.SET_CONFIG"]
    assert cfg["PROFILE_NAME"] == "ticketgate" and cfg["CONFIG_MODE"] == "CREATE_IF_NOT_EXIST"
    assert cfg["APP_LIST"] == [{"PACKAGE_NAME": "ch.ticketgate.app", "ACTIVITY_LIST": ["*"]}]
    plugins = {p["PLUGIN_NAME"]: p["PARAM_LIST"] for p in cfg["PLUGIN_CONFIG"]}
    assert plugins["INTENT"] == {"intent_output_enabled": "true", "intent_action": "ch.ticketgate.SCAN",
                                 "intent_category": "android.intent.category.DEFAULT", "intent_delivery": "2"}
    assert plugins["BARCODE"]["decoder_qrcode"] == "true" and plugins["KEYSTROKE"]["keystroke_output_enabled"] == "false"
    ok, fail = _load("datawedge_intents.json")["results"]
    assert datawedge.parse_result(ok["extras"]) == (True, "DataWedge SET_CONFIG applied")
    assert datawedge.parse_result(fail["extras"]) == (False, "DataWedge refused SET_CONFIG: PLUGIN_BUNDLE_INVALID")
    assert datawedge.soft_trigger_intent("START_SCANNING")[1] == {"com.symbol.datawedge.api.SOFT_SCAN_TRIGGER": "START_SCANNING"}
    with pytest.raises(ValueError):
        datawedge.soft_trigger_intent("FIRE")


def test_bluebird_control_sequence_and_results():
    sent = []
    control = bluebird.BluebirdControl(lambda action, extras: sent.append((action, extras)))
    control.open(), control.trigger(True), control.close()
    assert [a.rsplit(".", 1)[-1] for a, _ in sent] == ["BARCODE_OPEN", "BARCODE_SET_TRIGGER", "BARCODE_CLOSE"]
    assert sent[1][1] == {"EXTRA_INT_DATA2": 1, "EXTRA_INT_DATA3": 2}
    assert bluebird.parse_request_result(bluebird.ACTION_REQUEST_FAILED, {"EXTRA_INT_DATA3": 2, "EXTRA_INT_DATA2": -3}) == \
        (2, False, "Bluebird scanner refused request 2 (error -3)")


def test_android14_receiver_is_registered_exported_and_survives_a_failing_callback():
    assert receiver_flags(30) is None and receiver_flags(33) == RECEIVER_EXPORTED
    assert receiver_flags(34, exported=False) == RECEIVER_NOT_EXPORTED
    registered, got = [], []

    def register(actions, flags, callback):
        registered.append((actions, flags, callback))
        return lambda: registered.clear()

    def on_broadcast(action, extras):
        got.append(bluebird.parse_broadcast(action, extras))
        if len(got) == 2:
            raise RuntimeError("ui busy")

    rx = ScannerReceiver(bluebird.RECEIVE_ACTIONS, on_broadcast, register=register, api=34)
    rx.start()
    rx.start()                                           # idempotent
    assert len(registered) == 1 and registered[0][1] == RECEIVER_EXPORTED
    callback = registered[0][2]
    case = _load("bluebird_broadcasts.json")["broadcasts"][0]
    callback(case["action"], case["extras"])
    callback(case["action"], case["extras"])
    callback("some.other.ACTION", {})
    assert [r.text for r in got] == [case["expect"]["text"]] * 2 and "ui busy" in rx.last_error
    rx.stop()
    assert not registered and not rx.active


def test_zebra_scan_through_the_real_gate(tmp_path):
    issuer = Issuer.create()
    payload = issuer.payload(ticket_id=31)
    gate = issuer.gate(tmp_path)
    extras = dict(_load("datawedge_intents.json")["scans"][0]["extras"])
    extras["com.symbol.datawedge.decode_data"] = [list(payload.encode())]
    read = datawedge.parse_scan_intent("ch.ticketgate.SCAN", extras)
    assert gate.scan(read.text).code.value == "accepted"
    half = datawedge.parse_scan_intent("ch.ticketgate.SCAN", {"com.symbol.datawedge.data_string": payload[:30]})
    assert gate.scan(half.text).code.value == "malformed"           # half a code: a verdict, not a crash


def _feed(wedge, keys):
    return [r for at, ch in keys if (r := wedge.feed(ch, at)) is not None]


def test_keyboard_wedge_recorded_timings():
    rec = _load("wedge_keystrokes.json")
    wedge = WedgeAssembler(inter_key_timeout=0.06)
    assert [r.text for r in _feed(wedge, rec["scanner_burst"])] == [rec["payload"]]
    typed = _feed(WedgeAssembler(), rec["human_typing"])
    assert len(typed) == 1 and isinstance(typed[0], IgnoredRead) and "typed, not scanned" in typed[0].reason
    reads = _feed(WedgeAssembler(), rec["half_code_then_scan"])
    assert isinstance(reads[0], IgnoredRead) and "incomplete code (20 characters" in reads[0].reason
    assert isinstance(reads[1], ScanRead) and reads[1].text == rec["payload"]
    wedge = WedgeAssembler()
    late = _feed(wedge, rec["burst_then_late_enter"])
    assert len(late) == 1 and "incomplete" in late[0].reason
    half = WedgeAssembler()
    _feed(half, rec["half_code_then_scan"][:20])
    assert half.poll(rec["half_code_then_scan"][19][0] + 0.01) is None
    assert "incomplete" in half.poll(rec["half_code_then_scan"][19][0] + 1).reason and half.pending == ""


def test_clean_scan_rejects_garbage():
    assert clean_scan(b"\x00\x00", "serial").reason == "empty read"
    assert "control characters" in clean_scan(b"AB\x07CD", "serial").reason
    assert "too long" in clean_scan(b"A" * 5000, "serial").reason
    assert clean_scan(b"]Q1\x1d0104", "serial").text == "]Q1\x1d0104"      # GS1 separator is kept


def test_evdev_recorded_events_and_open_failures(tmp_path):
    rec = _load("evdev_scan.json")
    wedge = WedgeAssembler(source="evdev")
    reads = [r for ch, at in keys_to_chars(map(tuple, rec["events"])) if (r := wedge.feed(ch, at))]
    assert [r.text for r in reads] == [rec["text"]]
    with pytest.raises(ScannerError, match="not found"):
        EvdevSource("/dev/input/event-missing", print).open()
    plain = tmp_path / "not-a-device"
    plain.write_bytes(b"")
    with pytest.raises(ScannerError, match="not an input device"):
        EvdevSource(str(plain), print).open()


def test_serial_scanner_on_a_pty_pair():
    master, slave = os.openpty()
    reads = []
    src = SerialSource(os.ttyname(slave), reads.append, inter_byte_timeout=0.15)
    src.start()
    try:
        os.write(master, b"TG1:ABC-123\r\n")
        os.write(master, b"\xff\xfe\x00\x81\r\n")          # garbage
        os.write(master, b"HALF-COD")                         # cable pulled mid-code
        deadline = time.monotonic() + 5
        while len(reads) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.write(master, b"4006381333931\n")
        while len(reads) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        src.stop()
        os.close(master), os.close(slave)
    assert isinstance(reads[0], ScanRead) and reads[0].text == "TG1:ABC-123" and reads[0].source == "serial"
    assert isinstance(reads[1], IgnoredRead) and "garbage" in reads[1].reason
    assert isinstance(reads[2], IgnoredRead) and "incomplete code (8 bytes" in reads[2].reason
    assert reads[3].text == "4006381333931"


def test_serial_port_missing_is_a_clear_error():
    with pytest.raises(ScannerError, match="cannot be opened"):
        SerialSource("/dev/ttyNOPE0", print).start()
    framer = SerialFramer()
    out = framer.feed(b"A" * 5000, 0.0)
    assert "too long" in out[0].reason


def test_laser_mode_setting_round_trip(tmp_path):
    ledger = Ledger.open(tmp_path / "l.sqlite")
    assert load(ledger).mode == "camera"
    save(ledger, ScannerSettings(mode="bluebird"))
    assert load(ledger).mode == "bluebird" and receiver_actions(load(ledger)) == bluebird.RECEIVE_ACTIONS
    assert receiver_actions(ScannerSettings(mode="zebra")) == ("ch.ticketgate.SCAN", datawedge.RESULT_ACTION)
    ledger.set_setting("scanner", {"mode": "telepathy"})
    assert load(ledger).mode == "camera"
    with pytest.raises(ValueError):
        ScannerSettings(mode="telepathy")
    ledger.close()


def test_router_sends_reads_from_every_laser_mode_to_the_gate(tmp_path):
    from drivers.scanners.router import ReadRouter, laser_receiver
    issuer = Issuer.create()
    gate = issuer.gate(tmp_path)
    verdicts = []
    router = ReadRouter(gate.scan, on_verdict=lambda v, read: verdicts.append((v.code.value, read.source)))
    registered = {}

    def register(actions, flags, callback):
        registered["cb"] = callback
        return lambda: None

    zebra = laser_receiver(ScannerSettings(mode="zebra"), router, register=register, api=34)
    zebra.start()
    registered["cb"]("ch.ticketgate.SCAN", {"com.symbol.datawedge.source": "scanner",
                                            "com.symbol.datawedge.data_string": issuer.payload(ticket_id=1)})
    bb = laser_receiver(ScannerSettings(mode="bluebird"), router, register=register, api=34)
    bb.start()
    registered["cb"](bluebird.ACTION_DECODING_DATA, {"EXTRA_BARCODE_DECODING_DATA": list(issuer.payload(ticket_id=2).encode()) + [0]})
    registered["cb"](bluebird.ACTION_DECODING_DATA, {"EXTRA_BARCODE_DECODING_DATA": [-1, -2, 0]})
    registered["cb"](bluebird.ACTION_REQUEST_FAILED, {"EXTRA_INT_DATA3": 5, "EXTRA_INT_DATA2": -1})
    assert laser_receiver(ScannerSettings(mode="keyboard"), router) is None
    wedge = WedgeAssembler()
    for i, ch in enumerate(issuer.payload(ticket_id=3) + "\n"):
        router.handle(wedge.feed(ch, 1.0 + i * 0.004))
    assert verdicts == [("accepted", "zebra"), ("accepted", "bluebird"), ("accepted", "keyboard")]
    assert router.ignored == {"garbage bytes (not UTF-8 text)": 1} and "refused request 5" in router.errors[0]

    def broken_scan(text):
        raise OSError("disk full")
    failing = ReadRouter(broken_scan)
    assert failing.handle(ScanRead("TG1:X", "serial")) is None and "disk full" in failing.errors[0]


def test_serial_scanner_unplugged_while_reading_is_a_clear_error():
    master, slave = os.openpty()
    reads = []
    src = SerialSource(os.ttyname(slave), reads.append)
    src.start()
    try:
        os.write(master, b"OK-1234\r")
        deadline = time.monotonic() + 5
        while not reads and time.monotonic() < deadline:
            time.sleep(0.02)
        os.close(master)                                  # the USB-serial adapter is pulled
        while not src.error and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        src.stop()
        os.close(slave)
    assert reads[0].text == "OK-1234" and "disconnected" in src.error
