"""The door supervisor's dates on the app's Events screen, and the box office's status strip in quick cancellation
(tests/door_dates_scenario.py, the real app offscreen) on a device the organiser enrolled and synced through the
public commands (`server event create --tz Europe/Paris`, `provision enroll`, `agent sync`; real mosquitto, real
SQLite files), its clock in UTC. Each test names the defect it fails on (old code)."""
from __future__ import annotations

import json
import shutil
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.broker import mosquitto_binary
from tests.helpers import run_offscreen_scenario
from tests.qa_organiser import ROOT, organiser_running, tg

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")
PARIS = ZoneInfo("Europe/Paris")
OUT = ROOT / "test-artifacts" / "qa-door-dates"


def _paris(ts: float) -> str:
    return datetime.fromtimestamp(ts, PARIS).strftime("%Y-%m-%d %H:%M")


def _event(org: Path, name: str, start: float, end: float) -> int:
    said = tg(org, "server", "event", "create", "--name", name, "--start", _paris(start), "--end", _paris(end),
              "--tz", "Europe/Paris", "--zone", "1=Floor", "--category", "1=Adult", "--json").stdout
    return int(json.loads(said)["event_id"])


def _ticket(org: Path, event: int, buyer: str) -> str:
    order = json.loads(tg(org, "server", "order", "add", "--event", str(event), "--buyer", buyer, "--quantity", "1",
                          "--ticket", "category=Adult,zone=Floor", "--json").stdout)
    key = order["tickets"][0]["ticket_key"]
    return json.loads(tg(org, "server", "ticket", "show", key, "--json").stdout)["payload"]


@pytest.fixture(scope="module")
def festival_door(tmp_path_factory) -> dict:
    """A three-day festival in Paris running now (it started the day before yesterday or yesterday, ends tomorrow
    or the day after: 30 hours either side of now), a show last week and one next week; a door enrolled for every
    event, synced, then offline (the app opens on its device home)."""
    tmp = tmp_path_factory.mktemp("dates")
    org, door = tmp / "org", tmp / "door"
    org.mkdir()
    door.mkdir()
    now, hour, day = time.time(), 3600, 86400
    tg(org, "server", "init", "--org", "acme", "--name", "Acme Festival")
    ids = {"last_week": _event(org, "Last week", now - 7 * day, now - 7 * day + 3 * hour),
           "festival": _event(org, "Festival", now - 30 * hour, now + 30 * hour),
           "next_week": _event(org, "Next week", now + 7 * day, now + 7 * day + 3 * hour)}
    payloads = {name: _ticket(org, event, f"Guest {name}") for name, event in ids.items()}
    payloads["festival2"] = _ticket(org, ids["festival"], "Box office stock")
    with organiser_running(org) as running:
        running.enroll(door, "north")
        tg(org, "server", "push")
        said = tg(door, "agent", "sync", "--until-idle", "--for", "40", "--json").stdout
        assert json.loads(said.strip().splitlines()[-1])["bundle_version"] > 0, said
    (tmp / "payloads.json").write_text(json.dumps(payloads))
    OUT.mkdir(parents=True, exist_ok=True)
    shown = {}
    for lang in ("en", "fr"):           # each language and part on its own copy of the synced device
        shutil.copytree(door, tmp / lang)
        run_offscreen_scenario("door_dates_scenario.py", str(OUT), str(tmp / lang / "device"), lang,
                               str(tmp / "payloads.json"))
        shown[lang] = json.loads((OUT / f"dates_{lang}.json").read_text())
        shutil.copytree(door, tmp / f"box-{lang}")
        run_offscreen_scenario("door_dates_scenario.py", str(OUT), str(tmp / f"box-{lang}" / "device"), lang,
                               str(tmp / "payloads.json"), "box")
        shown[f"box_{lang}"] = json.loads((OUT / f"box_{lang}.json").read_text())
    festival_days = []
    d = datetime.fromtimestamp(now - 30 * hour, PARIS).date()
    while d <= datetime.fromtimestamp(now + 30 * hour, PARIS).date():
        festival_days.append(d.isoformat())
        d += timedelta(days=1)
    return {"shown": shown, "today": datetime.fromtimestamp(now, PARIS).date().isoformat(),
            "festival_days": festival_days, "ids": ids}


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_the_events_screen_opens_on_today_and_lists_a_festival_under_each_of_its_days(festival_door, lang):
    """A supervisor opens Events and Zones on the festival's second or third day to limit the door to today. The
    date row listed each event under its start date only, and opened on the first date held: last week's show
    ticked nothing, today's date was not in the row at all, and the festival running now could be found only under
    the day it began (a show ending after midnight likewise vanished from the date the door works at 00:30). It now
    lists an event under every day it runs on, in the event's time zone (Paris, the device's clock in UTC), and
    opens on today's date, showing the festival."""
    shown, today = festival_door["shown"][lang], festival_door["today"]
    dates = dict(shown["opened"]["dates"])
    assert all(day in dates for day in festival_door["festival_days"]), (festival_door["festival_days"], dates)
    assert [d for d, state in shown["opened"]["dates"] if state == "down"] == [today], shown["opened"]
    assert shown["opened"]["events"] == [["Festival", "normal"]], shown["opened"]


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_the_festival_picked_for_today_admits_its_ticket_and_refuses_next_weeks_by_name(festival_door, lang):
    """The path the technician's guide gives (pick the date, tick the event, Use this selection) then the camera:
    the festival's ticket is let in, next week's show is WRONG EVENT naming it; the screen opens again on today
    with the festival ticked."""
    shown = festival_door["shown"][lang]
    assert shown["policy_events"] == [festival_door["ids"]["festival"]], shown
    titles = [s["title"] for s in shown["scanned"]]
    assert titles == (["ACCEPTED — IN", "WRONG EVENT"] if lang == "en" else ["ACCEPTÉ — ENTRÉE", "MAUVAIS ÉVÉNEMENT"]), shown
    assert "Next week" in shown["scanned"][1]["reason"], shown["scanned"]
    assert [d for d, state in shown["reopened"]["dates"] if state == "down"] == [festival_door["today"]]
    assert shown["reopened"]["events"] == [["Festival", "down"]], shown["reopened"]


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_the_box_office_strip_counts_the_tickets_put_back_on_sale(festival_door, lang):
    """The box office switches to quick cancellation and reads two unsold tickets with a keyboard-wedge laser (two
    purple screens), then undoes the last. Its strip said "Scanned 2 · Accepted 0 · Inside 0": nothing counted what
    it had just done, and "Accepted" read as if nobody had been let in by mistake. In quick cancellation it counts
    the tickets put back on sale ("Scanned 2 · Back on sale 1" after the undo), as `server stats` does."""
    box = festival_door["shown"][f"box_{lang}"]
    assert box["mode_set"], box
    purple = "CANCELLED — BACK ON SALE" if lang == "en" else "ANNULÉ — REMIS EN VENTE"
    assert [r["title"] for r in box["read"]] == [purple] * 2, box
    said = ("Scanned {s} · Back on sale {c}" if lang == "en" else "Scannés {s} · Remis en vente {c}")
    assert box["strip_ready"].startswith(said.format(s=0, c=0)), box
    assert [r["counters"].split(" · ")[:2] for r in box["read"]] == [said.format(s=1, c=1).split(" · "),
                                                                      said.format(s=2, c=2).split(" · ")], box
    assert box["strip_after_undo"].startswith(said.format(s=2, c=1)), box
