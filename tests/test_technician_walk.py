"""The technician's guide walked as a new technician would (docs/guides/en/technician.md): `provision serve`, codes,
`provision enroll`, `agent sync`, `agent scan`, `provision wipe`, `provision revoke`, through the public commands (a
fresh HOME, `provision serve`'s broker on loopback). What confused on the way, each failing on the old code:

* `agent sync` before the organiser started `server serve` waited its whole --for, then said "the server never
  answered (is `ticketgate server serve` running?)": now it says at once that the organiser's server has never run
  on this broker, what to start, and keeps waiting;
* `provision wipe --yes` and a revoked device's `agent sync` printed a Python dict ("{'ledger': True, …}"): now
  what was removed, in words;
* `provision enroll` without --server where zeroconf finds nothing said "give --server HOST:PORT" without saying
  which: now the address `provision serve` prints; one mistyped said "[Errno 111] Connection refused": now
  "connection refused (nothing listens on that port)", as `agent sync` and `server push` say it;
* `agent scan` once the organiser keeps staff said "log in first (PIN or staff badge)": now also how, from a
  terminal (`ticketgate agent login --staff NAME --pin`);
* a second `provision serve` on the same data folder (started again in another terminal) rewrote the broker login
  of `server push`/`server serve` for its own broker, then stopped (its endpoint port taken): `server push` said
  "connection refused" while the first one served the devices. Now it stops at once, naming the one running, and
  changes nothing."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.broker import free_port, mosquitto_binary
from tests.qa_organiser import organiser_running, tg
from tests.test_provision_cli import _decode_sheet
from tests.test_qa_skew import _event_now

needs_broker = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


@needs_broker
def test_the_technicians_walk_says_what_is_missing_in_words(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    payloads = _event_now(home)
    with organiser_running(home, serve=False) as running:
        running.enroll(home, "north")
        started = time.monotonic()
        early = tg(home, "agent", "sync", "--until-idle", "--for", "15", ok=False)
        assert early.returncode == 1
        assert ("the organiser's server has never run on this broker: start `ticketgate server serve` on the "
                "organiser's machine (and `ticketgate server push` for the event data); waiting for it") \
            in early.stdout, early.stdout
        assert "the organiser's server has never run on this broker" in early.stderr, early.stderr
        assert time.monotonic() - started < 40

        login = home / ".local/share/ticketgate/server/provision/broker-login.json"
        before = login.read_text()
        again = tg(home, "provision", "serve", "--org", "acme", "--start-broker", "--listen", "127.0.0.1", "--port",
                   str(running.http_port), "--advertise", "127.0.0.1", "--no-zeroconf", "--broker-port",
                   str(free_port()), "--for", "5", ok=False)
        assert again.returncode == 1 and "another `ticketgate provision serve` runs on this data folder" in again.stderr
        assert "Nothing was changed" in again.stderr and login.read_text() == before, again.stderr

        running.start_serve()
        tg(home, "server", "push")
        synced = json.loads(tg(home, "agent", "sync", "--until-idle", "--for", "40", "--json").stdout
                            .strip().splitlines()[-1])
        assert synced["bundle_version"] and synced["rejected"] == []
        said = tg(home, "agent", "scan", stdin=payloads[0] + "\n").stdout
        assert said.startswith("ACCEPTED — IN"), said

        tg(home, "server", "staff", "add", "--name", "Sam Okafor", "--role", "supervisor", "--pin", stdin="4321\n")
        tg(home, "agent", "sync", "--until-idle", "--for", "40")            # the staff list reaches the door
        refused = tg(home, "agent", "scan", stdin=payloads[1] + "\n", ok=False)
        assert refused.returncode == 1 and refused.stdout.startswith("LOG IN FIRST | ") and (
            "scan a staff badge, or `ticketgate agent login --staff NAME --pin`; nothing recorded") in refused.stdout
        assert "on duty: Sam Okafor" in tg(home, "agent", "login", "--staff", "sam okafor", "--pin",
                                           stdin="4321\n").stdout

        wiped = tg(home, "provision", "wipe", "--yes").stdout
        assert "{" not in wiped and ("removed the orders, names and event data, the ticket keys, the broker login and "
                                     "the device key") in wiped, wiped
        kiosk = tmp_path / "kiosk"
        kiosk.mkdir()
        running.enroll(kiosk, "desk", role="kiosk")
        kiosk_id = json.loads((kiosk / "device" / "credentials.json").read_text())["device_id"]
        tg(home, "provision", "revoke", "--org", "acme", kiosk_id)
        gone = tg(kiosk, "agent", "sync", "--until-idle", "--for", "30", ok=False)
        assert "revoked by the organiser and wiped (removed " in gone.stderr and "{'" not in gone.stderr, gone.stderr


def test_enroll_without_a_server_found_names_the_address_to_give(tmp_path):
    """No `provision serve` on this network (nothing answers zeroconf): what to type, and where to read it."""
    home = tmp_path / "home"
    home.mkdir()
    said = tg(home, "provision", "enroll", "--code", "K7M2-Q9XB", ok=False)
    assert said.returncode == 1
    assert ("give --server HOST:PORT, the 'enrollment endpoint' `ticketgate provision serve` prints on the "
            "organiser's machine") in said.stderr, said.stderr     # also when another test's server answers here
    if "found" not in said.stdout:
        assert "no server found on this network within 5 s (zeroconf): give --server" in said.stderr, said.stderr
    assert not (Path(home) / "device" / "credentials.json").exists()
    port = free_port()                          # the address mistyped: nothing listens there
    said = tg(home, "provision", "enroll", "--code", "K7M2-Q9XB", "--server", f"127.0.0.1:{port}", ok=False)
    assert said.returncode == 1 and "Errno" not in said.stderr
    assert (f"cannot reach the server at http://127.0.0.1:{port}: connection refused (nothing listens on that port)"
            in said.stderr), said.stderr


@needs_broker
def test_a_code_or_qr_that_does_not_enroll_is_refused_in_the_words_of_what_the_technician_holds(tmp_path):
    """The technician typed an organiser code from the sheet (or scanned its QR): `provision enroll` said "unknown
    enrollment token", "this enrollment token was already used" — a word on no sheet, in no guide. Now the refusal
    names the code (or the QR) and what to do, and nothing is saved. (And `provision status` of the door enrolled
    printed Python's reprs: "events [1]", "tls False", "ledger {'events': 1, …}"; now words.)"""
    home = tmp_path / "home"
    home.mkdir()
    _event_now(home)
    with organiser_running(home, serve=False) as running:
        server = f"127.0.0.1:{running.http_port}"

        def sheet(*extra: str) -> str:
            return tg(home, "provision", "tokens", "create", "--org", "acme", "--count", "1", "--gate", "north",
                      "--out", str(home / "sheet.png"), *extra).stdout

        printed = sheet()
        assert "1 door enrollment QR(s), valid 12 h" in printed and "token" not in printed, printed
        code, qr = printed.split("code ")[-1].split()[0], _decode_sheet(home / "sheet.png")[0]
        door, other = tmp_path / "door", tmp_path / "other"
        for folder in (door, other):
            folder.mkdir()
        wrong = tg(door, "provision", "enroll", "--code", "K7M2-Q9XB", "--server", server, ok=False)
        assert wrong.returncode == 1 and "token" not in wrong.stderr, wrong.stderr
        assert "unknown organiser code: check the 8 characters against the sheet" in wrong.stderr, wrong.stderr
        tg(door, "provision", "enroll", "--qr", qr, "--server", server, "--no-connect")
        status = tg(door, "provision", "status").stdout        # read in words, not Python's reprs ([1], {'…': 1})
        assert not any(c in status for c in "[]{}'") and "True" not in status and "False" not in status, status
        assert "\ntls          no\n" in status and "\nname         -\n" in status, status
        again = tg(other, "provision", "enroll", "--qr", qr, "--server", server, ok=False)
        assert "this enrollment QR was already used" in again.stderr and "token" not in again.stderr, again.stderr
        used = tg(other, "provision", "enroll", "--code", code, "--server", server, ok=False)
        assert ("this organiser code was already used (one code enrolls one device): take the next one on the sheet"
                in used.stderr), used.stderr
        assert not (other / "device" / "credentials.json").exists()

        late = sheet("--ttl-hours", "0.0002").split("code ")[-1].split()[0]      # 0.72 s
        time.sleep(1.5)
        expired = tg(other, "provision", "enroll", "--code", late, "--server", server, ok=False)
        assert ("this organiser code has expired: ask the organiser for a new sheet (`provision tokens create`)"
                in expired.stderr), expired.stderr
    help_text = tg(home, "provision", "enroll", "--help").stdout
    assert "organiser code" in help_text and "token" not in help_text, help_text
