"""A ticket the organiser blocked (`server ticket block`: every door refuses it, BLOCKED) says so where the organiser
looks it up: `report participants` (table, JSON, CSV) and `ticket show`, which hands out its QR; on both stores.
Before, the guest list showed it as a paid ticket, `ticket show` with no word of it (nor of a revoked one)."""
from __future__ import annotations

import csv
import io
import json

import pytest

from tests.helpers import fete, server_cmd


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path) -> list[str]:
    return ["--db", request.getfixturevalue("pg_url")] if request.param == "postgresql" else []


def test_a_blocked_ticket_is_listed_blocked_and_shown_with_its_reason(tmp_path, db):
    data = tmp_path / "server"
    ev = fete(data, "1=Adulte") if not db else None
    if db:
        server_cmd(data, *db, "init", "--org", "fest", "--name", "Fest")
        ev = json.loads(server_cmd(data, *db, "event", "create", "--name", "Fête", "--start", "2026-12-31 20:00",
                                   "--end", "2027-01-01 02:00", "--category", "1=Adulte", "--json").stdout)["event_id"]
    order = json.loads(server_cmd(data, *db, "order", "add", "--event", str(ev), "--buyer", "Ann Lee", "--ticket",
                                  "category=1", "--quantity", "2", "--json").stdout)
    blocked, other = (t["ticket_key"] for t in order["tickets"])
    server_cmd(data, *db, "ticket", "block", blocked, "--reason", "holder already inside")

    rows = {r["ticket"]: r for r in json.loads(server_cmd(data, *db, "report", "participants", "--json").stdout)}
    assert (rows[blocked]["blocked"], rows[other]["blocked"]) == (True, False)
    table = server_cmd(data, *db, "report", "participants").stdout
    status = {line.split()[0]: line.split()[-4] for line in table.splitlines()[1:]}     # ... STATUS not checked in
    assert status == {blocked: "blocked", other: "paid"}
    out = tmp_path / "guests.csv"
    server_cmd(data, *db, "report", "participants", "--out", str(out))
    read = {r["ticket"]: r for r in csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig")))}
    assert (read[blocked]["blocked"], read[other]["blocked"]) == ("yes", "no")

    shown = json.loads(server_cmd(data, *db, "ticket", "show", blocked, "--json").stdout)
    assert shown["blocked_reason"] == "holder already inside" and shown["revoked"] is False and shown["payload"]
    assert "blocked: holder already inside" in server_cmd(data, *db, "ticket", "show", blocked).stdout
    server_cmd(data, *db, "order", "cancel", order["number"], "--reason", "refunded by phone")
    assert "revoked: refunded by phone" in server_cmd(data, *db, "ticket", "show", other).stdout
