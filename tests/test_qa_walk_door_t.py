"""Session T's walk of the technician and the door staff through the public commands only (`ticketgate …`
subprocesses, fresh HOMEs, `provision serve --start-broker`, `server serve`, real SQLite files): enrol, sync, scan in
each mode, wrong input, offline and back. Each test names the defect it fails on (old code), or the path it keeps."""
from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from agent.base45 import b45decode, b45encode
from tests.broker import mosquitto_binary
from tests.helpers import stop_process, wait_for_line
from tests.qa_organiser import ROOT, Organiser, _start, organiser_running, tg
from tests.test_qa_paths_l_walk import _fill, _own_disk
from tests.test_qa_skew import _event_now

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")
VECTORS = json.loads((ROOT / "tests/vectors/pretix-sig1.json").read_text())


def _sync(device: Path) -> dict:
    said = tg(device, "agent", "sync", "--until-idle", "--for", "40", "--json").stdout
    return json.loads(said.strip().splitlines()[-1])


def _scan(device: Path, *payloads: str, ok: bool = True) -> list[str]:
    """The lines `agent scan` prints for `payloads` typed by a laser, one a line."""
    return tg(device, "agent", "scan", "--reread-window", "0", stdin="".join(p + "\n" for p in payloads),
              ok=ok).stdout.splitlines()


def _signature_flipped(payload: str) -> str:
    """A TG1 ticket whose last signature byte a forger changed: still well-formed, no longer signed."""
    raw = bytearray(b45decode(payload[4:]))
    raw[-1] ^= 0x01
    return "TG1:" + b45encode(bytes(raw))


class Door:
    """An organiser (event 1 'Week', zone 1 'Floor', Ann Martin's order of two tickets) with its servers running,
    and one door enrolled for event 1 with the event data synced."""

    def __init__(self, tmp: Path, running: Organiser, payloads: list[str]) -> None:
        self.org, self.running, self.payloads = tmp / "org", running, payloads
        self.door = tmp / "door"
        self.door.mkdir()
        running.enroll(self.door, "north", events="1")
        tg(self.org, "server", "push")
        assert _sync(self.door)["bundle_version"] > 0


@pytest.fixture
def door(tmp_path: Path) -> Iterator[Door]:
    org = tmp_path / "org"
    org.mkdir()
    payloads = _event_now(org)
    with organiser_running(org) as running:
        yield Door(tmp_path, running, payloads)


def test_a_forged_or_foreign_ticket_shows_nothing_of_what_it_claims_on_the_terminal_door(door, tmp_path):
    """The door staff's guide: FAKE TICKET shows "nothing of what it says … because none of it can be trusted", and
    the app shows none of it. `agent scan` (a laptop at a door, a keyboard-wedge laser) printed the forger's claims
    under the red title: `FAKE TICKET | ticket 104779534011365 | event 1 | zones 1 (Floor) | …`, and a ticket of
    another organiser named this door's own zone ('Floor') for it. The line now says the title and why, nothing of
    the ticket's content."""
    ann = door.payloads[0]
    other = tmp_path / "other"
    other.mkdir()
    foreign = _event_now(other)[0]          # another organiser (same slug, its own keys): its event 1, its Floor
    lines = _scan(door.door, ann, _signature_flipped(door.payloads[1]), foreign)
    assert lines[0].startswith("ACCEPTED — IN | ticket "), lines
    assert lines[1:] == ["FAKE TICKET | signature does not verify"] * 2, lines
    forged = json.loads(tg(door.door, "agent", "scan", "--json", stdin=_signature_flipped(ann) + "\n").stdout)
    assert forged["verdict"] == "forged"     # scripts still get the code
    assert _sync(door.door)["uploaded"] >= 1
    stats = json.loads(tg(door.org, "server", "stats", "--json").stdout)
    assert stats["entries"] == 1 and stats["refusals"].get("forged") == 3, stats


def test_a_pretix_ticket_for_a_date_not_mapped_names_the_pretix_date_not_a_negative_event(door):
    """A pretix series with only date 301 mapped onto event 1 (docs/pretix.md): a ticket for date 302 is WRONG
    EVENT, never admitted. `agent scan` said `WRONG EVENT | ticket pretix:hdk2LPa9x | event -302 | …`: an event
    number no organiser has (the device's internal mark for an unmapped date). It says `pretix date 302`."""
    resource = door.door / "pretix-event.json"
    resource.write_text(json.dumps(VECTORS["event_resource"]))
    tg(door.door, "agent", "trust-pretix", str(resource), "--event-id", "1", "--item", "21=1:1", "--item", "22=1:1",
       "--subevent", "301=1")
    secret = {v["name"]: v["secret"] for v in VECTORS["vectors"]}
    lines = _scan(door.door, secret["item and subevent"], secret["with variation"])
    assert lines[0] == "ACCEPTED — IN | ticket pretix:Jz9mPq3sA | event 1 | zones 1 (Floor)", lines
    assert lines[1].startswith("WRONG EVENT | ticket pretix:hdk2LPa9x | pretix date 302 |"), lines
    assert "-302" not in lines[1] and lines[1].endswith("this date of the series is not mapped on this device")


def _tokens_made(org: Path) -> int:
    """How many enrollment codes the organiser's provisioning state holds (its real SQLite file)."""
    db = sqlite3.connect(org / ".local/share/ticketgate/server/provision/provision.sqlite")
    try:
        return int(db.execute("SELECT count(*) FROM tokens").fetchone()[0])
    finally:
        db.close()


def test_a_sheet_that_cannot_be_written_says_so_and_leaves_no_enrollment_code_behind(tmp_path):
    """`provision tokens create --out doors/north.pdf` without a folder `doors` said "[Errno 2] No such file or
    directory: 'doors/north.pdf.tmp-16819-140316250110848'" (a file the technician never named) and had made the
    codes all the same: valid for 12 hours, printed nowhere; `--out north.txt` likewise; `provision wifi-qr` to a
    missing folder ended in a traceback. Now each says what to fix, naming the file asked for, and makes nothing; a
    full disk met while writing the sheet takes the codes back."""
    org = tmp_path / "org"
    org.mkdir()
    _event_now(org)
    tg(org, "provision", "tokens", "create", "--org", "acme", "--count", "1", "--out", str(tmp_path / "ok.pdf"))
    assert _tokens_made(org) == 1
    missing = tmp_path / "doors" / "north.pdf"
    said = tg(org, "provision", "tokens", "create", "--org", "acme", "--count", "3", "--gate", "north", "--out",
              str(missing), ok=False)
    assert said.returncode == 1 and said.stderr.strip() == (
        f"ticketgate provision: cannot write {missing}: there is no folder {missing.parent}"), said.stderr
    assert "  code " not in said.stdout and not missing.parent.exists()
    said = tg(org, "provision", "tokens", "create", "--org", "acme", "--count", "3", "--out",
              str(tmp_path / "north.txt"), ok=False)
    assert said.returncode == 1 and "sheets are .pdf or .png" in said.stderr, said.stderr
    assert _tokens_made(org) == 1, "a sheet never written left enrollment codes behind"
    wifi = tg(org, "provision", "wifi-qr", "--ssid", "Door Net", "--password", "event-2026", "--out",
              str(tmp_path / "wifi" / "join.png"), ok=False)
    assert wifi.returncode == 1 and "there is no folder" in wifi.stderr, wifi.stderr
    with _own_disk(tmp_path / "small", size="64k") as disk:
        _fill(disk)
        said = tg(org, "provision", "tokens", "create", "--org", "acme", "--count", "12", "--out",
                  str(disk / "north.pdf"), ok=False)
        assert said.returncode == 1 and said.stderr.strip().endswith(
            "No space left on device; nothing was written; no enrollment code was made"), said.stderr
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]
    assert _tokens_made(org) == 1


def _device_id(device: Path) -> str:
    return json.loads(tg(device, "provision", "status", "--json").stdout)["device_id"]


def _revoked_at(org: Path) -> dict[str, float | None]:
    return {d["device_id"]: d["revoked_at"] for d in json.loads(tg(org, "server", "devices", "--json").stdout)}


def test_revoking_the_old_id_of_a_device_enrolled_again_names_the_id_it_works_under(door):
    """The technician wiped a door and enrolled it again (replacing a broken tablet's set-up): the server retired its
    old id (`server devices`: RETIRED … enrolled again as NEW). The organiser, told the tablet was stolen, revoked the
    id on their notes, the old one: "device OLD revoked", exit 0; `server devices` then said REVOKED and no longer
    which id the device works under, and the stolen tablet kept scanning and syncing under its new id. Now revoking a
    retired id changes nothing and names the id to revoke (`provision revoke` likewise); a device revoked already says
    when, and keeps that date."""
    old = _device_id(door.door)
    tg(door.door, "provision", "wipe", "--yes")
    door.running.enroll(door.door, "north", events="1")
    new = _device_id(door.door)
    assert new != old
    said = tg(door.org, "server", "device", "revoke", old, ok=False)
    assert said.returncode == 1 and said.stderr.startswith(f"ticketgate server device: {old} is out of use since "), \
        said.stderr
    assert f"its device was enrolled again as {new}, which works on: to take that device out of service, " \
           f"`ticketgate server device revoke {new}`; nothing changed" in said.stderr, said.stderr
    said = tg(door.org, "provision", "revoke", "--org", "acme", old, ok=False)
    assert said.returncode == 1 and f"`ticketgate provision revoke --org acme {new}`" in said.stderr, said.stderr
    listed = {line.split()[0]: line for line in tg(door.org, "server", "devices").stdout.splitlines()}
    assert "RETIRED" in listed[old] and f"enrolled again as {new}" in listed[old], listed
    assert _sync(door.door)["online"]                           # nothing happened to the device in use
    tg(door.org, "server", "device", "revoke", new)
    revoked_at = _revoked_at(door.org)
    again = tg(door.org, "server", "device", "revoke", new)
    assert again.stdout.startswith(f"device {new} was already revoked ") and "nothing changed" in again.stdout
    assert _revoked_at(door.org) == revoked_at and revoked_at[new] is not None
    said = tg(door.door, "agent", "sync", "--until-idle", "--for", "20", ok=False)
    assert said.returncode == 1 and "revoked by the organiser and wiped" in said.stderr, said.stderr


def _order(org: Path, buyer: str) -> tuple[str, str, str]:
    """A paid order of one ticket: (its number, its ticket key, its signed QR payload)."""
    order = json.loads(tg(org, "server", "order", "add", "--event", "1", "--buyer", buyer, "--ticket",
                          "category=Adult,zone=Floor", "--json").stdout)
    key = order["tickets"][0]["ticket_key"]
    return order["number"], key, json.loads(tg(org, "server", "ticket", "show", key, "--json").stdout)["payload"]


def _provision_serve_again(org: Path, http_port: int, broker_port: str) -> subprocess.Popen:
    """The technician starts `provision serve` again, on the ports the devices were enrolled with."""
    prov = _start(org, "provision", "serve", "--org", "acme", "--start-broker", "--listen", "127.0.0.1", "--port",
                  str(http_port), "--advertise", "127.0.0.1", "--no-zeroconf", "--broker-port", broker_port,
                  "--for", "120")
    assert wait_for_line(prov, "enrollment endpoint", 30)
    return prov


def test_the_door_staffs_evening_in_every_mode_offline_and_back_counts_each_entry_once(door):
    """The door staff's path across the parts (guide: door staff, technician §3 and §5): nobody on duty, a steward,
    a supervisor switching modes, quick cancellation of an unsold pre-printed ticket (back on sale at the server),
    search by name and number, the broker stopped while scanning, then back: every entry reaches the server once.
    Defect: the box office scanning a ticket it had put back on sale already read `… | (repeat)` under the title
    CANCELLED — BACK ON SALE, where the app and the guide say "already cancelled"; it says so now."""
    org, dev = door.org, door.door
    ann, ann2 = door.payloads
    box_number, box_key, box = _order(org, "Box Office Stock")
    _, _, bob = _order(org, "Bob Roy")
    tg(org, "server", "staff", "add", "--name", "Sam Okafor", "--role", "door", "--pin", stdin="4711\n")
    tg(org, "server", "staff", "add", "--name", "Zoé Lead", "--role", "supervisor", "--pin", stdin="9876\n")
    tg(org, "server", "push")
    _sync(dev)
    assert _scan(dev, ann, ok=False)[0].startswith("LOG IN FIRST | ")
    tg(dev, "agent", "login", "--staff", "sam okafor", "--pin", stdin="4711\n")
    assert _scan(dev, ann)[0].startswith("ACCEPTED — IN | ticket ")
    refused = tg(dev, "agent", "configure", "--mode", "entry_exit", ok=False)
    assert refused.returncode == 1 and "cannot change modes" in refused.stderr, refused.stderr
    tg(dev, "agent", "login", "--staff", "Zoe Lead", "--pin", stdin="9876\n")          # accents optional
    tg(dev, "agent", "configure", "--mode", "entry_exit")
    assert [line.split(" | ")[0] for line in _scan(dev, ann, ann)] == ["EXIT — OK", "ACCEPTED — IN"]
    tg(dev, "agent", "configure", "--mode", "multiple")
    assert [line.split(" | ")[0] for line in _scan(dev, ann2, ann2)] == ["ACCEPTED — IN"] * 2
    tg(dev, "agent", "configure", "--mode", "quick_cancel")
    first, again = _scan(dev, box, box)
    assert first.startswith("CANCELLED — BACK ON SALE | ") and "already" not in first, first
    assert again.endswith(" | already cancelled — nothing new recorded"), again      # as the app and the guide say
    assert _scan(dev, ann)[0].startswith("ALREADY USED | ")              # a used ticket never goes back on sale
    tg(dev, "agent", "configure", "--mode", "normal")
    assert _scan(dev, box)[0].startswith("CANCELLED FOR RESALE | ")
    by_name, by_number = (tg(dev, "agent", "search", q).stdout for q in ("box office", box_number.lower()))
    assert by_name == by_number and "cancelled for resale" in by_name and box_number in by_name, (by_name, by_number)
    assert _sync(dev)["uploaded"] > 0
    assert "back on sale" in tg(org, "server", "ticket", "show", box_key).stdout

    login = json.loads((org / ".local/share/ticketgate/server/provision/broker-login.json").read_text())
    stop_process(door.running.prov)                                     # the broker goes with it
    assert _scan(dev, bob)[0].startswith("ACCEPTED — IN | ")           # the door decides alone
    offline = tg(dev, "agent", "sync", "--until-idle", "--for", "10", ok=False)
    assert offline.returncode == 1 and "connection refused" in offline.stderr \
        and "keeps working offline and sends everything at the next sync" in offline.stderr, offline.stderr
    assert "outbox_pending 0" not in tg(dev, "agent", "status").stdout
    door.running.prov = _provision_serve_again(org, door.running.http_port, login["broker"].rsplit(":", 1)[-1])
    assert _sync(dev)["outbox_pending"] == 0
    _sync(dev)                                                          # again: nothing counted twice
    stats = json.loads(tg(org, "server", "stats", "--json").stdout)
    assert stats["entries"] == 5 and stats["inside_now"] == {"1": 3}, stats  # Ann in, out, in; Ann's 2nd twice; Bob
