"""Door staff's and kiosk operators' paths through the real app (session K, tests/qa_paths_k_app_scenario.py):
real screens offscreen, real ledger, the real camera decoder chain, Zebra / Bluebird broadcasts through the app's
LaserInput. Each test fails on the defect it names."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import run_offscreen_scenario

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "test-artifacts" / "qa-paths-k-app"


def _walk(part: str) -> dict:
    OUT.mkdir(parents=True, exist_ok=True)
    run_offscreen_scenario("qa_paths_k_app_scenario.py", str(OUT), part)
    return json.loads((OUT / f"k_{part}.json").read_text())


@pytest.fixture(scope="module")
def door() -> dict:
    return _walk("door")


@pytest.fixture(scope="module")
def desk() -> dict:
    return _walk("desk")


def test_two_tickets_held_to_the_camera_are_each_admitted_once(door):
    """A couple shows both tickets on one phone; the decoder reads one code per frame, one then the other as the
    picture moves. The camera passed on a code unless it was the very last one read, so both went to the gate on
    every frame: "ALREADY READ", then after the re-read window a red "ALREADY USED" for two people just admitted,
    and 16 scans counted for 2 people. Now each code held in view is passed on once."""
    assert door["decoded_per_frame"] == [True, True]       # the premise: each frame reads one of the two codes
    shown = door["two_codes_shown"]
    assert shown[:2] == ["ACCEPTED — IN", "ACCEPTED — IN"], shown
    assert set(shown) == {"ACCEPTED — IN"}, shown
    assert door["two_codes_counters"] == [2, 2]


def test_a_staff_badge_read_by_a_laser_sending_the_aim_prefix_logs_in(door):
    """A Zebra or Bluebird set to transmit the AIM symbology identifier sends `]Q1` before the code (and CR/LF
    after it). Tickets were read (agent.payload strips it); a staff badge was not taken for a badge: "LOG IN FIRST
    — Scan your staff badge" right after scanning it, on the scan screen and on the Staff screen alike."""
    zebra = door["zebra_badge"]
    assert zebra["on_duty"] == "Léa Martin" and zebra["title"] == "ON DUTY", zebra
    assert door["zebra_ticket"]["title"] == "ACCEPTED — IN", door["zebra_ticket"]
    blue = door["bluebird_badge"]
    assert blue["on_duty"] == "Léa Martin" and blue["screen"] == "scan" and blue["title"] == "ON DUTY", blue


def test_the_verdict_on_screen_follows_a_language_switch(door):
    """Door staff switch the app to French with a verdict on screen: the strip and counters changed, the verdict
    itself stayed English ("ACCEPTED — IN", "Category: Standard") until the next scan."""
    en, fr, back = door["verdict_en"], door["verdict_after_switch_fr"], door["verdict_after_switch_en"]
    assert en["title"] == "ACCEPTED — IN" and "Category: Standard" in en["details"]
    assert fr["title"] == "ACCEPTÉ — ENTRÉE" and "Catégorie : Standard" in fr["details"], fr
    assert fr["counters"].startswith("Scannés")
    assert back["title"] == en["title"] and back["details"] == en["details"]


def test_a_refused_promo_code_is_said_in_the_apps_language_and_kept_short(desk):
    """In French, an unknown promo code was refused in English ("unknown promo code NOPE", the core's words: its
    reason code was not used), and a 10,000-character code was echoed whole under the cart."""
    assert desk["unknown_promo"]["problem"] == "Code promo NOPE inconnu.", desk["unknown_promo"]
    assert desk["unknown_promo"]["pay_disabled"]
    huge = desk["huge_promo"]["problem"]
    assert huge.startswith("Code promo ZZZZ") and huge.endswith(" inconnu.") and len(huge) < 80, huge[:200]
    assert desk["no_promo"]["problem"] == "" and desk["no_promo"]["total"] == "Total : 85,00 EUR"


def test_odd_quantities_given_to_the_cart_never_raise(desk):
    """The cart's intent given a huge, a hugely negative quantity or a category the offer does not have: the
    quote raised PricingError out of the screen's refresh (a traceback in Kivy's loop; the screen kept showing the
    old cart). Now the cart holds at most what the + button allows, and the problem is said in French."""
    assert desk["add_errors"] == []
    assert desk["add_1_1000000"]["quantities"]["1"] == "20"           # MAX_IN_CART: the + button's own limit
    assert desk["add_1_1000000"]["problem"] == "21 billets : au plus 10 par commande.", desk["add_1_1000000"]
    assert desk["add_1_-1000000"]["quantities"]["1"] == "0"
    assert desk["add_1_-1000000"]["problem"] == ""
    assert desk["add_99_1"]["problem"] == "La catégorie 99 n'a pas de prix ici.", desk["add_99_1"]
    assert desk["add_99_1"]["pay_disabled"]


def test_a_ticket_printed_while_its_queue_popup_was_open_is_not_a_crash(desk):
    """The printer was off: the order's tickets wait in the print queue. "Print all again" prints them on a
    working printer while the operator, in the popup opened before, taps "Do not print it": KeyError out of the
    button's callback (no handler in the app: the app stopped). Now the kiosk says the ticket is no longer waiting."""
    assert desk["queued"] == 2 and desk["queue_after_retry"] == 0
    said = desk["dismiss_printed"]
    assert said == "Ce billet n'attend plus : imprimé ou retiré entre-temps.", said


@pytest.fixture(scope="module")
def app() -> dict:
    return _walk("app")


def test_a_screen_callback_that_raises_is_said_and_the_app_keeps_running(app):
    """Kivy stops the app on an exception out of a callback it is not told to handle: one defect not found yet in
    any screen's intent closed the door or the desk mid-shift. The real app loop (App.run) now logs it with its
    traceback, says it in a toast and keeps running (the next scan is judged); a callback failing on every frame
    still stops it (more than 5 within 10 s)."""
    assert app["running_after"] is True
    assert app["toast"].startswith("Something went wrong (RuntimeError): the app keeps running.")
    assert app["scan_after"] == "ACCEPTED — IN"
    kept = [line for line in app["logged"] if line.startswith("uncaught exception in the app (it keeps running)")]
    assert len(kept) == 5 and "RuntimeError: simulated defect in an intent" in kept[0]
    assert app["stopped_by"] == "simulated defect in an intent"
    assert [line.split("\n")[0] for line in app["logged"][5:]] == ["uncaught exception, 6 within 10 s: the app stops"]


def test_an_offline_exchange_or_payment_refused_at_the_desk_is_said_in_the_apps_language(desk):
    """The server unreachable, in French: the order found by its buyer's name typed without accents, one ticket
    exchanged here (taken back), then the same ticket again, and the payment of an order already paid. Both
    refusals were the core's English ("ticket 1001 is already out of use (exchanged: …)", "order A-1002 is paid,
    not pending: …")."""
    assert desk["found"] == [["A-1001", "Hélène Dupont", 2]] and desk["desk_online"] is False
    assert desk["exchanged"] == "Billet 1001 repris ; le nouveau arrive à la prochaine synchro."
    assert desk["exchanged_again"] == "Le billet 1001 a déjà été échangé ou annulé.", desk["exchanged_again"]
    assert desk["paid_again"] == ("La commande A-1002 n'est pas en attente (payée, annulée ou remboursée) : aucun "
                                  "paiement enregistré."), desk["paid_again"]


def test_an_offline_sale_with_a_reference_or_email_the_server_refuses_is_not_made(desk):
    """Offline, a card sale whose terminal reference is 250 characters (a receipt's text scanned into the field) or
    a sale with a 250-character e-mail: the kiosk sold it (tickets out, money taken), queued it, and the server's
    ingestion refuses such a sale (payment_ref and email: 200 characters at most): missing from the organiser's
    reports and the till. Now the payment screen says so and the sale is not made; nothing queued is refused."""
    assert desk["long_reference"] == {"problem": "La référence est trop longue (200 caractères au plus).",
                                      "confirm_disabled": True, "screen": "pay"}, desk["long_reference"]
    assert desk["long_email"] == {"problem": "Cette adresse e-mail est trop longue.", "confirm_disabled": True,
                                  "screen": "pay"}, desk["long_email"]
    assert desk["queued_refused_by_server"] == [] and desk["queued_kinds"] == ["Exchange", "Printed"]


def test_a_gate_name_the_server_refuses_is_not_saved(door):
    """A gate named in Set-up as long as a French name gets ("Entrée principale côté parking sud — porte B, près de
    la billetterie", 68 characters) was saved, and every entry scanned there was refused by the server's ingestion
    (a gate name: 64 characters at most): the other gates never learnt them, the reports missed them. Now Set-up
    says so and keeps the gate; every message the walk queued is one the server takes."""
    assert door["gate_saved"] == {"said": "A device or gate name is at most 64 characters, on one line.",
                                  "gate": "North"}, door["gate_saved"]
    assert door["door_queued_refused_by_server"] == [] and door["door_queued_kinds"] == ["ActionItem", "RefusalItem"]


def test_a_ticket_typed_in_lower_case_by_a_wedge_scanner_says_what_to_do(door):
    """A keyboard-wedge laser with Caps Lock on types every ticket in lower case. The core says so ("lower-case
    letters in a ticketgate code (… Caps Lock …)"), but the door showed "NOT A TICKET — This code is not a
    ticket", for every ticket, with nothing to act on."""
    caps = door["caps_lock"]
    assert caps["title"] == "NOT A TICKET" and caps["reason"] == ("A ticket read in lower case: turn off the "
                                                                  "scanner's Caps Lock or case conversion, then "
                                                                  "scan again."), caps


def test_a_staff_badge_read_by_a_keyboard_wedge_laser_on_the_staff_screen_logs_in(door):
    """The Staff screen says "Scan your staff badge", but only the scan screen listened to a keyboard-wedge laser
    (the default scanner mode): the badge typed then Enter on the Staff screen did nothing at all."""
    wedge = door["wedge_badge_on_staff"]
    assert wedge["on_duty"] == "Léa Martin" and wedge["screen"] == "scan" and wedge["title"] == "ON DUTY", wedge
