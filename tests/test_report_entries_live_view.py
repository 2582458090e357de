"""`server report entries --out FILE` holds what `server stats` (the live view) shows: besides the entries per event,
zone, gate and hour, each device's entries and refusals, the refusals per verdict and the double entries. The file
had none of these: after the evening, the spreadsheet said nothing of the 2 tickets refused as already used or of
the door that refused them. Real `provision serve`, mosquitto and `server serve`, through the public commands."""
from __future__ import annotations

import csv
import io
import json

import pytest
from openpyxl import load_workbook

from tests.broker import mosquitto_binary
from tests.qa_organiser import tg
from tests.test_qa_skew import _event_now
from tests.test_qa_walks import _door, _sync

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def test_the_entries_file_has_the_devices_refusals_and_double_entries_of_the_live_view(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    payloads = _event_now(home)
    with _door(home):
        _sync(home)
        verdicts = [json.loads(tg(home, "agent", "scan", "--json", p).stdout)["verdict"]
                    for p in (payloads[0], payloads[0], payloads[1], payloads[0])]
        assert verdicts == ["accepted", "already_used", "accepted", "already_used"]
        assert _sync(home)["outbox_pending"] == 0
    live = json.loads(tg(home, "server", "stats", "--json").stdout)
    (device,) = live["devices"]
    assert live["refusals"] == {"already_used": 2} and live["double_entries"]["refused_already_used"] == 2

    out = tmp_path / "entries.xlsx"
    tg(home, "server", "report", "entries", "--out", str(out))
    header, *cells = load_workbook(out).active.iter_rows(values_only=True)
    rows = [dict(zip(header, r)) for r in cells]
    by = {(r["per"], r["key"]): r for r in rows}
    assert (by[("device", device)]["entries"], by[("device", device)]["refused"]) == (2, 2)
    assert by[("refusal", "already_used")]["refused"] == 2
    assert by[("double entry", "refused as already used")]["refused"] == 2
    assert by[("double entry", "admitted twice")]["entries"] == 0
    assert [(r["entries"], r["inside_now"]) for r in rows if r["per"] == "event"] == [(2, 2)]

    as_csv = tmp_path / "entries.csv"
    tg(home, "server", "report", "entries", "--out", str(as_csv))
    read = list(csv.DictReader(io.StringIO(as_csv.read_text(encoding="utf-8-sig"))))
    assert [(r["per"], r["key"], r["entries"], r["refused"]) for r in read] == [
        (r["per"], str(r["key"]), "" if r["entries"] in (None, "") else str(r["entries"]),
         "" if r["refused"] in (None, "") else str(r["refused"])) for r in rows]
