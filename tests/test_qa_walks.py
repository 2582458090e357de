"""Users' paths across parts, walked through the public commands only (`ticketgate …` subprocesses, fresh HOME, the
provisioned broker, `server serve`, real SQLite files). Each test fails on the defect it names."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from tests.broker import mosquitto_binary
from tests.helpers import wait_for_line
from tests.qa_organiser import ROOT, _env, organiser_running, tg
from tests.test_qa_skew import _event_now

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def _sync(home, *more: str) -> dict:
    said = tg(home, "agent", "sync", "--until-idle", "--for", "40", "--json", *more).stdout
    return json.loads(said.strip().splitlines()[-1])


@contextlib.contextmanager
def _door(home: Path, gate: str = "north") -> Iterator[subprocess.Popen]:
    """The technician's and organiser's set-up (`provision serve` with its broker, `server serve`), this home's door
    enrolled for every event, pushed to and synced: yields `provision serve`."""
    with organiser_running(home) as running:
        running.enroll(home, gate)
        tg(home, "server", "push")
        assert _sync(home)["rejected"] == []
        yield running.prov


def test_a_second_server_push_is_not_reported_as_a_refused_message(tmp_path):
    """The organiser ran `server push` again with nothing changed (or a staff change had already brought the
    version): every door up to date then reported "1 message(s) refused … stale or replayed bundle: version N,
    device has N", which reads like an attack, on every sync. The same version again is a duplicate: dropped
    quietly; an older one is still refused (tests/test_sync_rejections.py)."""
    home = tmp_path / "home"
    home.mkdir()
    _event_now(home)
    with _door(home):
        tg(home, "server", "push")                       # nothing changed: the same version again
        summary = _sync(home)
        assert summary["rejected"] == [], summary
        assert json.loads(tg(home, "agent", "status", "--json").stdout)["counts"]["tickets"] == 2


def test_search_finds_a_name_or_order_number_typed_up_to_one_letter_of_its_last_word(tmp_path):
    """Door staff typing "Ann M" (first name, then the surname's first letter) or "GTXW-D" (an order number being
    typed) got "no match", although "Ann" and "Ann Ma" found Ann Martin: a one-letter last word was searched as a
    whole word. It is now a prefix checked on the rows the other words find."""
    home = tmp_path / "home"
    home.mkdir()
    _event_now(home)
    order = json.loads(tg(home, "server", "order", "add", "--event", "1", "--buyer", "Zoé Brûlé", "--ticket",
                          "category=Adult,zone=Floor", "--json").stdout)
    number = order["number"]
    with _door(home):
        def found(query: str) -> set[str]:
            return {r["buyer_name"] for r in json.loads(tg(home, "agent", "search", "--json", query).stdout)}
        for query in ("Ann M", "ann ma", "Martin A", "ANN  m"):
            assert found(query) == {"Ann Martin"}, query
        for query in ("Zoé B", "zoe b", "brule z", number[:6], number[:6].lower(), number):
            assert found(query) == {"Zoé Brûlé"}, query
        for query in ("Ann L", "Zoe I", "Ann Martin u"):          # order numbers have no I, L, O, U
            assert found(query) == set(), query


def test_the_organisers_own_orders_take_stock_so_a_cancellation_does_not_free_seats_never_taken(tmp_path):
    """`server quota set` counted the tickets already sold, but orders added afterwards (`server order add`,
    `server import-orders`: pre-printed tickets, the box office) took no stock, while cancelling them (or a quick
    cancellation at a door) gave stock back: "left" grew past the capacity and the kiosks oversold. Now the
    organiser's orders count as sold (never refused: the organiser may overbook on purpose)."""
    home = tmp_path / "home"
    home.mkdir()
    _event_now(home)                                              # an order of 2 tickets
    tg(home, "server", "quota", "set", "1", "--capacity", "5")

    def stock() -> tuple[int, int]:
        q = json.loads(tg(home, "server", "quota", "list", "1", "--json").stdout)[0]
        return q["sold"], q["left"]
    assert stock() == (2, 3)
    order = json.loads(tg(home, "server", "order", "add", "--event", "1", "--buyer", "Box Office", "--quantity", "2",
                          "--ticket", "category=Adult,zone=Floor", "--json").stdout)
    assert stock() == (4, 1)
    csv = tmp_path / "orders.csv"
    csv.write_text("buyer_name;email;category;zone;quantity;status;order_ref\nPre Printed;;Adult;Floor;1;paid;A\n",
                   encoding="utf-8")
    tg(home, "server", "import-orders", str(csv), "--event", "1")
    assert stock() == (5, 0)
    tg(home, "server", "order", "cancel", order["number"], "--reason", "not sold")
    assert stock() == (3, 2)


def test_a_read_command_piped_into_head_ends_without_a_traceback(tmp_path):
    """`ticketgate agent status --json | head -3` (the reader leaves early) ended in a BrokenPipeError traceback;
    `ticketgate server stats | head -1` said "ticketgate server stats: [Errno 32] Broken pipe"."""
    home = tmp_path / "home"
    home.mkdir()
    _event_now(home)
    tg(home, "agent", "status")
    for command in (("agent", "status", "--json"), ("server", "stats")):
        proc = subprocess.Popen([sys.executable, "-m", "agent", *command], cwd=ROOT, env=_env(home),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()                              # the reader is gone before the first line is written
        err = proc.stderr.read().decode()
        assert proc.wait(60) != 0 and err == "", (command, err)


def test_the_live_view_counts_a_doors_exits_apart_from_its_entries(tmp_path):
    """In entry/exit mode a door let a guest in, out and in again: `server stats` said "entries: 2 … per gate:
    north: 2" but, on the door's own line, "3 entries": the exit was counted as an entry. Now the door's line
    says 2 entries, 1 exit (JSON `entries`, `exits`)."""
    home = tmp_path / "home"
    home.mkdir()
    payloads = _event_now(home)
    with _door(home):
        tg(home, "agent", "configure", "--mode", "entry_exit", "--direction", "alternate", "--reread-window", "0")
        said = [json.loads(tg(home, "agent", "scan", "--json", payloads[0]).stdout)["direction"] for _ in range(3)]
        assert said == ["in", "out", "in"], said
        assert _sync(home)["outbox_pending"] == 0
        stats = json.loads(tg(home, "server", "stats", "--json").stdout)
        assert stats["entries"] == 2 and stats["entries_per_gate"] == {"north": 2}, stats
        (door,) = stats["devices"].values()
        assert (door["entries"], door["exits"]) == (2, 1), door
        assert "2 entries, 1 exit" in tg(home, "server", "stats").stdout


def test_staff_log_in_by_their_name_typed_without_its_accents(tmp_path):
    """`agent login --staff "Lea Martin"` (a handheld keyboard without accents, as the search takes "zoe" for Zoé)
    said "no staff member 'Lea Martin' on this device" for Léa Martin; only the exact accents were found."""
    home = tmp_path / "home"
    home.mkdir()
    payloads = _event_now(home)
    tg(home, "server", "staff", "add", "--name", "Léa Martin", "--role", "door", "--pin", stdin="1234\n")
    with _door(home):
        for typed in ("Lea Martin", "LÉA MARTIN", "  lea martin "):
            said = tg(home, "agent", "login", "--staff", typed, "--pin", stdin="1234\n").stdout
            assert "on duty: Léa Martin" in said, (typed, said)
        assert json.loads(tg(home, "agent", "scan", "--json", payloads[0]).stdout)["verdict"] == "accepted"
        wrong = tg(home, "agent", "login", "--staff", "Leo Martin", "--pin", stdin="1234\n", ok=False)
        assert wrong.returncode != 0 and "no staff member" in wrong.stderr


def test_provision_serve_restarts_its_broker_when_the_broker_stops(tmp_path):
    """mosquitto 2.0.11 crashed (SIGSEGV; minutes after it had been paused and resumed to play a hung broker) as a
    kiosk back from 13 minutes offline took its queued messages; `provision serve --start-broker` went on as if
    nothing happened: every door said "no broker answered", the
    organiser's `server serve` lost its link, and the technician's terminal said nothing. Now it says so and starts
    the broker again (its persistence keeps the queued messages); the doors sync again."""
    home = tmp_path / "home"
    home.mkdir()
    payloads = _event_now(home)
    with _door(home) as prov:
        pid_file = home / ".local/share/ticketgate/server/provision/mosquitto/mosquitto.pid"
        os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)     # the broker this test's `provision serve` started
        assert wait_for_line(prov, "restarted (what it held for offline devices went with it", 30), \
            "`provision serve` never restarted its broker (or said its queued messages were kept: a kill loses them)"
        assert prov.poll() is None
        assert json.loads(tg(home, "agent", "scan", "--json", payloads[0]).stdout)["verdict"] == "accepted"
        summary = _sync(home)
        assert summary["outbox_pending"] == 0 and summary["rejected"] == [], summary
        assert json.loads(tg(home, "server", "stats", "--json").stdout)["entries"] == 1


def test_provision_status_of_a_device_never_enrolled_does_not_say_wiped(tmp_path):
    """A new handheld on which staff had tried `agent status` said "not enrolled (wiped)" (JSON "wiped": true) to
    the technician, who then looks for a revocation that never happened. Only a wiped enrollment says wiped."""
    home = tmp_path / "home"
    home.mkdir()
    tg(home, "agent", "status")                                    # makes the device's ledger
    said = tg(home, "provision", "status", "--json", ok=False)
    assert said.returncode == 1 and json.loads(said.stdout)["wiped"] is False, said.stdout
    assert tg(home, "provision", "status", ok=False).stdout.startswith("not enrolled: enroll it with")
    _event_now(home)
    with _door(home):
        pass
    tg(home, "provision", "wipe", "--yes")
    assert json.loads(tg(home, "provision", "status", "--json", ok=False).stdout)["wiped"] is True


@pytest.mark.skipif(shutil.which("faketime") is None, reason="faketime not installed")
def test_a_door_back_after_ten_minutes_offline_still_learns_the_other_gates_entries(tmp_path):
    """The north gate was off for more than 10 minutes (a break, a battery swap) while the south gate let a guest in.
    The server's relay of that entry waited at the broker for north; when north came back it refused it as "stale
    message (N s old)" (the freshness window that guards updates), reported it as refused, and let the same ticket
    in again: the cross-gate check failed after every offline stretch longer than 10 minutes. A relayed entry is a
    signed fact merged once by its scan id, whatever its age: now it is merged. Played here with the organiser's
    `server serve` 11 minutes behind (`faketime`): its relays are 11 minutes old when they arrive."""
    from tests.helpers import wait_for
    org, north, south = (tmp_path / name for name in ("org", "north", "south"))
    for home in (org, north, south):
        home.mkdir()
    payloads = _event_now(org)
    with organiser_running(org) as running:
        for home, gate in ((north, "north"), (south, "south")):
            running.enroll(home, gate)
        tg(org, "server", "push")
        for home in (north, south):
            assert _sync(home)["rejected"] == []
        # north is off from now on; the organiser's server restarts 11 minutes behind
        running.start_serve("faketime", "-f", "-11m", sys.executable, "-m", "agent", "server", "serve",
                            env=dict(_env(org), FAKETIME_DONT_FAKE_MONOTONIC="1"))
        assert json.loads(tg(south, "agent", "scan", "--json", payloads[0]).stdout)["verdict"] == "accepted"
        assert _sync(south)["outbox_pending"] == 0
        assert wait_for(lambda: json.loads(tg(org, "server", "stats", "--json").stdout)["entries"] == 1, 20)
        summary = _sync(north)                              # back: the relay waited at the broker
        assert summary["rejected"] == [], summary
        said = json.loads(tg(north, "agent", "scan", "--json", payloads[0], ok=False).stdout)
        assert said["verdict"] == "already_used", said


def test_a_gate_enrolled_mid_event_knows_who_is_already_inside(tmp_path):
    """A handheld enrolled while the doors were open (a replacement for a dead one, a gate opened late) got the
    tickets but none of the entries made before: a guest already inside got in again with the same ticket there
    (seen here: 'ACCEPTED' at the new south gate for a ticket the north gate had admitted). Its first (full) event
    data now carries the entries, annulments and resets of its events."""
    org, north, south = (tmp_path / name for name in ("org", "north", "south"))
    for home in (org, north, south):
        home.mkdir()
    payloads = _event_now(org)
    with organiser_running(org) as running:
        running.enroll(north, "north")
        tg(org, "server", "push")
        assert _sync(north)["rejected"] == []
        for payload in payloads:
            assert json.loads(tg(north, "agent", "scan", "--json", payload).stdout)["verdict"] == "accepted"
        tg(north, "agent", "annul", "--reason", "wrong person")             # the second entry taken back
        assert _sync(north)["outbox_pending"] == 0
        running.enroll(south, "south")                                     # the new gate
        assert _sync(south)["rejected"] == []
        said = json.loads(tg(south, "agent", "scan", "--json", payloads[0], ok=False).stdout)
        assert said["verdict"] == "already_used", said
        assert json.loads(tg(south, "agent", "scan", "--json", payloads[1]).stdout)["verdict"] == "accepted"
