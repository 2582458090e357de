"""The desk's screens through the real app offscreen (tests/desk_gaps_scenario.py): a message on screen follows a
language switch; an amount typed too long is said to be too large. Each test fails on the defect it names."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import run_offscreen_scenario

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "test-artifacts" / "desk-gaps"


@pytest.fixture(scope="module")
def walk() -> dict:
    OUT.mkdir(parents=True, exist_ok=True)
    run_offscreen_scenario("desk_gaps_scenario.py", str(OUT))
    return json.loads((OUT / "desk_gaps.json").read_text())


def test_the_desks_message_is_said_again_in_the_new_language(walk):
    """The message stayed in the old language until the next action (the scan screen's verdict did not since
    session K): now each message shown is rendered again on a switch."""
    assert walk["found_en"] == "1 order found"
    assert walk["found_after_fr"] == "1 commande trouvée"
    assert walk["tap_fr"] == "Touchez d'abord un billet."
    assert walk["tap_after_en"] == "Tap a ticket first."
    assert walk["till_too_large_after_fr"] == "Montant trop grand : 8 chiffres au plus avant la virgule."


def test_an_amount_over_8_digits_is_refused_as_too_large(walk):
    """Cash given with 9 digits read "The cash given does not cover the total." (the parser took it for no amount);
    on the cash-up screen "Type an amount" or, past the server's limit, a request the server dropped."""
    too_large = "Amount too large: at most 8 digits before the decimal point."
    assert walk["pay_123456789"] == {"problem": too_large, "confirm_disabled": True}
    assert walk["pay_000000001000"]["problem"] == ""                 # leading zeros are not digits of the amount
    assert walk["pay_99999999"] == {"problem": "", "confirm_disabled": False}
    assert walk["pay_1"]["problem"] == "The cash given does not cover the total."
    assert walk["till_123456789"] == too_large
    assert walk["till_1.234"] == "Type an amount, e.g. 150.00"
    assert walk["till_99999999.99"] == "The till needs the server: try again when the kiosk is online."   # taken


def test_a_split_payment_is_taken_part_by_part_on_the_payment_screen(walk):
    """The payment screen took one method for the whole order; now "Add this part" takes the amount typed by the
    method chosen (a card with its reference), shows what is left, refuses a part beyond the total, gives the change
    of the cash part, and the sale carries each part."""
    assert walk["split_too_much"] == "The parts of the payment do not add up to the total."
    assert walk["split"] == {"parts": "Card (terminal): EUR 10.00 (AUTH-9)\nCash: EUR 15.00\nLeft to pay: EUR 0.00",
                             "change": "Change due: EUR 5.00", "problem": "", "confirm_disabled": False}
    assert walk["split_fr"] == "Carte (terminal) : 10,00 EUR (AUTH-9)\nEspèces : 15,00 EUR\nReste à payer : 0,00 EUR"
    assert walk["split_sold"] == {"screen": "sold", "parts_after": []}
    assert walk["split_sent"] == [["card", 1000, "AUTH-9"], ["cash", 1500, ""]]


def test_payment_received_shows_the_amount_due_and_refuses_another(walk):
    """Payment received took any payment of a pending order with no amount shown; now the popup says what to
    collect, the amount typed is checked against it (nothing recorded when it differs), then the order is paid."""
    assert walk["due_title"] == "Order INV-1: EUR 50.00 to collect. Paid by:"
    assert walk["due_ask"] == {"title": "Amount received for order INV-1", "hint": "EUR 50.00"}
    assert walk["due_wrong"] == ["Order INV-1: EUR 50.00 to collect, not EUR 40.00. No payment recorded."]
    assert walk["due_wrong_status"] == ["pending"]
    assert walk["due_paid"] == {"message": "Payment recorded for 1 ticket.", "status": ["paid"]}
