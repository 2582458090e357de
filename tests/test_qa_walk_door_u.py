"""Session U's walk of the door staff's day through the public commands (`ticketgate …` subprocesses, fresh HOMEs,
`provision serve --start-broker`, `server serve`, real SQLite files): what the door did, as the organiser sees it.
Each test names the defect it fails on (old code)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.broker import mosquitto_binary
from tests.qa_organiser import organiser_running, tg
from tests.test_qa_skew import _event_now

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def _sync(device: Path) -> dict:
    said = tg(device, "agent", "sync", "--until-idle", "--for", "40", "--json").stdout
    return json.loads(said.strip().splitlines()[-1])


def _scan(device: Path, *payloads: str) -> list[str]:
    return tg(device, "agent", "scan", "--reread-window", "0", stdin="".join(p + "\n" for p in payloads)
              ).stdout.splitlines()


def test_the_organisers_stats_count_the_tickets_a_box_office_put_back_on_sale(tmp_path):
    """The box office quick-cancels two unsold pre-printed tickets, undoes one (scanned by mistake), syncs. The
    organiser's `server stats` (and `report entries`) said only "1 scans (0 entries, 0 refused)" on the box office's
    line: nothing said that a ticket was back on sale, nor how many, while its seat could be sold again. Stats now
    count the tickets put back on sale (an undone cancellation left out), in all and per device."""
    org, box = tmp_path / "org", tmp_path / "box"
    org.mkdir()
    box.mkdir()
    payloads = _event_now(org)          # Ann Martin's two tickets, unsold pre-printed stock for the box office
    with organiser_running(org) as running:
        running.enroll(box, "box-office", events="1")
        tg(org, "server", "push")
        assert _sync(box)["bundle_version"] > 0
        tg(box, "agent", "configure", "--mode", "quick_cancel")
        lines = _scan(box, *payloads)
        assert [line.split(" | ")[0] for line in lines] == ["CANCELLED — BACK ON SALE"] * 2, lines
        undone = tg(box, "agent", "annul", "--reason", "scanned by mistake").stdout
        assert "valid again (cancellation undone)" in undone, undone
        assert _sync(box)["outbox_pending"] == 0
        said = tg(org, "server", "stats").stdout
        assert "back on sale: 1 ticket(s) cancelled by a box office (quick cancellation)" in said.splitlines(), said
        device = next(line for line in said.splitlines() if line.startswith("device "))
        assert "(0 entries, 1 back on sale, 0 refused)" in device and "gate box-office" in device, said
        stats = json.loads(tg(org, "server", "stats", "--json").stdout)
        assert stats["back_on_sale"] == 1 and [d.get("back_on_sale") for d in stats["devices"].values()] == [1], stats
        assert json.loads(tg(org, "server", "stats", "--json", "--event", "1").stdout)["back_on_sale"] == 1
        assert "back on sale: 1 ticket(s)" in tg(org, "server", "report", "entries").stdout


def test_a_name_with_an_elided_article_is_found_typed_without_its_apostrophe(tmp_path):
    """No QR code: the steward searches the buyer's name as it sounds, "obrien" for Zoë O'Brien, "ndiaye" for Awa
    N’Diaye (a typographic apostrophe, as a web shop keeps it). Both said "no match": the index cuts such a name into
    "o" and "brien", and only "brien" or "o'brien" found it. The search now tries a word as an elided name when
    nothing else matched, keeping only names that join it (never "O. Brien Smith"), the app's Search screen and
    `agent search` alike (one ledger search)."""
    org, door = tmp_path / "org", tmp_path / "door"
    org.mkdir()
    door.mkdir()
    _event_now(org)
    for buyer in ("Zoë O'Brien", "Awa N’Diaye", "O. Brien Smith", "Olive Brienne"):
        tg(org, "server", "order", "add", "--event", "1", "--buyer", buyer, "--quantity", "1", "--ticket",
           "category=Adult,zone=Floor")
    with organiser_running(org) as running:
        running.enroll(door, "north", events="1")
        tg(org, "server", "push")
        assert _sync(door)["bundle_version"] > 0

    def found(query: str, *lang: str) -> list[str]:
        return sorted({row["buyer_name"] for row in json.loads(tg(door, "agent", "search", *lang, "--json", query
                                                                    ).stdout)})
    assert found("obrien") == found("OBRIEN") == found("zoe obri") == found("obr") == ["Zoë O'Brien"]
    assert found("ndiaye") == found("Ndiay") == ["Awa N’Diaye"]
    assert found("brien") == ["O. Brien Smith", "Zoë O'Brien"]          # the typed word as before
    assert found("obrian") == []
    line = tg(door, "agent", "search", "--lang", "fr", "ndiaye").stdout
    assert "Awa N’Diaye" in line and "valable" in line, line


@pytest.fixture(params=["sqlite", "postgresql"])
def store_options(request) -> list[str]:
    return ["--db", request.getfixturevalue("pg_url")] if request.param == "postgresql" else []


def test_the_organiser_finds_the_order_the_door_found_typed_without_its_apostrophe(tmp_path, store_options):
    """The steward finds Zoë O'Brien by "obrien" and calls the organiser, who types the same in `server order find`:
    "no match" (both stores), though the door had just shown her. The organiser's search now tries the elided name
    as the doors do, keeping only names that join it."""
    org = tmp_path / "org"
    org.mkdir()
    tg(org, "server", *store_options, "init", "--org", "acme", "--name", "Acme Festival")
    tg(org, "server", *store_options, "event", "create", "--name", "Week", "--start", "2026-12-03 10:00", "--end",
       "2026-12-05 02:00", "--tz", "Europe/Paris", "--zone", "1=Floor", "--category", "1=Adult")
    for buyer in ("Zoë O'Brien", "Awa N’Diaye", "O. Brien Smith"):
        tg(org, "server", *store_options, "order", "add", "--event", "1", "--buyer", buyer, "--quantity", "1",
           "--ticket", "category=Adult,zone=Floor")

    def found(query: str) -> list[str]:
        return sorted(o["buyer_name"] for o in json.loads(
            tg(org, "server", *store_options, "order", "find", "--json", query).stdout))
    assert found("obrien") == found("zoe obr") == ["Zoë O'Brien"]
    assert found("ndiaye") == ["Awa N’Diaye"]
    assert found("brien") == ["O. Brien Smith", "Zoë O'Brien"] and found("obrian") == []
    assert "no match" in tg(org, "server", *store_options, "order", "find", "obrian").stdout


def test_the_box_office_puts_next_weeks_unsold_tickets_back_on_sale(tmp_path):
    """The box office clears its unsold pre-printed stock for next week's show (the guides' quick cancellation):
    every ticket was refused NOT VALID YET — the validity window was checked before the mode, so a ticket could go
    back on sale only once its event had begun, when its seat no longer sells. Quick cancellation now takes a ticket
    before its window (an expired one, its event over, stays refused); the organiser sees it back on sale; a door
    in normal mode still says NOT VALID YET before the date."""
    org, box, gate = tmp_path / "org", tmp_path / "box", tmp_path / "gate"
    for p in (org, box, gate):
        p.mkdir()
    tg(org, "server", "init", "--org", "acme", "--name", "Acme Festival")
    tg(org, "server", "event", "create", "--name", "Next week", "--start", "2099-06-01 20:00", "--end",
       "2099-06-01 23:00", "--tz", "Europe/Paris", "--zone", "1=Floor", "--category", "1=Adult")
    order = json.loads(tg(org, "server", "order", "add", "--event", "1", "--buyer", "Box office stock",
                          "--quantity", "2", "--ticket", "category=Adult,zone=Floor", "--json").stdout)
    payloads = [json.loads(tg(org, "server", "ticket", "show", t["ticket_key"], "--json").stdout)["payload"]
                for t in order["tickets"]]
    with organiser_running(org) as running:
        running.enroll(box, "box-office", events="1")
        running.enroll(gate, "north", events="1")
        tg(org, "server", "push")
        assert _sync(box)["bundle_version"] > 0 and _sync(gate)["bundle_version"] > 0
        assert _scan(gate, payloads[1])[0].startswith("NOT VALID YET | "), "a door still refuses it before its date"
        tg(box, "agent", "configure", "--mode", "quick_cancel")
        lines = _scan(box, payloads[0])
        assert lines[0].startswith("CANCELLED — BACK ON SALE | "), lines
        assert _sync(box)["outbox_pending"] == 0
        assert "quick-cancelled at box-office" in tg(org, "server", "order", "show", order["number"]).stdout
        assert json.loads(tg(org, "server", "stats", "--json").stdout)["back_on_sale"] == 1
        _sync(gate)
        gate_said = json.loads(tg(gate, "agent", "scan", "--json", stdin=payloads[0] + "\n").stdout)
        assert gate_said["verdict"] == "not_yet_valid", gate_said    # before its date the door says that first
