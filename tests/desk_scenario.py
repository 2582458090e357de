"""Drives the desk's sell screens offscreen (real GL) through a sale: run in its own process by test_desk_render.py.

    python tests/desk_scenario.py OUT_DIR WIDTH HEIGHT LANG [BROKER_PORT SERVER_HOME]

Real agent and ledger, the real desk (prices from agent.pricing, offline sales signed with a certified allotment),
real TCP printers on 127.0.0.1 (drivers/testkit/fake_printer.py) whose captured jobs are saved for the test to
render back. OUT_DIR/desk_results.json says what the screens showed.
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def texts(widget) -> list[str]:
    return [w.text for w in widget.walk(restrict=True) if hasattr(w, "text") and isinstance(w.text, str) and w.text]


def main(out: Path, size: tuple[int, int], lang: str) -> dict:
    from kiosk_ui.offscreen import offscreen_env
    offscreen_env(size)
    from drivers.testkit.fake_printer import FakePrinter
    from kiosk_ui import i18n
    from kiosk_ui.adapters import build_services
    from kiosk_ui.controller import Controller
    from kiosk_ui.demo_data import seed, seed_desk
    from kiosk_ui.offscreen import Harness
    i18n.set_language(lang)
    home = Path(tempfile.mkdtemp(prefix="desk-scenario-"))
    t = [1_790_000_000.0]
    demo = seed(home, now=t[0], clock=lambda: t[0])
    ctl = Controller(demo.door, build_services(demo.door, home), clock=lambda: t[0])
    seed_desk(demo, ctl.services.desk, now=t[0])
    receipts, tickets = FakePrinter("escpos"), FakePrinter("zpl")
    ctl.door.ledger.set_setting("printers", [
        {"host": "127.0.0.1", "port": receipts.port, "name": "Receipts", "language": "escpos"},
        {"host": "127.0.0.1", "port": tickets.port, "name": "Zebra", "language": "zpl", "format": "show"}])
    ctl.selected_printer = f"zpl:127.0.0.1:{tickets.port}"
    h = Harness(ctl, "menu")
    res: dict = {"menu": texts(h.screen("menu").grid)}

    def shot(name: str) -> None:
        h.pump()
        h.screenshot(out / f"{name}.png")

    h.go("sell")
    sell = h.screen("sell")
    shot("desk_cart_empty")
    res["cart_empty"] = {"target": sell.target_button.text, "problem": sell.problem.text,
                         "pay_disabled": sell.pay_button.disabled,
                         "rows": [texts(row) for row in reversed(sell.list.children) if hasattr(row, "category")]}
    for _ in range(4):
        sell.add(1, 1)
    sell.add(2, 1)
    sell.apply_promo("spring")                       # as typed, or read by the scanner on this screen
    shot("desk_cart")
    res["cart"] = {"lines": sell.lines.text, "total": sell.total.text, "problem": sell.problem.text,
                   "pay_disabled": sell.pay_button.disabled,
                   "rows": [texts(row) for row in reversed(sell.list.children) if hasattr(row, "category")]}
    sell.apply_promo("NOPE")
    res["bad_promo"] = {"problem": sell.problem.text, "pay_disabled": sell.pay_button.disabled}
    sell.apply_promo("SPRING")
    sell.pay()
    pay = h.screen("pay")
    res["pay_screen"] = h.ui.manager.current
    pay.given.text = "100"
    res["short_cash"] = {"problem": pay.problem.text, "confirm_disabled": pay.confirm_button.disabled}
    pay.given.text = "150"
    pay.buyer.text = "Hélène Dupont"
    shot("desk_payment")
    res["payment"] = {"to_pay": pay.to_pay.text, "change": pay.change.text, "problem": pay.problem.text,
                      "confirm_disabled": pay.confirm_button.disabled}
    outcome = pay.confirm()
    res["sold_screen"] = h.ui.manager.current
    sold = h.screen("sold")
    shot("desk_sold")
    res["sold"] = {"headline": sold.headline.text, "details": sold.details.text, "ok": outcome.result.ok,
                   "offline": outcome.result.offline, "order": outcome.result.order_number,
                   "tickets": list(outcome.result.ticket_keys), "ticket_print": outcome.tickets.ok,
                   "receipt_print": outcome.receipt.ok, "first_ticket_ms": outcome.first_ticket_ms,
                   "outbox": ctl.door.ledger.outbox_size(),
                   "order_states": [t["state"] for t in ctl.door.order(outcome.result.order_number)]}
    h.go("sell")
    sell.choose_target(1)
    res["stock_after"] = [texts(row) for row in reversed(sell.list.children) if hasattr(row, "category")]
    # a card payment without the terminal's reference is not confirmed; an invoice leaves the order pending
    sell.add(1, 1)
    sell.pay()
    pay.set_method("card")
    res["card_no_ref"] = {"problem": pay.problem.text, "confirm_disabled": pay.confirm_button.disabled}
    pay.set_method("invoice")
    shot("desk_payment_invoice")
    invoice = pay.confirm()
    res["invoice"] = {"ok": invoice.result.ok, "status": invoice.result.status,
                      "states": [t["state"] for t in ctl.door.order(invoice.result.order_number)],
                      "headline": h.screen("sold").headline.text}
    receipts.close()
    tickets.close()
    jobs = {"receipts": [j.hex() for j in receipts.jobs if j], "tickets": [j.hex() for j in tickets.jobs if j]}
    (out / "desk_jobs.json").write_text(json.dumps(jobs))
    res["keyring"] = str(home / "keyring.json")
    (out / "desk_results.json").write_text(json.dumps(res, indent=1, ensure_ascii=False))
    return res


if __name__ == "__main__":
    main(Path(sys.argv[1]), (int(sys.argv[2]), int(sys.argv[3])), sys.argv[4])
