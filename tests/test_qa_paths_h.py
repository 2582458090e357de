"""Paths across parts walked through the public commands (`ticketgate …` subprocesses, fresh HOME, real SQLite):
the organiser's reports and prices, the technician's token sheets, the door's settings. Each test fails on the
defect it names."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.broker import mosquitto_binary
from tests.test_qa_skew import _event_now
from tests.test_qa_user_paths import tg


@pytest.fixture
def organiser(tmp_path) -> Path:
    """An organiser with event 1 (zone 1 Floor, category 1 Adult) open now and one paid order of two tickets."""
    home = tmp_path / "org"
    home.mkdir()
    (home / "payloads.json").write_text(json.dumps(_event_now(home)))
    return home


def _payloads(home: Path) -> list[str]:
    return json.loads((home / "payloads.json").read_text())


@pytest.mark.parametrize("report", ["participants", "sales", "entries"])
def test_a_report_of_an_event_that_does_not_exist_is_refused_not_empty(organiser, report):
    """`server report participants --event 99` (a typo for 9) printed "0 ticket(s); inside now: 0" and exited 0, and
    `--out` wrote an empty file: the organiser read that nobody came. `server stats --event 99` said "no event 99".
    Now every report (and `server conflicts`) names the unknown event and exits 1, and writes no file."""
    out = organiser / f"{report}.csv"
    said = tg(organiser, "server", "report", report, "--event", "99", "--out", str(out), ok=False)
    assert said.returncode == 1 and "no event or pass 99" in said.stderr, said
    assert not out.exists()
    tg(organiser, "server", "report", report, "--event", "1", "--out", str(out))    # its own event still reports
    assert out.exists()
    said = tg(organiser, "server", "conflicts", "--event", "99", ok=False)        # "no conflicts" before
    assert said.returncode == 1 and "no event or pass 99" in said.stderr, said


def test_a_price_for_a_category_the_event_does_not_have_is_refused(organiser):
    """`server price set 1 --category 2 --cents 1200` on an event whose only category is 1 (the organiser's guide
    sets Adult and Child; this event has Adult only) said "1 category 2: 12.00 EUR" and exited 0: the price list
    then showed a price no kiosk can sell and the missing one went unnoticed. Now it names the event's categories."""
    said = tg(organiser, "server", "price", "set", "1", "--category", "2", "--cents", "1200", "--currency", "CHF",
              ok=False)
    assert said.returncode == 1 and "category 2" in said.stderr and "1 (Adult)" in said.stderr, said
    prices = json.loads(tg(organiser, "server", "--json", "price", "list", "1").stdout)
    assert prices["prices"] == {} and prices["currency"] == "EUR", prices                # nothing changed
    tg(organiser, "server", "price", "set", "1", "--category", "1", "--cents", "2500")


@pytest.mark.parametrize("command", [("quota", "set", "1", "--zone", "2", "--capacity", "150"),
                                     ("quota", "set", "1", "--category", "2", "--capacity", "40"),
                                     ("promo", "add", "--target", "1", "--category", "2", "--x-for-y", "4:3")],
                         ids=["quota zone", "quota category", "promo"])
def test_a_quota_or_promotion_for_a_zone_or_category_the_event_does_not_have_is_refused(organiser, command):
    """`server quota set 1 --zone 2 --capacity 150` (the guide's Balcony, on an event with the Floor only) said
    "event 1 zone 2: 150 (0 sold, 150 left)" and exited 0: the limit meant for a real zone was set nowhere and the desks
    sold on. The same for a category quota and a promotion. Now each names the event's zones or categories."""
    said = tg(organiser, "server", *command, ok=False)
    what = "zone 2" if "--zone" in command else "category 2"
    assert said.returncode == 1 and f"no {what}" in said.stderr and ("1 (Floor)" in said.stderr
                                                                       or "1 (Adult)" in said.stderr), said
    listed = tg(organiser, "server", "--json", command[0], "list", *(["1"] if command[0] == "quota" else [])).stdout
    assert json.loads(listed) == [], listed


@pytest.mark.parametrize("hours", ["0", "-1", "nan"])
def test_a_token_sheet_valid_for_no_time_is_refused(organiser, hours):
    """`provision tokens create --ttl-hours -1` (or 0, or nan) printed a sheet "valid -1 h" of codes already
    expired: the technician found out at the first device ("this enrollment token has expired"). Now it is
    refused before any token is made or sheet written."""
    out = organiser / "doors.pdf"
    said = tg(organiser, "provision", "tokens", "create", "--org", "acme", "--count", "1", "--gate", "north",
              "--ttl-hours", hours, "--out", str(out), ok=False)
    assert said.returncode == 1 and "--ttl-hours" in said.stderr and "code " not in said.stdout, said
    assert not out.exists()


@pytest.mark.parametrize("seconds", ["-1", "nan", "1e9"])
def test_a_reread_window_out_of_range_is_refused_and_the_setting_kept(organiser, seconds):
    """`agent configure --reread-window -1` was stored (exit 0); `nan` or a billion seconds too: with `1e9` every
    later read of a ticket on that door answered "read again" (blue) instead of ALREADY USED. Now the setting is
    refused (usage error) and the stored one kept."""
    said = tg(organiser, "agent", "configure", "--reread-window", seconds, ok=False)
    assert said.returncode == 2 and "--reread-window" in said.stderr, said
    status = json.loads(tg(organiser, "agent", "status", "--json").stdout)
    assert status["policy"]["reread_window"] == 3.0


@pytest.mark.parametrize("report", ["participants", "sales", "entries"])
def test_a_reports_xlsx_has_the_columns_of_its_csv(organiser, report):
    """`server report participants --out x.xlsx` put its columns in another order than the CSV of the same report
    (order_status and revoked before event_id): a sheet built on one export read the wrong column from the other.
    A report with no rows (sales of an event sold only by the organiser) had an XLSX without any header."""
    import csv
    import io

    from openpyxl import load_workbook
    tg(organiser, "server", "report", report, "--out", str(organiser / "r.csv"))
    tg(organiser, "server", "report", report, "--out", str(organiser / "r.xlsx"))
    text = (organiser / "r.csv").read_text(encoding="utf-8-sig")
    from_csv = list(csv.reader(io.StringIO(text)))
    sheet = load_workbook(organiser / "r.xlsx").active
    from_xlsx = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    assert from_xlsx[0] == from_csv[0] and len(from_xlsx) == len(from_csv), (from_xlsx, from_csv)
    assert from_xlsx == from_csv


@pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")
def test_a_device_wiped_and_enrolled_again_leaves_no_second_enrolled_device(organiser):
    """The technician's guide: a device handed back or moved is wiped (`provision wipe --yes`) and enrolled again.
    Its old enrollment stayed "enrolled" in `provision devices` and in `server devices` (one door listed twice, the
    old one "offline" for ever) and its broker login kept working. Now the wipe has the old key sign a retire
    message, the next enrollment sends it, and the server removes that login and marks it revoked; the entry
    scanned before the wipe is counted under the new enrollment."""
    from tests.qa_organiser import organiser_running
    from tests.test_qa_user_paths import _broker_login_works
    home, payloads = organiser, _payloads(organiser)
    with organiser_running(home) as running:
        running.enroll(home, "north", "1")
        tg(home, "server", "push")
        tg(home, "agent", "sync", "--until-idle", "--for", "40")
        old = json.loads((home / "device" / "credentials.json").read_text())
        assert json.loads(tg(home, "agent", "scan", "--json", payloads[0]).stdout)["verdict"] == "accepted"
        tg(home, "provision", "wipe", "--yes")
        running.enroll(home, "north", "1")
        new = json.loads((home / "device" / "credentials.json").read_text())["device_id"]
        listed = json.loads(tg(home, "provision", "devices", "--org", "acme", "--json").stdout)
        assert [d["device_id"] for d in listed if not d["revoked"]] == [new], listed
        devices = {d["device_id"]: d for d in json.loads(tg(home, "server", "devices", "--json").stdout)}
        assert devices[old["device_id"]]["revoked"] and not devices[new]["revoked"], devices
        assert not _broker_login_works(old), "the wiped enrollment still logs in to the broker"
        tg(home, "agent", "sync", "--until-idle", "--for", "40")
        assert json.loads(tg(home, "server", "stats", "--json").stdout)["entries"] == 1


@pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")
def test_an_enrollment_retires_only_the_device_whose_key_signed_the_retire_message(tmp_path):
    """The old enrollment is removed only on a signature by its own key: a device claiming to replace another (its
    signature, or none that verifies) enrolls, and the other keeps its login."""
    from agent.home import WIPED_IDENTITY
    from agent.ledger import Ledger
    from provisioning.device import identity
    from provisioning.device.enroll import enroll
    from provisioning.device.retire import successor_path
    from provisioning.device.state import DeviceState
    from provisioning.protocol import retire_message
    from tests.test_provision_env import ORG, provision_env
    with provision_env(tmp_path) as env:
        a_token, b_token, c_token = env.prov.registry.create_tokens(ORG, 3)
        a = enroll(DeviceState(tmp_path / "a"), env.server, token=a_token.token)
        b_state = DeviceState(tmp_path / "b")
        b = enroll(b_state, env.server, token=b_token.token)
        (tmp_path / "c").mkdir(mode=0o700)
        c_next = identity.public_raw(identity.generate(successor_path(DeviceState(tmp_path / "c"))))
        forged = identity.load(b_state.key_path).sign(retire_message(ORG, a.device_id, c_next))   # B's key, A's name
        ledger = Ledger.open(DeviceState(tmp_path / "c").ledger_path)
        ledger.set_setting(WIPED_IDENTITY, {"device_id": a.device_id, "carry_over": True, "reason": "",
                                            "unsent": 0, "retire_proof": base64.b64encode(forged).decode(),
                                            "retire_v": 2})
        ledger.close()
        c = enroll(DeviceState(tmp_path / "c"), env.server, token=c_token.token)
        enrolled = {cred.device_id for cred in env.prov.registry.credentials()}
        assert enrolled == {a.device_id, b.device_id, c.device_id}
        assert not env.store.device(a.device_id)["revoked"]
