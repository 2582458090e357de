"""The desk's screens offscreen (tests/test_desk_gaps_app.py runs this in its own process): a message on the ticket
desk and cash-up screens when the language is switched from the menu; amounts typed too long on the payment and
cash-up screens.

    python tests/desk_gaps_scenario.py OUT_DIR  -> OUT_DIR/desk_gaps.json
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.scenario_main import run  # noqa: E402


def main(out: Path) -> dict:
    from kiosk_ui.offscreen import offscreen_env
    offscreen_env((720, 1280))
    from agent.ticket_format import Ticket
    from kiosk_ui import i18n
    from kiosk_ui.adapters import build_services
    from kiosk_ui.controller import Controller
    from kiosk_ui.demo_data import seed, seed_desk
    from kiosk_ui.offscreen import Harness
    i18n.set_language("en")
    home = Path(tempfile.mkdtemp(prefix="desk-gaps-"))
    demo = seed(home, role="kiosk")
    ctl = Controller(demo.door, build_services(demo.door, home))
    seed_desk(demo, ctl.services.desk)
    h = Harness(ctl, "menu")
    res: dict = {}

    # a message on the ticket desk, the language switched from the menu, back on the desk
    h.go("kiosk")
    kiosk = h.screen("kiosk")
    kiosk.find("helene dupont")
    res["found_en"] = kiosk.message.text
    h.go("menu")
    h.ui.switch_language("fr")
    h.go("kiosk")
    res["found_after_fr"] = kiosk.message.text
    kiosk.open_order("A-1001")
    kiosk.ask_exchange()                                  # no ticket tapped
    res["tap_fr"] = kiosk.message.text
    h.go("menu")
    h.ui.switch_language("en")
    h.go("kiosk")
    res["tap_after_en"] = kiosk.message.text

    # Payment received of a pending order whose amount due the kiosk holds: shown, a wrong amount refused, then paid
    demo.door.ledger.upsert_tickets([{"ticket_key": "9901", "event_id": 1, "order_number": "INV-1", "buyer_name": "Zed",
                                      "category": 1, "zone": None, "order_status": "pending",
                                      "payload": demo.key.issue(Ticket(1, 1, 9901, category=1))}])
    demo.door.ledger.set_order_dues([("INV-1", 5000, "EUR")])
    kiosk.open_order("INV-1")
    kiosk.ask_payment()
    res["due_title"] = h.ui.popup.title
    h.close_popup()
    kiosk.validate_payment("cash")
    asked = h.ui.popup
    res["due_ask"] = {"title": asked.title, "hint": asked.entry.hint_text}
    asked.entry.text = "40"
    asked.submit()
    res["due_wrong"] = [w.text for w in asked.walk() if getattr(w, "text", "") and "collect" in w.text]
    res["due_wrong_status"] = sorted(demo.door.ledger.order_statuses("INV-1"))
    asked.entry.text = "50.00"
    asked.submit()
    res["due_paid"] = {"message": kiosk.message.text, "status": sorted(demo.door.ledger.order_statuses("INV-1"))}
    h.close_popup()

    # cash-up: an amount of 9 digits, then the language switched
    h.go("till")
    till = h.screen("till")
    for typed in ("123456789", "1.234", "99999999.99"):       # (no server here: the last one goes as far as that)
        till.amount.text = typed
        res[f"till_{typed}"] = till.submit(wait=True)
    till.amount.text = "123456789"
    till.submit(wait=True)
    h.go("menu")
    h.ui.switch_language("fr")
    h.go("till")
    res["till_too_large_after_fr"] = till.problem.text
    h.ui.switch_language("en")

    # the payment screen: cash given with 9 digits, 8 digits, too little
    h.go("sell")
    sell = h.screen("sell")
    sell.add(1, 1)
    sell.pay()
    pay = h.screen("pay")
    pay.set_method("cash")
    for typed in ("123456789", "000000001000", "99999999", "1"):
        pay.given.text = typed
        h.pump()
        res[f"pay_{typed}"] = {"problem": pay.problem.text, "confirm_disabled": pay.confirm_button.disabled}

    # a split payment: 10.00 by card, too much in cash, then the rest in cash (cash given 20.00), sold (offline)
    pay.given.text = ""
    pay.set_method("card")
    pay.part_amount.text, pay.reference.text = "10", "AUTH-9"
    pay.add_part()
    pay.set_method("cash")
    pay.part_amount.text = "99"
    pay.add_part()
    res["split_too_much"] = pay.problem.text
    pay.part_amount.text = "15"
    pay.add_part()
    pay.given.text = "20"
    h.pump()
    res["split"] = {"parts": pay.split_text.text, "change": pay.change.text, "problem": pay.problem.text,
                    "confirm_disabled": pay.confirm_button.disabled}
    h.ui.switch_language("fr")
    res["split_fr"] = pay.split_text.text
    h.ui.switch_language("en")
    pay.confirm()
    for _ in range(300):                                  # the UI's clock polls the sale's outcome
        if h.ui.manager.current == "sold":
            break
        h.pump()
    res["split_sold"] = {"screen": h.ui.manager.current, "parts_after": list(pay.parts)}
    sent = [b for _, kind, b in demo.door.ledger.outbox_pending() if kind == "kiosk" and b.get("action") == "offline_sale"]
    res["split_sent"] = [[p["method"], p["cents"], p["reference"]] for p in sent[-1]["parts"]] if sent else None
    (out / "desk_gaps.json").write_text(json.dumps(res, ensure_ascii=False, indent=1))
    return res


if __name__ == "__main__":
    run(main, Path(sys.argv[1]))
