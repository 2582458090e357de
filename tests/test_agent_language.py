"""`ticketgate agent scan`, `checkin`, `annul`, `search` and `status` speak the device's language, chosen as the app
chooses it (agent.language.choose: --lang, the device's `ui_language` setting, TICKETGATE_LANG / the locale,
English), in the app's words (one catalogue, agent/locale/fr.po; the titles of agent.verdict_words). Before, a French
door on a laptop with a laser scanner read English lines only. Real processes, each with its own HOME."""
from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from agent import verdict_words as words
from agent.keyring import Keyring
from agent.ledger import Ledger
from tests.test_core_support import issue, test_key

ROOT = Path(__file__).resolve().parent.parent
KEY = test_key()
FAR = 2**32 - 1
# every English verdict title the door can print (agent.verdict_words): none may appear in a French run
ENGLISH_TITLES = sorted({en for en, _ in words.TITLES.values()} | {words.ENTRY[0], words.EXIT[0], words.BACK_ON_SALE[0],
                        words.ON_DUTY[0], words.LOG_IN_FIRST[0], words.REREAD[0].split(" — ")[0]})
# the English words of the lines' other parts
ENGLISH_PARTS = (r"\bticket \d", r"\bevent \d", r"\bfirst used\b", r"\bvalid from\b", r"\bwas valid until\b",
                 r"\bseat\b", r"\(repeat\)", r"\bsame code read again\b", r"\bscan a staff badge\b",
                 r"\bnothing recorded\b", r"\blog in first\b", r"\bsupervisor\)", r"\bThis gate\b", r"\bzones \[")


def _env(home: Path, **lang: str) -> dict[str, str]:
    """The environment of a run at `home` with no language but `lang` (TICKETGATE_LANG, LANG…): C otherwise."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("TICKETGATE") and k not in ("LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES")}
    return {**env, "HOME": str(home), "PYTHONPATH": str(ROOT), "TICKETGATE_HOME": str(home / "device"),
            "LC_ALL": "C.UTF-8", **lang}


def agent(home: Path, *args: str, stdin: str = "", **lang: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "agent", "agent", *args], cwd=ROOT, env=_env(home, **lang),
                          input=stdin, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A door that trusts KEY, holds two events (zones named) and tickets 11..19, 15 refunded, 16 blocked."""
    ring = Keyring()
    ring.add(KEY.trusted())
    ring.save(tmp_path / "ring.json")
    assert agent(tmp_path, "trust", str(tmp_path / "ring.json")).returncode == 0
    led = Ledger.open(tmp_path / "device" / "ledger.sqlite")
    led.upsert_events([{"event_id": 1, "name": "Nuit 1", "zones": [{"zone_id": 1, "name": "Fosse"},
                                                                   {"zone_id": 3, "name": "Balcon"}]},
                       {"event_id": 2, "name": "Nuit 2", "zones": [{"zone_id": 1, "name": "Fosse"}]}])
    led.upsert_tickets([{"ticket_key": str(k), "event_id": 2 if k == 14 else 1, "order_number": f"ORD-{k}",
                         "buyer_name": "Hélène Dupont" if k == 11 else "Bob Stone", "email": "helene@example.org"}
                        for k in range(11, 20)])
    led.revoke(["15"], "remboursé à la demande")
    led.block(["16"], "opposition bancaire")
    led.close()
    return tmp_path


def _french_only(out: str) -> None:
    for title in ENGLISH_TITLES:
        assert title not in out, (title, out)
    for pattern in ENGLISH_PARTS:
        assert not re.search(pattern, out), (pattern, out)


def test_scan_says_every_verdict_in_french(home: Path) -> None:
    """`agent scan --lang fr` over the verdict kinds a door meets: each line in the app's French (its titles and
    reasons), the organiser's words as typed; no English title nor English part left; the exit codes unchanged."""
    t11 = issue(KEY, 11, valid_until=FAR, zones=(1,), seat="B12")
    run = agent(home, "scan", "--lang", "fr", t11, t11)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["ACCEPTÉ — ENTRÉE | billet 11 | événement 1 | zones 1 (Fosse) | place B12",
                                       "DÉJÀ LU — il y a 0 s | billet 11 | événement 1 | zones 1 (Fosse) | place B12 "
                                       "| même code relu | (répété)"]
    scans = [t11,                                                      # already used
             issue(KEY, 14, event_id=2, valid_until=FAR),              # wrong event
             issue(KEY, 13, valid_until=FAR, zones=(3,)),              # wrong zone
             issue(KEY, 12, valid_from=2**31, valid_until=FAR),        # not valid yet
             issue(KEY, 17, valid_from=1, valid_until=1_000_000_000),  # wrong date: its time is over
             issue(KEY, 15, valid_until=FAR),                          # revoked by the organiser
             issue(KEY, 16, valid_until=FAR),                          # blocked
             "garbage"]
    run = agent(home, "scan", "--lang", "fr", "--reread-window", "0", "--events", "1", "--zones", "1",
                stdin="\n".join(scans) + "\n")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == len(scans), run.stdout                        # one verdict per input line
    assert re.fullmatch(r"DÉJÀ UTILISÉ \| billet 11 \| événement 1 \| zones 1 \(Fosse\) \| place B12 \| première "
                        r"utilisation le \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC sur device à gate", lines[0]), lines[0]
    assert lines[1:] == [
        "MAUVAIS ÉVÉNEMENT | billet 14 | événement 2 | Billet pour Nuit 2, non sélectionné sur cet appareil",
        "MAUVAISE ZONE | billet 13 | événement 1 | zones 3 (Balcon) | Billet pour 3 (Balcon). Cette porte : 1 (Fosse)",
        "PAS ENCORE VALABLE | billet 12 | événement 1 | valable à partir du 2038-01-19 03:14:08 UTC",
        "EXPIRÉ | billet 17 | événement 1 | était valable jusqu'au 2001-09-09 01:46:40 UTC",
        "BILLET ANNULÉ | billet 15 | événement 1 | remboursé à la demande",
        "BLOQUÉ | billet 16 | événement 1 | opposition bancaire",
        "PAS UN BILLET | Ce code n'est pas un billet. Scannez le QR code du billet"], run.stdout
    _french_only(run.stdout)
    run = agent(home, "scan", "--lang", "fr", "--mode", "quick_cancel", issue(KEY, 18, valid_until=FAR))
    assert run.returncode == 0 and run.stdout == ("ANNULÉ — REMIS EN VENTE | billet 18 | événement 1 | "
                                                  "Ce billet peut être revendu\n"), run.stdout
    run = agent(home, "scan", "--lang", "fr", issue(KEY, 18, valid_until=FAR))
    assert run.returncode == 0 and run.stdout.startswith("BILLET ANNULÉ (REVENTE) | billet 18 | événement 1 | "
                                                         "annulé pour revente le "), run.stdout
    _french_only(run.stdout)


def test_scan_says_log_in_first_and_on_duty_in_french(home: Path) -> None:
    """The staff lines of a laser session: a ticket with nobody on duty (not judged: exit 1), a staff badge (its
    holder goes on duty, the role in the app's word), then the ticket admitted; `agent logout` and `login` too."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    from agent.home import Broker, Credentials
    from agent.staff import hash_pin, make_badge
    from agent.staff_session import store_roster
    server = Ed25519PrivateKey.generate()
    creds = Credentials("door-1", "fest", "", "north", (1, 2), "door-1", "pw", Broker("127.0.0.1", 1883),
                        server.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw), 1.0, "door")
    (home / "device" / "credentials.json").write_text(json.dumps(creds.to_json()))
    led = Ledger.open(home / "device" / "ledger.sqlite")
    with led.transaction():
        store_roster(led, "fest", [{"staff_id": "2", "name": "Sam Okafor", "role": "supervisor", "active": True,
                                    "pin": hash_pin("9876"), "badge_serial": 1}])
    led.close()
    badge, t = make_badge("fest", "2", 1, server.sign), issue(KEY, 11, valid_until=FAR)
    run = agent(home, "scan", "--lang", "fr", stdin=f"{t}\n{badge}\n{t}\n")
    assert run.returncode == 1, run.stderr                  # a ticket was not judged: as in English
    assert run.stdout.splitlines() == [
        "CONNECTEZ-VOUS D'ABORD | personne n'est connecté (code PIN ou badge du personnel) : scannez un badge du "
        "personnel, ou `ticketgate agent login --staff NOM --pin` ; rien n'est enregistré",
        "EN SERVICE | Sam Okafor (Superviseur)",
        "ACCEPTÉ — ENTRÉE | billet 11 | événement 1"], run.stdout
    _french_only(run.stdout)
    assert agent(home, "logout", "--lang", "fr").stdout == "déconnecté\n"
    login = agent(home, "login", "--lang", "fr", "--staff", "Sam Okafor", "--pin", stdin="9876\n")
    assert login.returncode == 0 and login.stdout == "en service : Sam Okafor (Superviseur)\n", login.stderr


def test_json_is_the_same_in_every_language(tmp_path: Path) -> None:
    """`--json` stays codes, not words: the same objects with --lang fr as with --lang en (two doors, same scans)."""
    outs = []
    for lang in ("en", "fr"):
        home = tmp_path / lang
        ring = Keyring()
        ring.add(KEY.trusted())
        ring.save(tmp_path / "ring.json")
        assert agent(home, "trust", str(tmp_path / "ring.json")).returncode == 0
        t = issue(KEY, 11, valid_until=FAR)
        run = agent(home, "scan", "--json", "--lang", lang, "--reread-window", "0", t, t, "garbage")
        assert run.returncode == 0, run.stderr
        got = [json.loads(line) for line in run.stdout.splitlines()]
        for v in got:
            v.pop("scan_uuid")
            v.get("first_use", {}).pop("at", None)
        outs.append(got)
    assert outs[0] == outs[1] and [v["verdict"] for v in outs[1]] == ["accepted", "already_used", "malformed"]


def test_the_english_wrong_event_line_names_the_event(home: Path) -> None:
    """A ticket for an event the door holds but has not selected: the English line names it as the app and the French
    line do (before: 'event 2 is not selected on this device', the number only); one it does not hold stays
    'not on this device'."""
    run = agent(home, "scan", "--lang", "en", "--events", "1", issue(KEY, 14, event_id=2, valid_until=FAR),
                issue(KEY, 31, event_id=3, valid_until=FAR))
    assert run.returncode == 0 and run.stdout.splitlines() == [
        "WRONG EVENT | ticket 14 | event 2 | Ticket for Nuit 2, not selected on this device",
        "WRONG EVENT | ticket 31 | event 3 | event 3 is not on this device (not one of its events, or removed by the "
        "organiser)"], run.stdout


def test_the_language_is_chosen_as_the_app_chooses_it(home: Path) -> None:
    """No --lang: the device's language setting (the app's switch stores it), else TICKETGATE_LANG, else the locale,
    else English; --lang wins over all."""
    t = issue(KEY, 11, valid_until=FAR)
    assert agent(home, "scan", t).stdout.startswith("ACCEPTED — IN | ticket 11")                # C locale: English
    assert agent(home, "scan", t, TICKETGATE_LANG="fr").stdout.startswith("DÉJÀ ")
    assert agent(home, "scan", t, LC_ALL="fr_FR.UTF-8").stdout.startswith("DÉJÀ ")
    assert agent(home, "scan", "--lang", "en", t, TICKETGATE_LANG="fr").stdout.startswith("ALREADY ")
    led = Ledger.open(home / "device" / "ledger.sqlite")
    led.set_setting("ui_language", "fr")                     # what the app's language switch stores
    led.close()
    assert agent(home, "scan", t).stdout.startswith("DÉJÀ ")
    assert agent(home, "scan", "--lang", "en", t).stdout.startswith("ALREADY ")
    led = Ledger.open(home / "device" / "ledger.sqlite")
    led.set_setting("ui_language", "en")
    led.close()
    assert agent(home, "scan", t, TICKETGATE_LANG="fr").stdout.startswith("ALREADY ")     # the device's first


def test_search_annul_and_status_in_french(home: Path) -> None:
    """The other door commands of a French device: what search found (the order's status and the app's list
    word), what annul undid (the app's Undo words), the status lines; no English left in them."""
    assert agent(home, "checkin", "--lang", "fr", "11", "--reason", "téléphone éteint").stdout.startswith(
        "ACCEPTÉ — ENTRÉE | billet 11")
    found = agent(home, "search", "--lang", "fr", "Dupont")
    assert found.returncode == 0 and re.fullmatch(r" +11  commande ORD-11 +Hélène Dupont +helene@example\.org +"
                                                  r"événement 1 payée · utilisé\n", found.stdout), found.stdout
    found = agent(home, "search", "--lang", "fr", "ORD-15")
    assert "commande ORD-15" in found.stdout and ", hors d'usage : remboursé à la demande · annulé / remboursé" \
        in found.stdout, found.stdout
    assert agent(home, "search", "--lang", "fr", "personne").stdout == "aucun résultat\n"
    status = agent(home, "status", "--lang", "fr")
    assert status.returncode == 0 and status.stdout.splitlines()[:3] == [
        "non inscrit (pas de synchronisation) : voir `ticketgate provision enroll`",
        "ni identifiant d'appareil ni porte (`agent configure --device-id ID --gate G`, ou inscrivez l'appareil) : "
        "mode Normal, événements tous, zones toutes",
        "  événements 2, billets 9, entrées 1, annulations 1, bloqués 1, envois en attente 1, envois refusés 0"], \
        status.stdout
    assert "  présents : événement 1 : 1" in status.stdout and "1 clé(s) de confiance, 0 événement(s) pretix" \
        in status.stdout, status.stdout
    undone = agent(home, "annul", "--lang", "fr", "--reason", "erreur")
    assert undone.returncode == 0 and re.fullmatch(r"Entrée du billet 11 annulée \| passage [0-9a-f-]+ annulé\n",
                                                   undone.stdout), undone.stdout
    for out in (found.stdout, status.stdout, undone.stdout):
        assert not re.search(r"\b(order|no match|trusted key|inside now|on duty|undone|annulled|out of use)\b", out)
    assert agent(home, "status", "--json", "--lang", "fr").stdout == agent(home, "status", "--json").stdout


def test_status_of_a_wiped_device_in_french(tmp_path: Path) -> None:
    """A device wiped by the technician and not enrolled again: `agent status --lang fr` says what it keeps unsent
    (counted by kind) and what becomes of it, in French like the rest."""
    assert agent(tmp_path, "configure", "--device-id", "d1", "--gate", "g").returncode == 0
    assert agent(tmp_path, "scan", "garbage").returncode == 0                    # a refusal for the statistics
    wipe = subprocess.run([sys.executable, "-m", "agent", "provision", "wipe", "--yes"], cwd=ROOT,
                          env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert wipe.returncode == 0, wipe.stderr
    status = agent(tmp_path, "status", "--lang", "fr")
    assert status.returncode == 0 and (
        "  effacé (par le technicien) : 1 envoi(s) de d1 non parti(s) (1 scan(s) refusé(s) pour les statistiques) : "
        "envoyés comme les siens quand l'appareil est inscrit à nouveau") in status.stdout.splitlines(), status.stdout
    assert not re.search(r"\b(wiped|upload|technician|trusted)\b", status.stdout), status.stdout


def test_every_word_of_the_terminal_commands_is_translated() -> None:
    """Each English text the terminal commands say through the catalogue has its French line (agent/locale/fr.po):
    a new one without it fails here, as the app's do in tests/test_ui_i18n.py."""
    from agent import agent_cli, cli_words, status_words, sync_cli, wiped_status
    from agent.sync import login_state
    from agent.language import catalogue
    from agent.policy import MODE_WORDS
    from agent.ticket_state import STATE_WORDS
    found: set[str] = set()
    for module in (cli_words, status_words, agent_cli, sync_cli, wiped_status, login_state):
        source = Path(module.__file__ or "").read_text()
        for m in re.finditer(r"\b(?:say|translate)\((?:lang, )?\s*(\"(?:[^\"\\]|\\.)*\")", source):
            found.add(ast.literal_eval(m.group(1)))
    found |= set(cli_words._APP_REASONS.values()) | {cli_words.LOWER_CASE_SAID} | set(cli_words.ROLE_WORDS.values()) | set(STATE_WORDS.values())
    found |= set(MODE_WORDS.values()) | set(status_words.COUNT_WORDS) | {"door", "kiosk", "paid", "pending",
                                                                        "cancelled", "refunded", "unknown",
                                                                        "by the technician"}
    found |= set(wiped_status._KINDS.values()) | {"uploaded as this device's own when it is enrolled again"}
    assert {"ticket {key}", "no match", "{where}: mode {mode}, events {events}, zones {zones}"} <= found
    fr = catalogue("fr")
    assert sorted(m for m in found if m not in fr) == []


def test_a_word_with_two_french_forms_is_said_in_its_context() -> None:
    """'all' events are 'tous', 'all' zones 'toutes'; a counter 'bloqués', a ticket 'bloqué': the catalogue keys them
    by their msgctxt (pgettext), and a context with no line of its own falls back to the word's plain line."""
    from agent.language import parse_po, translate, translate_in
    po = 'msgctxt "zones"\nmsgid "all"\nmsgstr "toutes"\n\nmsgid "all"\nmsgstr "tous"\n'
    assert parse_po(po) == {"zones\x04all": "toutes", "all": "tous"}
    assert (translate_in("fr", "events", "all"), translate_in("fr", "zones", "all")) == ("tous", "toutes")
    assert (translate_in("fr", "count", "blocked"), translate("fr", "blocked")) == ("bloqués", "bloqué")
    assert translate_in("fr", "count", "tickets") == "billets" and translate_in("en", "zones", "all") == "all"


def test_one_rule_chooses_the_language() -> None:
    """agent.language.choose, the rule `ticketgate kiosk` and `ticketgate agent` both call: --lang, else the stored
    setting (a value other than en/fr passed over, not a crash), else TICKETGATE_LANG, else the locale, else en."""
    from agent.language import choose
    assert choose("en", "fr", {"TICKETGATE_LANG": "fr"}) == "en"
    assert choose(None, "fr", {"LANG": "en_GB.UTF-8"}) == "fr"
    assert choose(None, "de", {"TICKETGATE_LANG": "fr"}) == "fr"
    assert choose(None, None, {"TICKETGATE_LANG": "", "LC_ALL": "fr_CA.UTF-8"}) == "fr"
    assert choose(None, None, {"LANG": "C.UTF-8"}) == "en"
