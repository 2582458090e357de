"""Session V's walk of the door staff's rough edges through the public commands (`ticketgate …` subprocesses, fresh
HOMEs, `provision serve --start-broker`, `server serve`, real SQLite files) and the app offscreen
(tests/door_v_scenario.py). Each test names the defect it fails on (old code)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.broker import mosquitto_binary
from tests.helpers import run_offscreen_scenario
from tests.qa_organiser import organiser_running, tg
from tests.test_qa_skew import _event_now

needs_broker = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def _folders(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    """The organiser's folder holding an event on now (its tickets' payloads), and an empty door folder."""
    org, door = tmp_path / "org", tmp_path / "door"
    org.mkdir()
    door.mkdir()
    return org, door, _event_now(org)


def _north_synced(running, org: Path, door: Path) -> None:
    """The door enrolled as gate north for event 1, holding the event's data."""
    running.enroll(door, "north", events="1")
    tg(org, "server", "push")
    assert _sync(door)["bundle_version"] > 0


def _sync(device: Path) -> dict:
    said = tg(device, "agent", "sync", "--until-idle", "--for", "40", "--json").stdout
    return json.loads(said.strip().splitlines()[-1])


def _scan(device: Path, *payloads: str, lang: str = "en") -> list[str]:
    return tg(device, "agent", "scan", "--lang", lang, "--reread-window", "0",
              stdin="".join(p + "\n" for p in payloads)).stdout.splitlines()


def _app(tmp: Path, device: Path, lang: str, *payloads: str) -> dict:
    """What the app's Scan screen shows for `payloads` typed by a laser on `device` (its home), in `lang`."""
    (tmp / "payloads.json").write_text(json.dumps(list(payloads)))
    out = tmp / f"app-{lang}.json"
    run_offscreen_scenario("door_v_scenario.py", str(out), str(device / "device"), lang, str(tmp / "payloads.json"))
    return json.loads(out.read_text())


def test_a_never_enrolled_device_says_it_trusts_no_keys_yet_and_how_to_enrol(tmp_path):
    """A steward picks up a device nobody enrolled and scans a genuine ticket: the door said UNKNOWN ISSUER ("key 1
    is not in this device's keyring", the app: "Check the event, or sync the device") as for a stranger's ticket,
    though it trusts no key at all and no sync can help before enrolment. It now says NO TICKET KEYS: the device
    trusts no ticket keys yet, enrol it with the organiser's code (the command), then sync; in French too, and the
    app says the same with its Set-up screen."""
    org, door = tmp_path / "org", tmp_path / "door"
    org.mkdir()
    door.mkdir()
    payloads = _event_now(org)
    line = _scan(door, payloads[0])[0]
    assert line.startswith("NO TICKET KEYS | this device trusts no ticket keys yet"), line
    assert "ticketgate provision enroll --code CODE --server HOST:PORT" in line and "then sync" in line, line
    said = json.loads(tg(door, "agent", "scan", "--json", stdin=payloads[0] + "\n").stdout)
    assert said["verdict"] == "unknown_key" and said["reason"] == "no_keys", said
    french = _scan(door, payloads[1], lang="fr")[0]
    assert french.startswith("AUCUNE CLÉ DE BILLET | cet appareil ne fait encore confiance à aucune clé"), french
    assert _scan(door, "hello")[0].startswith("NOT A TICKET | "), "what is no ticket is still said to be none"
    for lang, title, words in (("en", "NO TICKET KEYS", "enroll it on the Set-up screen"),
                               ("fr", "AUCUNE CLÉ DE BILLET", "inscrivez-le dans l'écran Configuration")):
        shown = _app(tmp_path, door, lang, payloads[0])["read"][0]
        assert shown["title"] == title and words in shown["reason"], shown


@needs_broker
def test_a_wiped_door_shows_nothing_of_its_old_event_inside(tmp_path):
    """The technician wipes a door handed back after the show (`provision wipe --yes`): its entries stay, to be
    uploaded under its next enrollment, but the event is gone from it. `agent status` still said "inside now: event
    1: 1" (and --json its count), the app's strip "Inside 1", for an event the device no longer holds. After a wipe
    nothing of the old event is shown; the wiped line still says what it keeps."""
    org, door, payloads = _folders(tmp_path)
    with organiser_running(org) as running:
        _north_synced(running, org, door)
    assert _scan(door, payloads[0])[0].startswith("ACCEPTED — IN | "), "the guest came in"
    assert "inside now: event 1: 1" in tg(door, "agent", "status").stdout, "before the wipe: one inside"
    tg(door, "provision", "wipe", "--yes")
    said = tg(door, "agent", "status").stdout
    assert "inside now" not in said and "wiped (" in said, said
    assert json.loads(tg(door, "agent", "status", "--json").stdout)["inside"] == {}
    assert "présents" not in tg(door, "agent", "status", "--lang", "fr").stdout
    assert _app(tmp_path, door, "en")["counters"].endswith("Inside 0"), "the app's strip too"


def test_configure_says_the_settings_it_saved_in_words_and_json_on_asking(tmp_path):
    """A supervisor sets the door to entry/exit for the evening: `agent configure` printed the whole settings record
    as raw JSON (event_times, pass_events, known_events…), in English whatever the language, where `agent status`
    says "device … at …: mode …, events …, zones …". It now says what it saved in those words, in the device's
    language; --json keeps the JSON."""
    door = tmp_path / "door"
    door.mkdir()
    said = tg(door, "agent", "configure", "--device-id", "tab-4", "--gate", "west", "--mode", "entry_exit",
              "--direction", "in").stdout.splitlines()
    assert said == ["settings saved: device tab-4 at west: mode entry_exit, events all, zones all",
                    "  direction: entries only",
                    "  the same code read again within 3 s repeats its verdict (nothing recorded)"], said
    status = tg(door, "agent", "status").stdout.splitlines()
    assert said[0].removeprefix("settings saved: ") == status[1], "the words `agent status` says them in"
    french = tg(door, "agent", "configure", "--lang", "fr", "--reread-window", "0").stdout.splitlines()
    assert french == ["réglages enregistrés : appareil tab-4 à la porte west : mode Entrée / sortie, événements tous, "
                      "zones toutes", "  sens : entrées seulement", "  un code relu est jugé de nouveau"], french
    saved = json.loads(tg(door, "agent", "configure", "--mode", "normal", "--json").stdout)
    assert (saved["mode"], saved["gate"], saved["reread_window"]) == ("normal", "west", 0), saved


@needs_broker
def test_an_undo_the_server_refuses_for_a_stale_role_is_restored_on_the_door(tmp_path):
    """Sam, a supervisor, is made door staff by the organiser; her door has not synced since and still holds her
    as a supervisor. She undoes an entry there: the door says nobody is inside. The server refuses the undo (the
    role she held then may not undo) and counts the guest inside, but the door went on saying 0 inside, and would
    let the same ticket in again: the two disagreed for good. The refusal now reaches the door, which restores the
    entry (the guest inside, the ticket used, as on the server) and says so in `agent status` (both languages) and on
    the app's Sync screen, whose strip counts the guest inside."""
    org, door = tmp_path / "org", tmp_path / "door"
    org.mkdir()
    door.mkdir()
    payloads = _event_now(org)
    sam = json.loads(tg(org, "server", "staff", "add", "--name", "Sam Okafor", "--role", "supervisor", "--pin",
                        "--json", stdin="4321\n").stdout)["staff_id"]
    with organiser_running(org) as running:
        running.enroll(door, "north", events="1")
        tg(org, "server", "push")
        assert _sync(door)["bundle_version"] > 0
        tg(door, "agent", "login", "--staff", "Sam Okafor", "--pin", stdin="4321\n")
        tg(org, "server", "staff", "set", sam, "--role", "door")     # the door does not hear of it before the undo
        time.sleep(1.0)
        assert _scan(door, payloads[0])[0].startswith("ACCEPTED — IN | ")
        assert "Entry of ticket" in tg(door, "agent", "annul", "--reason", "wrong ticket").stdout
        assert "inside now" not in tg(door, "agent", "status").stdout, "the door undid it: nobody inside"
        assert _sync(door)["outbox_pending"] == 0
        assert json.loads(tg(org, "server", "stats", "--json").stdout)["inside_now"] == {"1": 1}, "the server: 1"
    status = tg(door, "agent", "status").stdout
    assert "inside now: event 1: 1" in status, status
    refused = next(line for line in status.splitlines() if "REFUSED by the server" in line)
    assert "cannot undo a check-in" in refused and refused.endswith(
        "; the undo did not count: what it undid stands again on this device, as on the server"), refused
    assert json.loads(tg(door, "agent", "status", "--json").stdout)["refused_uploads"][0]["restored"] is True
    assert "ce qu'elle défaisait vaut de nouveau sur cet appareil" in tg(door, "agent", "status", "--lang", "fr").stdout
    tg(door, "agent", "login", "--staff", "Sam Okafor", "--pin", stdin="4321\n")
    again = json.loads(tg(door, "agent", "scan", "--json", stdin=payloads[0] + "\n").stdout)
    assert again["verdict"] == "already_used", "used, as the server has it: not let in a second time"
    shown = _app(tmp_path, door, "en")
    assert "· Inside 1" in shown["counters"], shown
    assert any("the undo did not count: what it undid stands again on this device" in line
               for line in shown["sync"]), shown["sync"]


def test_only_an_undo_refused_for_who_did_it_of_an_entry_the_server_took_is_restored(tmp_path):
    """The restoration's limits (a real ledger file): an undo refused as already annulled on the server (the
    organiser undid it too), or one of an entry the server never took (refused itself), undid something there or
    nothing at all: the door keeps the entry undone, as the server has it."""
    from agent.history import Action
    from agent.ledger import Ledger
    from agent.reasons import reason

    led = Ledger.open(tmp_path / "l.sqlite")

    def entry_and_undo(key: str) -> tuple[int, int]:
        e = Action(scan_uuid=f"e{key}", kind="entry", at=1.0, device_id="d", gate="g", event_id=1, direction="in")
        u = Action(scan_uuid=f"u{key}", kind="annul", at=2.0, device_id="d", gate="g", event_id=1, ref_uuid=f"e{key}")
        for a in (e, u):
            led.record(key, a, outbox={"type": "action", "kind": a.kind, "scan_uuid": a.scan_uuid, "ticket_key": key,
                                       "event_id": 1, "device_id": "d", "gate": "g", "ref_uuid": a.ref_uuid})
        ids = [r[0] for r in led.outbox_pending()][-2:]
        return ids[0], ids[1]
    staff = reason("staff_not_allowed", "not allowed: Sam (1) (door) cannot undo a check-in", name="Sam", role="door",
                   permission="annul")
    taken, refused = entry_and_undo("1")
    led.outbox_ack([taken])
    led.outbox_refuse({refused: staff})
    twice, refused2 = entry_and_undo("2")
    led.outbox_ack([twice])
    led.outbox_refuse({refused2: reason("already_annulled", "annulment of e2: already annulled")})
    never, refused3 = entry_and_undo("3")
    led.outbox_refuse({never: staff, refused3: staff})
    assert led.inside() == {1: 1}, "only ticket 1's entry stands again"
    assert {r["body"]["scan_uuid"]: r["restored"] for r in led.outbox_refused()} == {
        "u1": True, "u2": False, "e3": False, "u3": False}
    assert not led.annulled("e1") and led.annulled("e2")
    led.close()


@needs_broker
def test_sync_pay_exchange_and_their_errors_speak_the_devices_language(tmp_path):
    """The rest of the agent speaks French with --lang fr (or the device's language): `agent sync` said its summary
    and why it stopped in English, `agent pay` and `agent exchange` their answers and refusals. They now follow the language; --json stays the same."""
    org, door, lone = tmp_path / "org", tmp_path / "door", tmp_path / "lone"
    for p in (org, door, lone):
        p.mkdir()
    _event_now(org)
    assert "cet appareil n'est pas inscrit" in tg(lone, "agent", "sync", "--lang", "fr", ok=False).stderr
    refused = tg(lone, "agent", "pay", "--lang", "fr", "NOPE-1", ok=False).stderr
    assert "aucune commande NOPE-1 sur cet appareil" in refused, refused
    with organiser_running(org) as running:
        running.enroll(door, "north", events="1")
        tg(org, "server", "push")
        said = tg(door, "agent", "sync", "--until-idle", "--for", "40", "--lang", "fr").stdout
        assert "données de l'événement v" in said and "envoi(s) REFUSÉ(S) par le serveur" in said, said
        assert "synchronisation en tant que " in said, said
    kiosk_only = tg(door, "agent", "exchange", "--lang", "fr", "1", "--reason", "x", ok=False).stderr
    assert "cet appareil est inscrit comme porte ; les paiements et les échanges se font à une caisse" in kiosk_only
    offline = tg(door, "agent", "sync", "--until-idle", "--for", "5", "--lang", "fr", ok=False).stderr
    assert "l'appareil continue de fonctionner hors ligne" in offline, offline


@needs_broker
def test_the_organiser_is_told_when_a_doors_mode_is_not_theirs(tmp_path):
    """A supervisor sets a door to multiple entries at the door (`agent configure --mode multiple`, the app's Mode
    button). The organiser set no mode: the server counted its scans as the door claimed (second entries never
    flagged) and `server devices` said "mode any", nothing else. Decided: until the organiser sets a mode, a door's
    scans count in the mode its staff set at the door (a supervisor's choice, uploaded with who made it), and the
    organiser is told: `server devices` names the door's mode (its staff's last change at the door, else the mode its
    scans claim: this organiser keeps no staff) and how to keep it or set another; once the organiser set one that
    differs, it says the door's scans count in the organiser's, not the door's. A normal door says nothing."""
    org, door, payloads = _folders(tmp_path)
    with organiser_running(org) as running:
        _north_synced(running, org, door)
        assert _scan(door, payloads[1])[0].startswith("ACCEPTED — IN | ")
        assert _sync(door)["outbox_pending"] == 0
        assert "NOTE" not in tg(org, "server", "devices").stdout, "nothing to say: normal, the default"
        tg(door, "agent", "configure", "--mode", "multiple")
        assert _scan(door, payloads[0], payloads[0])[1].startswith("ACCEPTED — IN | "), "twice in: multiple"
        assert _sync(door)["outbox_pending"] == 0
        said = tg(org, "server", "devices").stdout
        device_id = json.loads(tg(door, "agent", "status", "--json").stdout)["identity"]["device_id"]
        assert (f"NOTE: {device_id} scans in multiple mode (its last scan on " in said and "and you set none: its "
                f"scans count as it claims" in said and f"server device configure {device_id} --mode multiple" in said), said
        listed = json.loads(tg(org, "server", "devices", "--json").stdout)
        assert [d["door_mode"]["mode"] for d in listed if d["device_id"] == device_id] == ["multiple"], listed
        tg(org, "server", "device", "configure", device_id, "--mode", "normal", ok=False)
        said = tg(org, "server", "devices").stdout
        assert "not yours (normal): its scans count in normal mode" in said, said


def test_both_stores_say_the_mode_each_door_was_set_in_at_the_door(store):
    """`server devices`' door mode (the NOTE above) on SQLite and PostgreSQL alike: a door's last change of mode at
    the door (its staff's `config_change`), else the mode its last scan claimed."""
    import uuid

    from agent.sync.messages import ActionItem, ConfigChange
    now = time.time()
    changed = ConfigChange(changes={"mode": ["normal", "multiple"]}, device_id="door-a", at=now).to_wire()
    scanned = ActionItem(str(uuid.uuid4()), "entry", "7", 1, "in", now, "door-b", "north", mode="entry_exit").to_wire()
    store.ingest([dict(changed, org="fest", outbox_id=1), dict(scanned, org="fest", outbox_id=1)])
    modes = {d: (m["mode"], m["by"]) for d, m in store.door_modes("fest").items()}
    assert modes == {"door-a": ("multiple", "door"), "door-b": ("entry_exit", "scans")}, modes
