"""Drives the cash-up screen offscreen (real GL) against the real sync server and mosquitto: run in its own process by
tests/test_till_ui.py (Kivy's window is one per process).

    python tests/till_ui_scenario.py OUT_DIR LANG   -> OUT_DIR/till_*.png, till_results.json

The kiosk opens its shift with a float typed on the screen (a bad amount first), two sales reach the server for
this kiosk (cash and card), then the cash counted is typed and the Z report the server kept is shown and printed on
the kiosk's receipt printer (a fake ESC/POS printer on 127.0.0.1, its bytes rendered back as text).
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.scenario_main import run  # noqa: E402


def main(out: Path, lang: str) -> dict:
    from kiosk_ui.offscreen import offscreen_env
    offscreen_env((720, 1280))
    from agent.sync.messages import SaleLine, SaleRequest
    from drivers.printers.escpos_render import escpos_text, render_escpos
    from drivers.testkit.fake_printer import FakePrinter
    from kiosk_ui import i18n
    from kiosk_ui.offscreen import Harness
    from tests.broker import Mosquitto
    from tests.desk_scenario import kiosk_side, server_side, texts
    from tests.helpers import wait_for
    from tests.sync_fixtures import ORG
    i18n.set_language(lang)
    work = Path(tempfile.mkdtemp(prefix="till-scenario-"))
    res: dict = {}
    with Mosquitto(work / "mosquitto") as broker:
        store, event, server = server_side(work / "server", broker.port)
        kiosk, door, ctl, desk = kiosk_side(work / "kiosk", store, event, broker.port)
        assert wait_for(lambda: desk.online, 30), "the kiosk never got online"
        h = Harness(ctl, "menu")
        res["menu"] = texts(h.screen("menu").grid)
        h.go("till")
        till = h.screen("till")
        h.pump()
        h.screenshot(out / "till_closed.png")
        res["closed"] = {"status": till.status.text, "action": till.action.text, "hint": till.amount.hint_text}
        till.amount.text = "12,345"
        res["bad_amount"] = till.submit()
        till.amount.text = "150"
        res["open_problem"] = till.submit(wait=True)
        h.pump()
        h.screenshot(out / "till_open.png")
        res["open"] = {"status": till.status.text, "action": till.action.text, "hint": till.amount.hint_text,
                       "server": store.shifts(ORG, "kiosk-1")[0]["float_cents"]}
        cash = store.sell(ORG, "kiosk-1", SaleRequest(ORG, "kiosk-1", "t1", event, (SaleLine(1, 2),)))
        card = store.sell(ORG, "kiosk-1", SaleRequest(ORG, "kiosk-1", "t2", event, (SaleLine(2, 1),), payment="card",
                                                      payment_ref="T-77"))
        res["sales"] = [cash.total_cents, card.total_cents]
        receipts, off = FakePrinter("escpos"), FakePrinter("escpos")
        off.close()                               # the chosen receipt printer is switched off
        door.ledger.set_setting("printers", [
            {"host": "127.0.0.1", "port": port, "name": name, "language": "escpos"}
            for port, name in ((off.port, "Off"), (receipts.port, "Receipts"))])
        ctl.selected_printer = f"escpos:127.0.0.1:{off.port}"
        till.amount.text = "199,50"
        res["close_problem"] = till.submit(wait=True)
        res["queue"] = [(p.kind, p.order_number) for p in ctl.services.printers.pending()]
        retried = ctl.services.printers.retry(None, f"escpos:127.0.0.1:{receipts.port}")   # on the other printer
        res["retried"] = [r.ok for _, r in retried]
        res["queue_after"] = len(ctl.services.printers.pending())
        assert wait_for(lambda: receipts.jobs, 10), "the Z report never reached the printer"
        render_escpos(receipts.jobs[-1])          # renders whole, cut included
        res["printed"] = [" ".join(t.split()) for t in escpos_text(receipts.jobs[-1])]
        receipts.close()
        h.pump()
        h.screenshot(out / "till_z.png")
        res["z"] = {"status": till.status.text, "action": till.action.text, "rows": texts(till.report),
                    "server": store.shifts(ORG, "kiosk-1")[0]["report"]["difference_cents"]}
        # a receipt printer that takes the connection and never answers (jammed): "Close shift" returns at once,
        # frames keep coming while the Z report waits for its timeout, a second tap closes and prints nothing more
        from tests.desk_printer_off_scenario import BadPrinter, free_port
        jammed_port = free_port()
        jammed = BadPrinter(jammed_port, "hang")
        door.ledger.set_setting("printers", [{"host": "127.0.0.1", "port": jammed_port, "name": "Jammed",
                                              "language": "escpos"}])
        ctl.selected_printer = f"escpos:127.0.0.1:{jammed_port}"
        till.amount.text = "80"
        till.submit(wait=True)                       # a new shift (no print)
        till.amount.text = "80"
        started = time.perf_counter()
        till.submit()
        returned_ms = (time.perf_counter() - started) * 1000
        till.amount.text = "80"
        second = till.submit()
        frames, deadline, waiting = 0, time.monotonic() + 30, till.problem.text
        while till.printing and time.monotonic() < deadline:
            h.pump(1)
            frames += 1
            time.sleep(0.02)
        res["jammed"] = {"returned_ms": returned_ms, "done_ms": (time.perf_counter() - started) * 1000,
                         "frames": frames, "second": second, "waiting": waiting, "accepted": jammed.accepted,
                         "ok": till.printed.ok, "problem": till.problem.text, "button": not till.action.disabled,
                         "shifts": len(store.shifts(ORG, "kiosk-1")),
                         "queue": [p.kind for p in ctl.services.printers.pending()]}
        jammed.close()
        # at the ticket desk: e-tickets sent again; this server has no mail set up, and says so
        h.go("kiosk")
        desk_screen = h.screen("kiosk")
        desk_screen.order_number = cash.order_number
        res["email"] = {"message": desk_screen.send_etickets(wait=True),
                        "button": desk_screen.buttons["email"].text}
        # the server gone without the kiosk knowing yet: the open waits for its answer up to the desk's timeout
        # (5 s) off the UI thread, frames keep coming, and the operator is told
        from tests.sync_fixtures import stop_unannounced
        stop_unannounced(server)
        h.go("till")
        till.amount.text = "80"
        started = time.perf_counter()
        res["no_answer"] = {"first": till.submit()}
        returned_ms = (time.perf_counter() - started) * 1000
        frames, deadline = 0, time.monotonic() + 30
        while till.printing and time.monotonic() < deadline:
            h.pump(1)
            frames += 1
            time.sleep(0.02)
        res["no_answer"].update(returned_ms=returned_ms, done_ms=(time.perf_counter() - started) * 1000,
                                frames=frames, problem=till.problem.text, button=not till.action.disabled)
        kiosk.close()
        store.close()
    (out / "till_results.json").write_text(json.dumps(res, indent=1, ensure_ascii=False))
    return res


if __name__ == "__main__":
    run(main, Path(sys.argv[1]), sys.argv[2])
