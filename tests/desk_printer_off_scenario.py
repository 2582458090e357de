"""Drives a desk sale offscreen (real GL) while the printers are off, jammed, then back: run in its own process by
tests/test_desk_printer_off.py (Kivy's window is one per process).

    python tests/desk_printer_off_scenario.py OUT_DIR LANG   -> OUT_DIR/*.png, printer_off_results.json

The real sync server and mosquitto (tests/desk_scenario.py); the printers are addresses on 127.0.0.1: first nothing
listens there (printer off), then a listener that accepts and closes at once, then one that accepts and never
answers (jammed), then a real TCP printer (drivers/testkit/fake_printer.py) or IPP card printer (tests/ipp_printer.py)
on the same address (the printer back). The operator sells, reads what the screens say, then finds the order at the
ticket desk and prints it again.
"""
from __future__ import annotations

import json
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.scenario_main import run  # noqa: E402


def free_port() -> int:
    """A port on 127.0.0.1 where nothing listens (a printer switched off)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BadPrinter:
    """Accepts on `port` then closes at once ("close") or holds the connection and never reads nor answers
    ("hang"): a printer that is jammed or rebooting."""

    def __init__(self, port: int, mode: str):
        self.mode, self.accepted = mode, 0
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.srv.bind(("127.0.0.1", port))
        self.srv.listen(8)
        self.srv.settimeout(0.05)
        self.held: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            if self.mode == "close":
                conn.close()
            else:
                self.held.append(conn)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        self.srv.close()
        for c in self.held:
            c.close()


def main(out: Path, lang: str) -> dict:
    from kiosk_ui.offscreen import offscreen_env
    offscreen_env((720, 1280))
    from drivers.testkit.fake_printer import FakePrinter
    from kiosk_ui import i18n
    from kiosk_ui.offscreen import Harness
    from tests.broker import Mosquitto
    from tests.desk_scenario import kiosk_side, server_side
    from tests.helpers import wait_for
    from kiosk_ui.presenters.colours import ORANGE
    from kiosk_ui.presenters.labels import EXCHANGE_REASONS, REFUND_REASONS
    from kiosk_ui.presenters.lists import orders_of
    from tests.ipp_printer import IppPrinter
    from tests.sync_fixtures import ORG
    i18n.set_language(lang)
    work = Path(tempfile.mkdtemp(prefix="desk-printer-off-"))
    res: dict = {}
    with Mosquitto(work / "mosquitto") as broker:
        store, event, server = server_side(work / "server", broker.port)
        kiosk, door, ctl, desk = kiosk_side(work / "kiosk", store, event, broker.port)
        zpl_port, receipt_port, card_port = free_port(), free_port(), free_port()
        door.ledger.set_setting("printers", [
            {"host": "127.0.0.1", "port": zpl_port, "name": "Zebra", "language": "zpl", "format": "show"},
            {"host": "127.0.0.1", "port": receipt_port, "name": "Receipts", "language": "escpos"},
            {"host": "127.0.0.1", "port": card_port, "name": "Card printer", "language": "badge"}])
        zebra = f"zpl:127.0.0.1:{zpl_port}"
        ctl.selected_printer = zebra
        assert wait_for(lambda: desk.online and desk.targets(), 30), "no catalogue from the server"
        door.reload_names()
        h = Harness(ctl, "menu")

        def shot(name: str) -> None:
            h.pump()
            h.screenshot(out / f"{name}.png")

        def sold_state() -> dict:
            sold = h.screen("sold")
            h.pump()
            return {"headline": sold.headline.text, "attention": list(sold.headline.bg.rgba) == list(ORANGE),
                    "details": sold.details.text,
                    "pending": sorted([p.order_number, p.ticket_key, p.kind] for p in ctl.pending_prints())}

        def event_sold() -> int:
            return next(q["sold"] for q in store.quotas(event) if q["scope"] == "event")

        def sell(n: int, buyer: str, kind: str = "ticket") -> dict:
            """The operator's sale: n Standard tickets, cash, Confirm tapped twice; then the sold screen."""
            sold_before = event_sold()
            h.go("sell")
            sell_screen = h.screen("sell")
            for _ in range(n):
                sell_screen.add(1, 1)
            sell_screen.pay()
            pay = h.screen("pay")
            pay.set_method("cash")
            pay.given.text = "500"
            pay.buyer.text = buyer
            pay.kind_buttons[kind].state = "down"
            pay.kind_buttons[kind].dispatch("on_release")
            ctl.sale.last = None
            pay.confirm()
            pay.confirm()                                   # tapped twice: one sale
            deadline = time.monotonic() + 120              # the whole suite on 2 busy cores: the sale takes its time
            while h.ui.manager.current == "pay" and time.monotonic() < deadline:
                h.pump(1)
                time.sleep(0.02)
            last = ctl.sale.last
            assert last is not None, f"no sale outcome for {buyer}: screen {h.ui.manager.current!r}, " \
                f"waiting {ctl.sale.waiting}, sold on the server {event_sold() - sold_before}"
            return dict(sold_state(), screen=h.ui.manager.current, ok=last.result.ok, order=last.result.order_number,
                        keys=list(last.result.ticket_keys), offline=last.result.offline,
                        sold_on_server=event_sold() - sold_before, cart_after=sum(ctl.sale.cart.values()),
                        server_states=[store.ticket(k)["order_status"] for k in last.result.ticket_keys],
                        kiosk_orders=[list(o) for o in orders_of(door.search(buyer))])

        def tap(screen, intent) -> tuple:
            """A print button tapped twice: the UI thread returns at once, frames keep coming while the printer
            answers (or takes its timeout), the second tap prints nothing more. -> (the print's outcome, timings)."""
            started = time.perf_counter()
            intent()
            returned_ms = (time.perf_counter() - started) * 1000
            second = intent()
            frames, deadline = 0, time.monotonic() + 30
            while screen.printing and time.monotonic() < deadline:
                h.pump(1)
                frames += 1
                time.sleep(0.02)
            return screen.last_print, {"returned_ms": returned_ms, "second_tap": second, "frames": frames,
                                       "done_ms": (time.perf_counter() - started) * 1000}

        def payloads(keys: list[str]) -> list[str]:
            return [ctl.services.printers.payload(k) for k in keys]

        def printed(jobs: list[bytes], keys: list[str]) -> dict:
            """Which tickets' signed payloads the printer received, and whether any came out marked as a copy."""
            got = [j for j in jobs if j]
            return {"payloads": [any(p.encode() in j for j in got) for p in payloads(keys)],
                    "copy_marked": [any(mark in j for mark in (b"REPRINT", b"DUPLICATA")) for j in got],
                    "jobs": len(got)}

        # 1. the Zebra and the receipt printer are off: nothing listens on their ports
        res["off"] = sale = sell(2, "Hélène Dupont")
        shot("printer_off_sold")
        # 2. "Print the tickets again" on the sold screen: a printer that accepts then closes, then one that hangs
        sold = h.screen("sold")
        for mode in ("close", "hang"):
            bad = BadPrinter(zpl_port, mode)
            result, timing = tap(sold, sold.reprint_tickets)
            res[f"again_{mode}"] = dict(sold_state(), ok=result.ok, message=result.message, accepted=bad.accepted,
                                        **timing)
            bad.close()
        shot("printer_jammed_sold")
        # 3. the printer is back on its address: the order found at the ticket desk by the buyer's name, printed
        with FakePrinter("zpl", port=zpl_port) as zpl:
            h.go("kiosk")
            kiosk_screen = h.screen("kiosk")
            res["found"] = [list(f) for f in kiosk_screen.find("Dupont")]
            kiosk_screen.open_order(sale["order"])
            result, res["back_tap"] = tap(kiosk_screen, lambda: kiosk_screen.print_(kind="ticket"))
            shot("printer_back_printed")
            assert wait_for(lambda: len([j for j in zpl.jobs if j]) >= 2, 10)
            res["back"] = dict(printed(zpl.jobs, sale["keys"]), ok=result.ok, message=kiosk_screen.message.text,
                               pending=len(ctl.pending_prints()))
            h.go("sold")
            res["back"]["sold"] = sold_state()
        # 4. one more sale while the printer is off, printed from the sold screen once it is back: the ticket is
        #    an original (the buyer has no other); tapped again, a copy
        res["off2"] = sale2 = sell(1, "Paul Girard")
        with FakePrinter("zpl", port=zpl_port) as zpl:
            first, _ = tap(sold, sold.reprint_tickets)
            res["again_back"] = dict(sold_state(), ok=first.ok)
            second, _ = tap(sold, sold.reprint_tickets)
            assert wait_for(lambda: len([j for j in zpl.jobs if j]) >= 2, 10)
            res["again_back"].update(printed(zpl.jobs, sale2["keys"]), second_ok=second.ok)
        with FakePrinter("escpos", port=receipt_port) as receipts:      # the receipt printer back too
            receipt, timing = tap(sold, sold.reprint_receipt)
            assert wait_for(lambda: [j for j in receipts.jobs if j], 10)
            res["receipt_back"] = {"ok": receipt.ok, "second_tap": timing["second_tap"],
                                   "details": sold.details.text.split("\n")[-1],
                                   "has_order": any(sale2["order"].encode() in j for j in receipts.jobs)}
        # 5. badges: the card printer is off, then back (found at the ticket desk, "Print badges")
        res["badge_off"] = badge = sell(1, "Jean Martin", "badge")
        shot("badge_off_sold")
        cards = IppPrinter(port=card_port)
        try:
            h.go("kiosk")
            kiosk_screen.find(badge["order"])
            result, _ = tap(kiosk_screen, lambda: kiosk_screen.print_(kind="badge"))
            res["badge_back"] = {"ok": result.ok, "message": kiosk_screen.message.text,
                                 "documents": len(cards.documents), "pending": len(ctl.pending_prints())}
        finally:
            cards.close()
        # 6. one more sale while the printer is off, printed from the print queue ("Print all again") once it is back
        res["off3"] = sale3 = sell(1, "Chloé Roux")
        with FakePrinter("zpl", port=zpl_port) as zpl:
            h.go("kiosk")
            results, timing = tap(kiosk_screen, lambda: kiosk_screen.retry_queued(None))
            assert wait_for(lambda: [j for j in zpl.jobs if j], 10)
            res["queue_back"] = dict(printed(zpl.jobs, sale3["keys"]), ok=[r.ok for _, r in results],
                                     message=kiosk_screen.message.text, pending=len(ctl.pending_prints()),
                                     second_tap=timing["second_tap"])
        # 7. a printer that takes the job then stops answering: the ticket may have come out, so once the printer
        #    is back it prints marked as a copy (never two originals)
        res["off4"] = sale4 = sell(1, "Marc Blanc")
        with FakePrinter("zpl", mode="stall", port=zpl_port):
            stalled, _ = tap(sold, sold.reprint_tickets)
            res["stalled"] = dict(sold_state(), ok=stalled.ok, message=stalled.message,
                                  copy=[p.reprint for p in ctl.pending_prints()])
        with FakePrinter("zpl", port=zpl_port) as zpl:
            after, _ = tap(sold, sold.reprint_tickets)
            assert wait_for(lambda: [j for j in zpl.jobs if j], 10)
            res["stalled_back"] = dict(printed(zpl.jobs, sale4["keys"]), ok=after.ok, pending=len(ctl.pending_prints()))
        # 8. exchanges at the ticket desk (the server prices them): with the Zebra off, the new ticket is kept in
        #    the print queue and the operator is told; with it jammed, the tap returns at once and frames keep
        #    coming; the tickets taken back leave the print queue; once the printer is back the last one prints
        res["off5"] = sale5 = sell(1, "Anne Petit")
        h.go("kiosk")
        kiosk_screen.open_order(sale5["order"])
        reason = EXCHANGE_REASONS[0]

        def exchange(key: str, category: int) -> dict:
            """The exchange tapped twice: the server's answer and the new ticket's print both off the UI thread."""
            setattr(kiosk_screen, "last_exchange", None)
            started = time.perf_counter()
            tapped = kiosk_screen.exchange_to(key, reason, event, category, "cash")
            returned_ms = (time.perf_counter() - started) * 1000
            waiting = {"message": kiosk_screen.message.text, "exchange_button": kiosk_screen.buttons["exchange"].disabled,
                       "returned_result": tapped is not None}
            second = kiosk_screen.exchange_to(key, reason, event, category, "cash")     # tapped again
            frames, deadline = 0, time.monotonic() + 30
            while kiosk_screen.printing and time.monotonic() < deadline:
                h.pump(1)
                frames += 1
                time.sleep(0.02)
            done = tapped if tapped is not None else kiosk_screen.last_exchange    # on the UI thread, it returned it
            return {"ok": done.ok, "keys": list(done.ticket_keys), "order": done.order_number,
                    "problem": done.problem, "revoked": door.ledger.history(key).revoked,
                    "returned_ms": returned_ms, "done_ms": (time.perf_counter() - started) * 1000, "frames": frames,
                    "second_tap": None if second is None else {"ok": second.ok, "problem": second.problem},
                    "waiting": waiting, "message": kiosk_screen.message.text,
                    "ok_printed": getattr(kiosk_screen.last_print, "ok", None),
                    "pending": sorted(p.ticket_key for p in ctl.pending_prints() if p.kind != "slip"),
                    "slips": sorted(p.order_number for p in ctl.pending_prints() if p.kind == "slip"),
                    "exchange_button": kiosk_screen.buttons["exchange"].disabled}
        res["exchange_off"] = first = exchange(sale5["keys"][0], 2)           # Standard -> VIP, nothing listening
        kiosk_screen.open_order(first["order"])
        bad = BadPrinter(zpl_port, "hang")
        res["exchange_jammed"] = last = exchange(first["keys"][0], 1)         # VIP -> Standard, the Zebra jammed
        res["exchange_jammed"]["accepted"] = bad.accepted
        bad.close()
        # a sale whose ticket did not print, then refunded: its ticket leaves the print queue
        res["refunded"] = refunded = sell(1, "Luc Moreau")
        h.go("kiosk")
        kiosk_screen.open_order(refunded["order"])
        done = kiosk_screen.refund(refunded["order"], REFUND_REASONS[0], "refund", wait=True)
        res["refunded"].update(refund_ok=done.ok, refund_message=kiosk_screen.message.text,
                               pending_after=sorted(p.ticket_key for p in ctl.pending_prints()))
        kiosk_screen.open_order(first["order"])
        with FakePrinter("zpl", port=zpl_port) as zpl:
            results, _ = tap(kiosk_screen, lambda: kiosk_screen.retry_queued(None))
            assert wait_for(lambda: [j for j in zpl.jobs if j], 10)
            time.sleep(0.3)                                  # a second job, if any, lands too
            res["exchange_back"] = dict(printed(zpl.jobs, last["keys"]), ok=[r.ok for _, r in results],
                                        taken_back=printed(zpl.jobs, sale5["keys"] + first["keys"])["payloads"],
                                        refunded=printed(zpl.jobs, refunded["keys"])["payloads"],
                                        pending=len([p for p in ctl.pending_prints() if p.kind != "slip"]),
                                        slips=len([p for p in ctl.pending_prints() if p.kind == "slip"]))
        # 9. after more sales, the first sale's receipt (its printer was off) printed from the ticket desk
        with FakePrinter("escpos", port=receipt_port) as receipts:
            h.go("kiosk")
            kiosk_screen.open_order(sale["order"])
            button = not kiosk_screen.buttons["receipt"].disabled
            receipt, timing = tap(kiosk_screen, kiosk_screen.print_receipt)
            assert wait_for(lambda: [j for j in receipts.jobs if j], 10)
            res["desk_receipt"] = {"button": button, "ok": receipt.ok, "message": kiosk_screen.message.text,
                                   "second_tap": timing["second_tap"], "jobs": len([j for j in receipts.jobs if j]),
                                   "has_order": any(sale["order"].encode() in j for j in receipts.jobs),
                                   "has_buyer": any(b"Dupont" in j for j in receipts.jobs),
                                   "other_sale": any(sale2["order"].encode() in j for j in receipts.jobs)}
        # what the server was told: each sale once, each print once (an original unless asked as a copy)
        orders = {sale["order"], sale2["order"], badge["order"], sale3["order"], sale4["order"]}
        assert wait_for(lambda: door.ledger.outbox_size() == 0, 30), "the kiosk's actions never reached the server"
        res["server_actions"] = sorted([a["order_number"], a["action"], len(a["tickets"])]
                                       for a in store.kiosk_actions(ORG) if a.get("order_number") in orders)
        res["exchange_actions"] = sorted([a["action"], a["tickets"]] for a in store.kiosk_actions(ORG)
                                         if a.get("order_number") == first["order"])
        # 10. the server stops while the broker runs: the kiosk still counts as online, the exchange's request waits
        #     the desk's timeout for an answer that never comes, off the UI thread; nothing is taken back
        from tests.sync_fixtures import stop_unannounced
        stop_unannounced(server)           # (announced, the kiosk would know it offline and not wait)
        kiosk_screen.open_order(sale3["order"])
        online = desk.online
        res["exchange_silent"] = dict(exchange(sale3["keys"][0], 2), online=online)

        def refund(order: str, kind: str) -> dict:
            """The refund tapped as the operator does (the button, then a reason in the popup), or the cancellation
            asked directly, then tapped again: the server's silence waited for off the UI thread."""
            kiosk_screen.open_order(order)
            kiosk_screen.last_refund = None
            started = time.perf_counter()
            if kind == "refund":
                kiosk_screen.buttons["refund"].dispatch("on_release")
                h.pump()
                reason = next(w for w in h.ui.popup.walk() if type(w).__name__ == "BigButton")
                reason.dispatch("on_release")
            else:
                kiosk_screen.refund(order, REFUND_REASONS[0], kind)
            returned_ms = (time.perf_counter() - started) * 1000
            waiting = {"message": kiosk_screen.message.text, "refund_button": kiosk_screen.buttons["refund"].disabled}
            second = kiosk_screen.refund(order, REFUND_REASONS[0], kind)           # tapped again
            frames, deadline = 0, time.monotonic() + 30
            while kiosk_screen.printing and time.monotonic() < deadline:
                h.pump(1)
                frames += 1
                time.sleep(0.02)
            done = kiosk_screen.last_refund
            return {"ok": done.ok, "problem": done.problem, "message": kiosk_screen.message.text,
                    "returned_ms": returned_ms, "done_ms": (time.perf_counter() - started) * 1000, "frames": frames,
                    "second_tap": None if second is None else {"ok": second.ok, "problem": second.problem},
                    "waiting": waiting, "refund_button": kiosk_screen.buttons["refund"].disabled,
                    "server": store.order(order)["status"], "kiosk_states": [t["state"] for t in door.order(order)]}
        res["refund_silent"] = refund(sale2["order"], "refund")
        res["cancel_silent"] = refund(sale4["order"], "cancel")
        kiosk.close()
        store.close()
    (out / "printer_off_results.json").write_text(json.dumps(res, indent=1, ensure_ascii=False))
    return res


if __name__ == "__main__":
    run(main, Path(sys.argv[1]), sys.argv[2])
