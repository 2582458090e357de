"""`ticketgate agent …` through agent.cli.main and as real processes."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.cli import main
from agent.keyring import Keyring
from agent.agent_cli import human
from agent.ledger import Ledger
from agent.verdicts import Code, Verdict
from tests.test_core_support import issue, test_key
from tests.vectors.make_vectors import pretix_pem_b64, private

ROOT = Path(__file__).resolve().parent.parent
KEY = test_key()
FAR = 2**32 - 1   # valid_until far in the future: the CLI uses the real clock


@pytest.fixture
def home(tmp_path):
    h = tmp_path / "home"
    ring = Keyring()
    ring.add(KEY.trusted())
    ring_file = tmp_path / "ring.json"
    ring.save(ring_file)
    assert main(["agent", "--home", str(h), "trust", str(ring_file)]) == 0
    led = Ledger.open(h / "ledger.sqlite")
    led.upsert_events([{"event_id": 1, "name": "Night 1", "zones": [{"zone_id": 1, "name": "Floor"}]},
                       {"event_id": 2, "name": "Night 2", "zones": [{"zone_id": 1, "name": "Floor"},
                                                                    {"zone_id": 3, "name": "Balcony"}]}])
    led.upsert_tickets([{"ticket_key": "11", "event_id": 1, "order_number": "ORD-1", "buyer_name": "Hélène Dupont",
                         "email": "helene@example.org"},
                        {"ticket_key": "12", "event_id": 1, "order_number": "ORD-2", "buyer_name": "Bob Stone"}])
    led.close()
    return h


def run(home, *args, stdin: bytes | None = None, capsys=None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    rc = main(["agent", "--home", str(home), *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_scan_args_json(home, capsys):
    t = issue(KEY, 11, valid_until=FAR)
    rc, out, _ = run(home, "scan", "--json", "--reread-window", "0", t, t, "garbage", capsys=capsys)
    lines = [json.loads(x) for x in out.splitlines()]
    assert rc == 0 and [x["verdict"] for x in lines] == ["accepted", "already_used", "malformed"]
    assert lines[0]["direction"] == "in" and lines[0]["scan_uuid"] and lines[1]["first_use"]["device"] == "device"


def test_scan_stdin_human_with_bad_bytes(home, capsys, monkeypatch):
    lines = (issue(KEY, 12, valid_until=FAR) + "\r\n").encode() + b"\xff\xfe\x00junk\n\n" + b"TG1:ZZZ\n"
    rc, out, _ = run(home, "scan", stdin=lines, capsys=capsys, monkeypatch=monkeypatch)
    got = out.splitlines()
    assert rc == 0 and len(got) == 3
    assert got[0].startswith("ACCEPTED — IN | ticket 12 | event 1")
    assert got[1].startswith("NOT A TICKET") and got[2].startswith("NOT A TICKET")


def test_scan_human_says_when_a_ticket_not_valid_yet_or_expired_is_valid(home, capsys):
    """Before: 'NOT YET VALID | ticket 11 | event 1' and 'EXPIRED | …' with no time: a door on a laptop (a
    keyboard-wedge laser into `agent scan`) could not tell the guest when to come back, as the app's screen does."""
    early = issue(KEY, 11, valid_from=2**31, valid_until=FAR)
    late = issue(KEY, 12, valid_from=1, valid_until=1_000_000_000)
    rc, out, _ = run(home, "scan", early, late, capsys=capsys)
    assert rc == 0 and out.splitlines() == [
        "NOT VALID YET | ticket 11 | event 1 | valid from 2038-01-19 03:14:08 UTC",
        "EXPIRED | ticket 12 | event 1 | was valid until 2001-09-09 01:46:40 UTC"]


def test_scan_says_the_apps_title_for_every_verdict(home, capsys):
    """`agent scan` (a laptop at a door) printed code names, REVOKED, UNPAID, MALFORMED, where the door screen and
    the guides say TICKET CANCELLED, PAYMENT PENDING, NOT A TICKET. Now each line is headed by the app's title, from
    one definition (agent.verdict_words), for every code; `--json` keeps the codes."""
    from kiosk_ui.presenters.verdict import present

    class NoNames:
        def event(self, *_): return None
        def zone(self, *_): return None
        def category(self, *_): return None
        def ticket(self, *_): return None
    for code in Code:
        for direction in ("in", "out"):
            v = Verdict(code, direction=direction)
            assert human(v).split(" | ")[0] == present(v, NoNames()).title, v
    led = Ledger.open(home / "ledger.sqlite")
    led.revoke(["11"], "refunded")
    led.close()
    admitted, refunded = issue(KEY, 12, valid_until=FAR), issue(KEY, 11, valid_until=FAR)
    rc, out, _ = run(home, "scan", "--reread-window", "0", admitted, admitted, refunded, "garbage", capsys=capsys)
    assert rc == 0 and [line.split(" | ")[0] for line in out.splitlines()] == [
        "ACCEPTED — IN", "ALREADY USED", "TICKET CANCELLED", "NOT A TICKET"]


def test_scan_and_app_titles_agree_on_rereads_and_quick_cancellation(home, capsys):
    """Before: a ticket read again at the same gate printed ACCEPTED — IN in `agent scan` where the app shows a blue
    ALREADY READ — 2 s ago, and quick cancellation printed CANCELLED FOR RESALE where the app shows the purple
    CANCELLED — BACK ON SALE. Now one definition (agent.verdict_words.screen_title) for every code, direction, mode
    and re-read, in every language the app has; the CLI (English) heads its lines with it."""
    from kiosk_ui import i18n
    from kiosk_ui.presenters.verdict import present
    from agent.policy import Mode
    from agent.verdict_words import screen_title
    from agent.verdicts import Reason

    class NoNames:
        def event(self, *_): return None
        def zone(self, *_): return None
        def category(self, *_): return None
        def ticket(self, *_): return None
    cases = [Verdict(code, direction=direction, **extra) for code in Code for direction in ("in", "out")
             for extra in ({}, {"repeat": True}, {"repeat": True, "reason": Reason.REREAD, "since_read": 2.4})]
    try:
        for lang in i18n.LANGUAGES:
            i18n.set_language(lang)
            for mode in Mode:
                for v in cases:
                    assert screen_title(v, mode, lang) == present(v, NoNames(), mode).title, (lang, mode, v)
                    if lang == "en":
                        assert human(v, mode).split(" | ")[0] == present(v, NoNames(), mode).title, (mode, v)
    finally:
        i18n.set_language("en")
    t = issue(KEY, 12, valid_until=FAR)
    rc, out, _ = run(home, "scan", t, t, capsys=capsys)
    assert rc == 0 and [line.split(" | ")[0] for line in out.splitlines()] == ["ACCEPTED — IN", "ALREADY READ — 0 s ago"]
    rc, out, _ = run(home, "scan", "--mode", "quick_cancel", "--reread-window", "0", issue(KEY, 11, valid_until=FAR),
                     capsys=capsys)
    assert rc == 0 and out.split(" | ")[0] == "CANCELLED — BACK ON SALE", out


def test_scan_says_when_a_ticket_was_put_back_on_sale_not_first_used(home, capsys):
    """A ticket put back on sale by quick cancellation, scanned again at the box office or at a gate, printed
    'first used 2026-… on DEVICE at GATE': it was never used, that is when it was cancelled (the app says
    'Cancelled for resale on …')."""
    t = issue(KEY, 11, valid_until=FAR)
    rc, out, _ = run(home, "scan", "--mode", "quick_cancel", "--reread-window", "0", t, t, capsys=capsys)
    again = out.splitlines()[1]
    rc, out, _ = run(home, "scan", "--reread-window", "0", t, capsys=capsys)
    for line in (again, out):
        assert "first used" not in line and " | cancelled for resale 20" in line and "on device at gate" in line, line
    assert out.startswith("CANCELLED FOR RESALE | ")


def test_scan_prints_the_organisers_message_as_the_app_shows_it(home, capsys):
    """The app shows an admitted ticket's organiser messages in a yellow band ('Must come with an adult': do it, the
    door staff's guide says); `agent scan` printed none of them. Now last on the line, from the same definition
    (agent.event_names.organiser_messages); not on a re-read (the app's blue screen has none either)."""
    led = Ledger.open(home / "ledger.sqlite")
    led.upsert_events([{"event_id": 1, "name": "Night 1",
                        "zones": [{"zone_id": 1, "name": "Floor", "message": "Wristband: green"}],
                        "categories": [{"category_id": 2, "name": "Child", "message": "Must come with an adult"}]}])
    led.close()
    child, adult = issue(KEY, 11, category=2, zones=(1,), valid_until=FAR), issue(KEY, 12, zones=(1,), valid_until=FAR)
    rc, out, _ = run(home, "scan", child, child, adult, capsys=capsys)
    assert rc == 0 and out.splitlines() == [
        "ACCEPTED — IN | ticket 11 | event 1 | zones 1 (Floor) | Must come with an adult | Wristband: green",
        "ALREADY READ — 0 s ago | ticket 11 | event 1 | zones 1 (Floor) | same code read again | (repeat)",
        "ACCEPTED — IN | ticket 12 | event 1 | zones 1 (Floor) | Wristband: green"]


def test_scan_names_the_zones_as_the_app_does(home, capsys):
    """`agent scan` named a ticket's zones by number ('zones 1,3') where the app shows their names (Floor, Balcony):
    the door read numbers it could not match to the signs. Now 'zones 1 (Floor), 3 (Balcony)': the names from the
    event data (agent.event_names), the numbers `--zones` takes; a zone the event does not name stays a number."""
    both, unnamed = issue(KEY, 21, event_id=2, zones=(1, 3), valid_until=FAR), issue(KEY, 22, zones=(9,), valid_until=FAR)
    rc, out, _ = run(home, "scan", both, unnamed, capsys=capsys)
    assert rc == 0 and out.splitlines() == ["ACCEPTED — IN | ticket 21 | event 2 | zones 1 (Floor), 3 (Balcony)",
                                            "ACCEPTED — IN | ticket 22 | event 1 | zones 9"], out


def test_scan_tells_an_event_not_on_this_device_from_one_not_selected(home, capsys):
    """A ticket for an event the device holds no data of said 'event 3 is not selected on this device', as if
    a supervisor could select it (`configure --events 3` is refused: not an event of this device); the app says
    'Ticket for another event, not on this device.' One it holds but has not selected is named, as the app names it."""
    rc, out, _ = run(home, "scan", issue(KEY, 31, event_id=3, valid_until=FAR), capsys=capsys)
    assert rc == 0 and out.strip() == "WRONG EVENT | ticket 31 | event 3 | event 3 is not on this device (not one of its events, or removed by the organiser)"
    rc, out, _ = run(home, "scan", "--events", "2", issue(KEY, 11, valid_until=FAR), capsys=capsys)
    assert rc == 0 and out.strip() == "WRONG EVENT | ticket 11 | event 1 | Ticket for Night 1, not selected on this device"


def test_configure_is_stored_and_used_by_scan(home, capsys):
    rc, out, _ = run(home, "configure", "--mode", "entry_exit", "--events", "2", "--zones", "1,3", "--gate", "west",
                     "--device-id", "tab-4", "--reread-window", "0", "--json", capsys=capsys)
    assert rc == 0 and json.loads(out)["mode"] == "entry_exit"
    rc, out, _ = run(home, "status", "--json", capsys=capsys)
    pol = json.loads(out)["policy"]
    assert (pol["mode"], pol["events"], pol["zones"], pol["gate"], pol["device_id"]) == ("entry_exit", [2], [1, 3],
                                                                                        "west", "tab-4")
    t = issue(KEY, 21, event_id=2, zones=(3,), valid_until=FAR)
    rc, out, _ = run(home, "scan", "--json", t, t, issue(KEY, 22, event_id=1, valid_until=FAR), capsys=capsys)
    got = [(x["verdict"], x["direction"]) for x in map(json.loads, out.splitlines())]
    assert got == [("accepted", "in"), ("accepted", "out"), ("wrong_event", None)]
    rc, out, _ = run(home, "scan", "--json", "--mode", "multiple", "--events", "1", "--zones", "",
                     issue(KEY, 23, zones=(9,), valid_until=FAR), capsys=capsys)   # flags override, not stored
    assert json.loads(out)["verdict"] == "accepted"
    rc, out, _ = run(home, "status", "--json", capsys=capsys)
    assert json.loads(out)["policy"]["mode"] == "entry_exit"


def test_configure_fixed_direction_and_alternate(home, capsys):
    run(home, "configure", "--mode", "entry_exit", "--direction", "out", capsys=capsys)
    rc, out, _ = run(home, "status", "--json", capsys=capsys)
    assert json.loads(out)["policy"]["direction"] == "out"
    run(home, "configure", "--direction", "alternate", capsys=capsys)
    rc, out, _ = run(home, "status", "--json", capsys=capsys)
    assert json.loads(out)["policy"]["direction"] is None


def test_search_human_and_json(home, capsys):
    """`--json` said `"revoked": null` for a ticket in use (the text says nothing, or `out of use: REASON`): now a
    boolean, the reason beside it."""
    rc, out, _ = run(home, "search", "helene", capsys=capsys)
    assert rc == 0 and "Hélène Dupont" in out and "ORD-1" in out
    rc, out, _ = run(home, "search", "--json", "ORD-2", capsys=capsys)
    assert [(r["ticket_key"], r["revoked"], r["revoked_reason"]) for r in json.loads(out)] == [("12", False, "")]
    led = Ledger.open(home / "ledger.sqlite")
    led.revoke(["12"], "refunded")
    led.close()
    rc, out, _ = run(home, "search", "--json", "ORD-2", capsys=capsys)
    assert [(r["revoked"], r["revoked_reason"]) for r in json.loads(out)] == [(True, "refunded")]
    rc, out, _ = run(home, "search", "ORD-2", capsys=capsys)
    assert "paid, out of use: refunded" in out
    rc, out, _ = run(home, "search", "nobody-at-all", capsys=capsys)
    assert "no match" in out


def test_search_says_what_a_check_in_would_say_now_as_the_app_lists_it(home, capsys):
    """`agent search` said only the order's status ("paid") for a ticket already used, or inside in entry/exit mode,
    where the app's search lists what a scan would say now (valid, used, inside now…, docs/guides door staff): a
    door on a laptop checked in by hand a ticket just used elsewhere, to be refused. Now each row ends with the
    app's word, `--json` has `state` (agent.ticket_state, one definition for both)."""
    def search(*args) -> list[str]:
        rc, out, _ = run(home, "search", *args, capsys=capsys)
        assert rc == 0
        return out.splitlines()
    assert [line.rsplit(" · ", 1)[1] for line in search("ORD-1")] == ["valid"]
    rc, _, _ = run(home, "scan", issue(KEY, 11, valid_until=FAR), capsys=capsys)
    assert [line.rsplit(" · ", 1)[1] for line in search("ORD-1")] == ["used"]
    rc, out, _ = run(home, "search", "--json", "ORD-1", capsys=capsys)
    assert [r["state"] for r in json.loads(out)] == ["used"]
    run(home, "configure", "--mode", "entry_exit", capsys=capsys)
    assert [line.rsplit(" · ", 1)[1] for line in search("ORD-1")] == ["inside now"]
    led = Ledger.open(home / "ledger.sqlite")
    led.revoke(["12"], "refunded")
    led.close()
    assert search("ORD-2")[0].endswith("paid, out of use: refunded · cancelled / refunded")


def test_scan_with_nobody_on_duty_says_log_in_first_and_goes_on(home, capsys, monkeypatch):
    """With a staff list on the device and nobody on duty, `agent scan` (a laser typing into it) stopped at the first
    ticket with an error: the laser's next lines went to the shell, and nobody at the door saw why. The app shows
    LOG IN FIRST and keeps reading (a badge logs in). Now each ticket gets a 'LOG IN FIRST | …' line, nothing is
    recorded, the session goes on; the exit code says some were not judged."""
    from agent.staff import hash_pin
    from agent.staff_session import store_roster
    led = Ledger.open(home / "ledger.sqlite")
    with led.transaction():
        store_roster(led, "fest", [{"staff_id": "1", "name": "Léa Martin", "role": "door", "active": True,
                                    "pin": hash_pin("1234"), "badge_serial": 0}])
    led.close()
    t = issue(KEY, 11, valid_until=FAR)
    rc, out, _ = run(home, "scan", stdin=f"{t}\ngarbage\n".encode(), capsys=capsys, monkeypatch=monkeypatch)
    assert rc == 1 and [line.split(" | ")[0] for line in out.splitlines()] == ["LOG IN FIRST", "LOG IN FIRST"]
    assert "scan a staff badge, or `ticketgate agent login --staff NAME --pin`; nothing recorded" in out
    rc, out, _ = run(home, "scan", "--json", t, capsys=capsys)
    assert rc == 1 and "log in first" in json.loads(out)["login_needed"]
    rc, _, _ = run(home, "login", "--staff", "lea martin", "--pin", stdin=b"1234\n", capsys=capsys,
                   monkeypatch=monkeypatch)
    rc, out, _ = run(home, "scan", t, capsys=capsys)
    assert rc == 0 and out.startswith("ACCEPTED — IN | ticket 11")       # the ticket was not used by the refusals


def test_a_staff_badge_scanned_says_on_duty_as_the_app_does(home, capsys, monkeypatch):
    """A staff badge typed into `agent scan` by the laser printed 'on duty: Sam Okafor (supervisor)' where the app's
    title is ON DUTY (agent.verdict_words): the door's two screens said it differently. Now 'ON DUTY | Sam Okafor
    (supervisor)', headed like every other scan line; the next ticket is judged under that login."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    from agent.home import Broker, Credentials
    from agent.staff import hash_pin, make_badge
    from agent.staff_session import store_roster
    server = Ed25519PrivateKey.generate()
    creds = Credentials("door-1", "fest", "", "north", (1, 2), "door-1", "pw", Broker("127.0.0.1", 1883),
                        server.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw), 1.0, "door")
    (home / "credentials.json").write_text(json.dumps(creds.to_json()))
    led = Ledger.open(home / "ledger.sqlite")
    with led.transaction():
        store_roster(led, "fest", [{"staff_id": "2", "name": "Sam Okafor", "role": "supervisor", "active": True,
                                    "pin": hash_pin("9876"), "badge_serial": 1}])
    led.close()
    badge, t = make_badge("fest", "2", 1, server.sign), issue(KEY, 11, valid_until=FAR)
    rc, out, _ = run(home, "scan", stdin=f"{badge}\n{t}\n".encode(), capsys=capsys, monkeypatch=monkeypatch)
    lines = out.splitlines()
    assert rc == 0 and lines[0] == "ON DUTY | Sam Okafor (supervisor)", out
    assert lines[1].startswith("ACCEPTED — IN | ticket 11"), out


def test_annul_says_what_it_undid_as_the_app_does(home, capsys):
    """`agent annul` after a quick cancellation printed 'annulled <uuid> (ticket 11)' where the app's button says
    Undo cancellation: nobody at the door could tell the ticket was no longer on sale. Now the line says the ticket is
    valid again (or, after an entry, that the entry is undone), and the ticket is admitted once more."""
    t = issue(KEY, 11, valid_until=FAR)
    run(home, "configure", "--mode", "quick_cancel", capsys=capsys)
    rc, out, _ = run(home, "scan", t, capsys=capsys)
    assert rc == 0 and out.startswith("CANCELLED — BACK ON SALE | ticket 11"), out
    rc, out, _ = run(home, "annul", "--reason", "not sold after all", capsys=capsys)
    assert rc == 0 and out.startswith("Ticket 11 is valid again (cancellation undone) | check-in "), out
    run(home, "configure", "--mode", "normal", capsys=capsys)
    rc, out, _ = run(home, "scan", t, capsys=capsys)
    assert rc == 0 and out.startswith("ACCEPTED — IN | ticket 11"), out
    rc, out, _ = run(home, "annul", "--reason", "wrong person", capsys=capsys)
    assert rc == 0 and out.startswith("Entry of ticket 11 undone | check-in "), out


def test_status_human(home, capsys):
    rc, out, _ = run(home, "status", capsys=capsys)
    assert rc == 0 and "mode normal" in out and "tickets 2" in out and "1 trusted key(s)" in out
    run(home, "checkin", "11", "--reason", "r", capsys=capsys)
    rc, out, _ = run(home, "status", capsys=capsys)
    assert "inside now: event 1: 1" in out


def test_checkin_and_annul(home, capsys):
    rc, out, _ = run(home, "checkin", "11", "--reason", "phone dead", "--json", capsys=capsys)
    v = json.loads(out)
    assert rc == 0 and v["verdict"] == "accepted"
    rc, out, _ = run(home, "checkin", "11", "--reason", "again", capsys=capsys)
    assert rc == 1 and out.startswith("ALREADY USED")
    rc, out, _ = run(home, "annul", "--reason", "wrong person", "--json", capsys=capsys)
    assert rc == 0 and json.loads(out)["annulled"] == v["scan_uuid"]
    rc, out, err = run(home, "annul", "--reason", "again", capsys=capsys)
    assert rc == 1 and "nothing to annul" in err
    rc, out, err = run(home, "annul", "--scan", "nope", "--reason", "x", capsys=capsys)
    assert rc == 1 and "no check-in nope" in err
    rc, out, _ = run(home, "checkin", "11", "--reason", "really", capsys=capsys)
    assert rc == 0
    led = Ledger.open(home / "ledger.sqlite")
    assert [r[0] for r in led.conn.execute("SELECT kind FROM checkins ORDER BY seq")] == ["entry", "annul", "entry"]


def test_trust_pretix_then_scan(home, tmp_path, capsys):
    from agent.pretix_sig1 import PretixTicket, sign_secret
    event_json = tmp_path / "event.json"
    event_json.write_text(json.dumps({"slug": "conf", "valid_keys": {"pretix_sig1": [pretix_pem_b64(private("px"))]}}))
    rc, out, _ = run(home, "trust-pretix", str(event_json), "--event-id", "2", "--item", "5=3:1", "--subevent", "40=1",
                     capsys=capsys)
    assert rc == 0 and "1 pretix key(s) for event 2" in out
    secret = sign_secret(PretixTicket("seed12345", item=5), private("px"))
    rc, out, _ = run(home, "scan", "--json", secret, capsys=capsys)
    v = json.loads(out)
    assert (v["verdict"], v["event_id"], v["category"], v["zones"], v["ticket"]) == ("accepted", 2, 3, [1],
                                                                                       "pretix:seed12345")
    rc, out, _ = run(home, "trust-pretix", str(event_json), "--event-id", "2", capsys=capsys)   # replaces, no dup
    assert len(Keyring.load(home / "keyring.json").pretix) == 1


def test_attack_one_pretix_key_trusted_for_two_events_is_refused(home, tmp_path, capsys):
    """A pretix secret names no event (seed, item, variation, subevent): the device maps it to the event whose trusted
    key signed it. The same pretix key trusted for events 2 and 3 (a copied event, or the wrong file): before, both
    taken and a ticket sold for event 3 was admitted as event 2's (the first trusting the key). Now the second is
    refused with what to do, the keyring unchanged; the same event trusted again still replaces."""
    from agent.pretix_sig1 import PretixTicket, sign_secret
    event_json = tmp_path / "event.json"
    event_json.write_text(json.dumps({"slug": "conf", "valid_keys": {"pretix_sig1": [pretix_pem_b64(private("px"))]}}))
    assert run(home, "trust-pretix", str(event_json), "--event-id", "2", capsys=capsys)[0] == 0
    before = (home / "keyring.json").read_bytes()
    rc, _, err = run(home, "trust-pretix", str(event_json), "--event-id", "3", capsys=capsys)
    assert rc == 1 and "trusted for event 2 already" in err and "--subevent" in err, err
    assert (home / "keyring.json").read_bytes() == before
    assert run(home, "trust-pretix", str(event_json), "--event-id", "2", capsys=capsys)[0] == 0
    rc, out, _ = run(home, "scan", "--json", sign_secret(PretixTicket("seed12345", item=5), private("px")), capsys=capsys)
    assert json.loads(out)["event_id"] == 2


@pytest.mark.parametrize("content,args", [("{bad", []), ('{"valid_keys": {}}', []),
                                          ('{"valid_keys": {"pretix_sig1": ["xx"]}}', []),
                                          ('{"valid_keys": {"pretix_sig1": ["xx"]}}', ["--item", "oops"]),
                                          ('{"valid_keys": 5}', []), ('{"valid_keys": {"pretix_sig1": 5}}', []),
                                          ('{"valid_keys": {"pretix_sig1": [5]}}', []), ("[]", [])])
def test_trust_pretix_errors_are_clear(home, tmp_path, capsys, content, args):
    """Each refused with its reason, no traceback (before: `"valid_keys": 5` ended on an AttributeError traceback;
    a resource that was no object was said to hold a key that is not base64)."""
    path = tmp_path / "e.json"
    path.write_text(content)
    rc, _, err = run(home, "trust-pretix", str(path), "--event-id", "1", *args, capsys=capsys)
    assert rc == 1 and err.startswith("ticketgate agent trust-pretix:") and "Traceback" not in err


def test_trust_bad_file(home, tmp_path, capsys):
    (tmp_path / "k.json").write_text("nope")
    rc, _, err = run(home, "trust", str(tmp_path / "k.json"), capsys=capsys)
    assert rc == 1 and "cannot read" in err
    rc, _, err = run(home, "trust", str(tmp_path / "missing.json"), capsys=capsys)
    assert rc == 1


def test_corrupt_ledger_and_keyring_give_clear_errors(tmp_path, capsys):
    h = tmp_path / "h"
    h.mkdir()
    (h / "ledger.sqlite").write_bytes(b"definitely not sqlite" * 50)
    rc, _, err = run(h, "status", capsys=capsys)
    assert rc == 3 and "left untouched" in err
    assert (h / "ledger.sqlite").read_bytes() == b"definitely not sqlite" * 50
    h2 = tmp_path / "h2"
    h2.mkdir()
    (h2 / "keyring.json").write_text("{")
    rc, _, err = run(h2, "scan", "x", capsys=capsys)
    assert rc == 3 and "keyring.json" in err


def test_top_level_help_and_unknown(capsys):
    assert main([]) == 0 and "agent" in capsys.readouterr().out
    assert main(["nope"]) == 2


# -- real processes -----------------------------------------------------------------------------------------------
def _env(home):
    return dict(os.environ, PYTHONPATH=str(ROOT), TICKETGATE_HOME=str(home))


def test_real_process_scan_stdin(home):
    payloads = [issue(KEY, 11, valid_until=FAR), "junk", issue(KEY, 11, valid_until=FAR)]
    done = subprocess.run([sys.executable, "-m", "agent", "agent", "scan", "--json", "--reread-window", "0"],
                          input="\n".join(payloads).encode() + b"\n", capture_output=True, env=_env(home), cwd=ROOT,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert [json.loads(x)["verdict"] for x in done.stdout.splitlines()] == ["accepted", "malformed", "already_used"]


def test_scan_path_imports_nothing_heavy(home):
    """`ticketgate agent scan` never loads Kivy, OpenCV, paho-mqtt, zeroconf, PIL, protobuf or sqlite-utils."""
    code = ("import sys; from agent.cli import main; main(['agent', 'scan', '--json', 'junk']); "
            "heavy = [m for m in ('kivy', 'cv2', 'paho', 'zeroconf', 'PIL', 'google.protobuf', "
            "'numpy', 'segno', 'sqlite_utils') if m in sys.modules]; print('HEAVY', heavy)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(home), cwd=ROOT,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "HEAVY []"



def test_status_verify(home, capsys):
    rc, out, _ = run(home, "status", "--verify", "--json", capsys=capsys)
    assert rc == 0 and json.loads(out)["integrity"] == "ok"


@pytest.mark.parametrize("flag, value", [("--gate", "Entrée principale côté parking sud — porte B, près de la billetterie"),
                                         ("--gate", "west\ngate"), ("--device-id", "tab-" + "4" * 70)])
def test_configure_refuses_a_name_the_server_would_refuse_in_every_entry(home, capsys, flag, value):
    """A gate name over 64 characters (or not on one line) was stored, and the server refused every entry scanned
    there (agent.sync.messages.name_refusal): the other gates never learnt them, the reports missed them."""
    with pytest.raises(SystemExit) as exit_:
        run(home, "configure", flag, value, capsys=capsys)
    assert exit_.value.code == 2 and "at most 64 characters, on one line" in capsys.readouterr().err
    rc, out, _ = run(home, "status", "--json", capsys=capsys)
    assert json.loads(out)["policy"]["gate"] != value and json.loads(out)["policy"]["device_id"] != value


@pytest.mark.parametrize("command", [["server", "--data", "{d}", "device", "register", "door-1", "--gate"],
                                     ["server", "--data", "{d}", "device", "configure", "door-1", "--gate"],
                                     ["provision", "tokens", "create", "--data", "{d}", "--org", "acme", "--gate"]])
def test_the_organisers_and_technicians_gate_flags_refuse_it_too(tmp_path, capsys, command):
    """The gate an organiser registers or configures remotely, or a technician's enrollment token carries: the same
    name the server then refuses in every entry."""
    args = [a.replace("{d}", str(tmp_path / "data")) for a in command]
    try:
        rc = main([*args, "Entrée principale côté parking sud — porte B, près de la billetterie"])
    except SystemExit as exit_:
        rc = exit_.code
    assert rc == 2 and "at most 64 characters, on one line" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()


def test_pay_takes_the_number_in_any_case_and_refuses_an_ambiguous_one(home, capsys):
    """`agent pay` finds the order whatever case is typed (docs/server.md). Two numbers differing only by case are
    never made by the server; a ledger holding them anyway refuses a number not typed exactly rather than pick one."""
    led = Ledger.open(home / "ledger.sqlite")
    led.upsert_tickets([{"ticket_key": str(k), "event_id": 1, "order_number": n, "order_status": "pending"}
                        for k, n in ((21, "Kiosk-1-5-1"), (22, "kiosk-1-5-1"), (23, "Desk-2-7-1"))])
    led.close()
    rc, out, _ = run(home, "pay", "desk-2-7-1", "--json", capsys=capsys)
    assert rc == 0 and json.loads(out)["order_number"] == "Desk-2-7-1"
    rc, _, err = run(home, "pay", "KIOSK-1-5-1", capsys=capsys)
    assert rc == 1 and "differ only by case (Kiosk-1-5-1, kiosk-1-5-1): type it exactly as printed" in err
    rc, out, _ = run(home, "pay", "kiosk-1-5-1", "--json", capsys=capsys)
    assert rc == 0 and json.loads(out) == dict(json.loads(out), order_number="kiosk-1-5-1", tickets=1)
