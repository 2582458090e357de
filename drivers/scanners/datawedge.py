"""Zebra DataWedge: parse the Intent-output broadcast, build the SET_CONFIG profile, soft trigger. Pure Python;
`drivers.scanners.android` turns these dicts into real Intents/Bundles on the device.

Extras are given as a dict (the Android side converts the Bundle); `decode_data` is a list of Java byte[]
(signed bytes), which is the exact content when the code holds binary or non-UTF-8 text.
"""
from __future__ import annotations

from drivers.scanners.reads import IgnoredRead, Read, clean_scan

API_ACTION = "com.symbol.datawedge.api.ACTION"
RESULT_ACTION = "com.symbol.datawedge.api.RESULT_ACTION"
EXTRA_SET_CONFIG = "com.symbol.datawedge.api.SET_CONFIG"
EXTRA_SOFT_TRIGGER = "com.symbol.datawedge.api.SOFT_SCAN_TRIGGER"
DATA_STRING = "com.symbol.datawedge.data_string"
LABEL_TYPE = "com.symbol.datawedge.label_type"
SOURCE = "com.symbol.datawedge.source"
DECODE_DATA = "com.symbol.datawedge.decode_data"
DEFAULT_OUTPUT_ACTION = "ch.ticketgate.SCAN"
PROFILE_NAME = "ticketgate"


def _java_bytes(chunk) -> bytes:
    if isinstance(chunk, (bytes, bytearray)):
        return bytes(chunk)
    return bytes(b & 0xFF for b in chunk)     # Java bytes are signed


def parse_scan_intent(action: str, extras: dict, expected_action: str = DEFAULT_OUTPUT_ACTION) -> Read:
    if action != expected_action:
        return IgnoredRead(f"not our DataWedge output action ({action})", "zebra")
    label = str(extras.get(LABEL_TYPE) or "")
    source = extras.get(SOURCE) or "scanner"
    if source not in ("scanner", "msr", "simulscan", "serial", "voice", "rfid"):
        return IgnoredRead(f"unknown DataWedge source {source!r}", "zebra")
    if source != "scanner":
        return IgnoredRead(f"DataWedge {source} input is not a barcode", "zebra")
    chunks = extras.get(DECODE_DATA)
    try:
        raw = b"".join(_java_bytes(c) for c in chunks) if chunks else None
    except (TypeError, ValueError):
        raw = None
    if raw is None:
        text = extras.get(DATA_STRING)
        if not isinstance(text, str):
            return IgnoredRead("DataWedge intent without data", "zebra")
        raw = text.encode("utf-8")
    return clean_scan(raw, "zebra", label)


def set_config(package: str, output_action: str = DEFAULT_OUTPUT_ACTION, profile: str = PROFILE_NAME,
               symbologies: tuple[str, ...] = ("qrcode",), keystroke: bool = False,
               config_mode: str = "CREATE_IF_NOT_EXIST") -> dict:
    """Bundle for SET_CONFIG: create our profile if missing (`UPDATE` to change an existing one), bound to our
    app, Intent output as a broadcast. APP_LIST goes as Bundle[], PLUGIN_CONFIG as ArrayList<Bundle>."""
    if config_mode not in ("CREATE_IF_NOT_EXIST", "UPDATE", "OVERWRITE"):
        raise ValueError(f"unknown DataWedge CONFIG_MODE {config_mode!r}")
    decoders = {f"decoder_{s}": "true" for s in symbologies}
    return {
        "PROFILE_NAME": profile,
        "PROFILE_ENABLED": "true",
        "CONFIG_MODE": config_mode,
        "APP_LIST": [{"PACKAGE_NAME": package, "ACTIVITY_LIST": ["*"]}],
        "PLUGIN_CONFIG": [
            {"PLUGIN_NAME": "BARCODE", "RESET_CONFIG": "true",
             "PARAM_LIST": {"scanner_selection": "auto", "scanner_input_enabled": "true", **decoders}},
            {"PLUGIN_NAME": "INTENT", "RESET_CONFIG": "true",
             "PARAM_LIST": {"intent_output_enabled": "true", "intent_action": output_action,
                            "intent_category": "android.intent.category.DEFAULT",
                            "intent_delivery": "2"}},                         # 2 = broadcast
            {"PLUGIN_NAME": "KEYSTROKE", "RESET_CONFIG": "true",
             "PARAM_LIST": {"keystroke_output_enabled": "true" if keystroke else "false"}},
        ],
    }


def set_config_intent(package: str, command_id: str = "ticketgate-profile", **kw) -> tuple[str, dict]:
    """(action, extras) to send: SET_CONFIG plus a request for the result broadcast."""
    return API_ACTION, {EXTRA_SET_CONFIG: set_config(package, **kw), "SEND_RESULT": "LAST_RESULT",
                        "COMMAND_IDENTIFIER": command_id}


def soft_trigger_intent(state: str = "TOGGLE_SCANNING") -> tuple[str, dict]:
    if state not in ("START_SCANNING", "STOP_SCANNING", "TOGGLE_SCANNING"):
        raise ValueError(f"unknown soft trigger state {state!r}")
    return API_ACTION, {EXTRA_SOFT_TRIGGER: state}


def parse_result(extras: dict) -> tuple[bool, str]:
    """The RESULT_ACTION broadcast after SET_CONFIG: (ok, message for the technician)."""
    result = extras.get("RESULT")
    info = extras.get("RESULT_INFO") or {}
    codes = info.get("RESULT_CODE") or ""
    command = extras.get("COMMAND") or ""
    if result == "SUCCESS":
        return True, f"DataWedge {command.rsplit('.', 1)[-1] or 'command'} applied"
    return False, f"DataWedge refused {command.rsplit('.', 1)[-1] or 'the command'}: {codes or 'no reason given'}"
