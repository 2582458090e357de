"""Paths across parts walked through the public commands (`ticketgate …` subprocesses, fresh HOME, real SQLite):
the organiser's reports and prices, the technician's token sheets, the door's settings. Each test fails on the
defect it names."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_qa_skew import _event_now
from tests.test_qa_user_paths import tg


@pytest.fixture
def organiser(tmp_path) -> Path:
    """An organiser with event 1 (zone 1 Floor, category 1 Adult) open now and one paid order of two tickets."""
    home = tmp_path / "org"
    home.mkdir()
    _event_now(home)
    return home


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
