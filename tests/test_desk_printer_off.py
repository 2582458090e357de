"""A desk sale while the printer is off, walked in the real app rendered offscreen, against the real server and
printers on 127.0.0.1 (tests/desk_printer_off_scenario.py): nothing listening, a printer that accepts and closes, one
that accepts and never answers, then the printer back on the same address. The sale is recorded once; the sold
screen says in its headline that the tickets did not print and how to print them; printed again (from the ticket
desk, or the sold screen) they carry the same signed payloads, as originals; badges likewise."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers import run_offscreen_scenario

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "test-artifacts" / "desk-printer-off"

WORDS = {"en": {"not_printed": "2 tickets NOT printed.", "one": "1 ticket NOT printed.", "badge": "1 badge NOT printed.",
                "recorded": "The sale is recorded: do not sell it again.", "again": '"Print the tickets again"',
                "desk": '"Print tickets"', "desk_badge": '"Print badges"', "refused": "refused the connection",
                "not": "Not printed.", "printed": "2 printed.", "none_left": "Tickets: nothing left to print",
                "receipt_later": 'Later: Ticket desk, find the order, "Print receipt".', "collect": "Exchanged: collect",
                "new_not": "New ticket NOT printed:", "kept": "1 ticket(s) kept to print again: see the print queue.",
                "receipt_printed": "Receipt printed."},
         "fr": {"not_printed": "2 billets NON imprimés.", "one": "1 billet NON imprimé.", "badge": "1 badge NON imprimé.",
                "recorded": "La vente est enregistrée : ne la refaites pas.", "again": "« Réimprimer les billets »",
                "desk": "« Imprimer les billets »", "desk_badge": "« Imprimer les badges »", "refused": "refus",
                "not": "Non imprimé.", "printed": "2 imprimés.", "none_left": "plus rien à imprimer",
                "receipt_later": "Plus tard : Guichet, trouvez la commande, « Imprimer le reçu ».",
                "collect": "Échangé : encaissez", "new_not": "Nouveau billet NON imprimé :",
                "kept": "1 billet(s) gardé(s) pour être réimprimé(s) : voir la file d'impression.",
                "receipt_printed": "Reçu imprimé."}}


@pytest.fixture(scope="module", params=["en", "fr"])
def res(request) -> tuple[str, dict]:
    out = OUT / request.param
    out.mkdir(parents=True, exist_ok=True)
    run_offscreen_scenario("desk_printer_off_scenario.py", str(out), request.param)
    return request.param, json.loads((out / "printer_off_results.json").read_text())


def test_the_sale_is_kept_once_and_the_headline_says_the_tickets_did_not_print(res):
    lang, r = res
    w = WORDS[lang]
    off = r["off"]
    assert off["screen"] == "sold" and off["ok"] and not off["offline"]
    assert off["sold_on_server"] == 2 and off["server_states"] == ["paid", "paid"]     # Confirm tapped twice: one sale
    assert off["cart_after"] == 0                          # nothing left in the cart to sell again by mistake
    assert off["kiosk_orders"] == [[off["order"], "Hélène Dupont", 2]]
    assert off["attention"] and off["headline"].endswith(w["not_printed"]), off["headline"]
    todo = off["details"].split("\n")[0]                   # how to print them, first under the headline
    for words in (w["recorded"], w["again"], w["desk"]):
        assert words in todo, (words, todo)
    assert w["refused"] in off["details"]                 # and why, from the printer
    assert off["details"].split("\n")[-1].endswith(w["receipt_later"])   # where the receipt prints after "New sale"
    assert sorted(k for _, k, _ in off["pending"]) == sorted(off["keys"])   # kept on the device to print again
    for name in ("printer_off_sold", "printer_jammed_sold", "badge_off_sold"):
        img = Image.open(OUT / lang / f"{name}.png")
        assert img.size[0] > 300 and len(set(img.convert("L").resize((60, 100)).tobytes())) > 4   # drawn, not blank


def test_every_sale_of_the_walk_is_sold_once_though_confirm_is_tapped_twice(res):
    """Each sale's Confirm is tapped twice; a second tap after the sale was done but before the screen took its
    outcome sold the cart again (kiosk_ui/desk_flow.py `waiting`): a second order, its tickets in the print queue."""
    _, r = res
    for step in ("off", "off2", "badge_off", "off3", "off4", "off5", "refunded"):
        sale = r[step]
        assert [o for o, _, _ in sale["kiosk_orders"]] == [sale["order"]], (step, sale["kiosk_orders"])
        assert sale["sold_on_server"] == len(sale["keys"]), (step, sale["sold_on_server"])


def test_a_printer_that_closes_or_hangs_is_reported_within_its_timeout_and_nothing_is_queued_twice(res):
    lang, r = res
    w = WORDS[lang]
    for mode in ("close", "hang"):
        again = r[f"again_{mode}"]
        assert again["accepted"] == 1 and not again["ok"] and w["not"] in again["message"]   # closed: reset or no answer
        assert again["attention"] and again["pending"] == r["off"]["pending"]     # the same 2 kept, not 4
        assert again["second_tap"] is None and again["frames"] > 0     # the screen kept drawing; tapped twice
        assert again["done_ms"] < 15_000                  # the printer's timeout (3 s), not forever
    hang = r["again_hang"]
    assert hang["done_ms"] > 2_500 and hang["returned_ms"] < hang["done_ms"] / 4   # not on the UI thread


def test_printed_from_the_ticket_desk_once_the_printer_is_back(res):
    lang, r = res
    w = WORDS[lang]
    assert r["found"] == [[r["off"]["order"], "Hélène Dupont", 2]]    # found by the buyer's name
    back = r["back"]
    assert back["ok"] and back["message"] == w["printed"] and back["pending"] == 0
    assert r["back_tap"]["second_tap"] is None
    assert back["payloads"] == [True, True] and back["copy_marked"] == [False, False] and back["jobs"] == 2
    assert not back["sold"]["attention"] and "\n" not in back["sold"]["headline"]   # the sold screen agrees
    assert w["none_left"] in back["sold"]["details"]


def test_print_again_on_the_sold_screen_prints_the_missing_ticket_as_an_original_then_copies(res):
    lang, r = res
    w = WORDS[lang]
    assert r["off2"]["attention"] and r["off2"]["headline"].endswith(w["one"])
    again = r["again_back"]
    assert again["ok"] and again["second_ok"] and not again["attention"] and again["pending"] == []
    assert again["payloads"] == [True] and again["copy_marked"] == [False, True]   # the buyer's only ticket: no mark


def test_the_receipt_printed_again_once_its_printer_is_back(res):
    lang, r = res
    receipt = r["receipt_back"]
    assert receipt["ok"] and receipt["has_order"] and receipt["second_tap"] is None
    assert receipt["details"] == ("Receipt: Receipt printed." if lang == "en" else "Reçu : Reçu imprimé."), receipt


def test_a_badge_sale_with_the_card_printer_off(res):
    lang, r = res
    w = WORDS[lang]
    badge = r["badge_off"]
    assert badge["ok"] and badge["sold_on_server"] == 1 and badge["attention"]
    assert badge["headline"].endswith(w["badge"]) and w["desk_badge"] in badge["details"].split("\n")[0]
    assert r["badge_back"] == {"ok": True, "message": r["badge_back"]["message"], "documents": 1, "pending": 0}


def test_printed_from_the_print_queue_once_the_printer_is_back(res):
    lang, r = res
    q = r["queue_back"]
    assert q["ok"] == [True] and q["pending"] == 0 and q["second_tap"] is None
    assert q["message"] == ("1 printed." if lang == "en" else "1 imprimé.")
    assert q["payloads"] == [True] and q["copy_marked"] == [False] and q["jobs"] == 1


def test_a_ticket_the_printer_may_have_printed_comes_out_again_as_a_copy(res):
    _, r = res
    stalled, back = r["stalled"], r["stalled_back"]
    assert not stalled["ok"] and stalled["attention"] and stalled["copy"] == [True]   # took the job, then silent
    assert back["ok"] and back["pending"] == 0 and back["payloads"] == [True] and back["copy_marked"] == [True]


def test_the_server_is_told_each_print_once(res):
    _, r = res
    o1, o2, o3, o4, o5 = (r[k]["order"] for k in ("off", "off2", "badge_off", "off3", "off4"))
    assert r["server_actions"] == sorted([[o1, "print", 2], [o2, "print", 1], [o2, "reprint", 1], [o3, "print", 1],
                                          [o4, "print", 1], [o5, "reprint", 1]])


def test_an_exchange_prints_its_new_ticket_off_the_ui_thread_and_keeps_it_when_the_printer_is_off(res):
    lang, r = res
    w = WORDS[lang]
    off, jammed, back = r["exchange_off"], r["exchange_jammed"], r["exchange_back"]
    assert off["ok"] and off["message"].startswith(w["collect"]) and w["new_not"] in off["message"]
    assert w["kept"] in off["message"] and off["pending"] == off["keys"]      # kept; the ticket taken back is not
    assert jammed["ok"] and jammed["accepted"] == 1 and w["kept"] in jammed["message"]
    assert jammed["pending"] == jammed["keys"]            # only the last new ticket waits: none taken back prints
    for ex in (off, jammed):
        assert ex["second_tap"] is None and ex["waiting"]["exchange_button"] and not ex["exchange_button"]
        assert ex["ok_printed"] is False and ex["frames"] > 0
    assert jammed["done_ms"] > 2_500 and jammed["returned_ms"] < jammed["done_ms"] / 4   # not on the UI thread
    assert back["ok"] == [False, True] and back["pending"] == 0 and back["jobs"] == 1   # (the slip, then the ticket)
    # the receipt printer is still off: each exchange's slip waits in the print queue, holding no ticket back
    assert off["slips"] == [off["order"]] and jammed["slips"] == sorted([off["order"], jammed["order"]])
    assert back["slips"] == 2
    assert back["payloads"] == [True] and back["copy_marked"] == [False] and back["taken_back"] == [False, False]
    assert back["refunded"] == [False]                  # refunded while it waited: it left the print queue
    assert r["exchange_actions"] == [["print", jammed["keys"]]]         # the server is told that print once


def test_a_receipt_prints_again_from_the_ticket_desk_after_more_sales(res):
    lang, r = res
    receipt = r["desk_receipt"]
    assert receipt["button"] and receipt["ok"] and receipt["message"] == WORDS[lang]["receipt_printed"]
    assert receipt["jobs"] == 1 and receipt["has_order"] and receipt["has_buyer"] and not receipt["other_sale"]
    assert receipt["second_tap"] is None


def test_a_refunded_sale_s_ticket_leaves_the_print_queue(res):
    _, r = res
    refunded = r["refunded"]
    assert refunded["ok"] and refunded["attention"] and refunded["refund_ok"]
    assert [k for _, k, _ in refunded["pending"]] and refunded["keys"][0] in [k for _, k, _ in refunded["pending"]]
    assert refunded["keys"][0] not in refunded["pending_after"]
    assert r["exchange_back"]["refunded"] == [False] and r["exchange_back"]["jobs"] == 1


def test_an_exchange_waits_for_a_silent_server_off_the_ui_thread(res):
    lang, r = res
    silent = r["exchange_silent"]
    assert silent["online"] and not silent["ok"] and silent["problem"] == "The server did not answer in time."
    assert silent["message"].startswith("Not exchanged:" if lang == "en" else "Non échangé")
    assert silent["revoked"] is None and silent["keys"] == []          # nothing taken back, nothing new
    assert silent["waiting"]["exchange_button"] and not silent["waiting"]["returned_result"]
    assert silent["second_tap"] is None                                # tapped again: no second request
    assert not silent["exchange_button"] and silent["frames"] > 0
    assert silent["done_ms"] > 2_500 and silent["returned_ms"] < silent["done_ms"] / 4    # the desk's timeout


def test_a_refund_or_cancellation_waits_for_a_silent_server_off_the_ui_thread(res):
    lang, r = res
    for kind, said in (("refund", ("Refunding order", "Remboursement de la commande")),
                       ("cancel", ("Cancelling order", "Annulation de la commande"))):
        silent = r[f"{kind}_silent"]
        assert not silent["ok"] and silent["problem"] == "The server did not answer in time.", silent
        assert silent["message"].startswith("Not done:" if lang == "en" else "Non effectué"), silent["message"]
        assert silent["waiting"]["message"].startswith(said[lang == "fr"]), silent["waiting"]
        assert silent["waiting"]["refund_button"] and not silent["refund_button"]   # waits, then tappable again
        assert silent["second_tap"] is None and silent["frames"] > 0        # tapped again: no second request
        assert silent["server"] == "paid" and set(silent["kiosk_states"]) == {"valid"}   # nothing taken back
        assert silent["done_ms"] > 2_500 and silent["returned_ms"] < silent["done_ms"] / 4   # the desk's timeout
