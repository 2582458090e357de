"""A kiosk killed (kill -9: battery out, app killed by Android) after the sale was recorded, while its tickets were
going to the printer: after the restart the sale is there, counted once, its tickets are in the print queue (the one
being sent as a copy: it may have come out; the others as originals) and its receipt prints. Real mosquitto, the real
sync server and SQLite store, the kiosk in a child process killed with SIGKILL, raw TCP printers on 127.0.0.1."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
import pytest

from drivers.testkit.fake_printer import FakePrinter
from tests.broker import mosquitto_binary
from tests.desk_scenario import kiosk_side
from tests.helpers import wait_for
from tests.kiosk_desk_field import PRICE, prepare_kiosk
from tests.sync_fixtures import ORG, make_store, start_server

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")
BUYER = "Killian Midprint"

# the kiosk app's desk in its own process: online, two tickets sold in cash, printed on a Zebra that jams
KIOSK = """
import sys
from pathlib import Path
from kiosk_ui.services import Payment
from types import SimpleNamespace
sys.path.insert(0, sys.argv[1])
from tests.desk_scenario import kiosk_side
from tests.helpers import wait_for
folder, port, key, event, zebra, receipts = Path(sys.argv[2]), int(sys.argv[3]), bytes.fromhex(sys.argv[4]), \\
    int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
kiosk, door, ctl, desk = kiosk_side(folder, SimpleNamespace(server_public_key=lambda org: key), event, port)
door.ledger.set_setting("printers", [
    {"host": "127.0.0.1", "port": zebra, "name": "Zebra", "language": "zpl", "format": "show"},
    {"host": "127.0.0.1", "port": receipts, "name": "Receipts", "language": "escpos"}])
ctl.selected_printer = f"zpl:127.0.0.1:{zebra}"
assert wait_for(lambda: desk.online and desk.targets(), 30), "no catalogue from the server"
door.reload_names()
ctl.sale.choose(event)
ctl.sale.add(1, 2)
print("selling", flush=True)
ctl.sale.confirm(Payment("cash", given_cents=%d, buyer_name=%r))
print("sold and printed", flush=True)
""" % (2 * PRICE, BUYER)


def test_a_kiosk_killed_while_its_sale_prints_finds_the_tickets_to_print_and_the_receipt_after_restart(tmp_path,
                                                                                                       broker):
    store, event, _ = make_store(tmp_path / "server", tickets=0, devices=())
    prepare_kiosk(store, event)
    server = start_server(store, broker.port, limits=None)
    folder = tmp_path / "kiosk"
    try:
        with FakePrinter("zpl", mode="stall") as jammed, FakePrinter("escpos") as receipts:
            child = subprocess.Popen(
                [sys.executable, "-c", KIOSK, str(ROOT), str(folder), str(broker.port),
                 store.server_public_key(ORG).hex(), str(event), str(jammed.port), str(receipts.port)],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                assert wait_for(lambda: jammed.jobs or child.poll() is not None, 60), "the sale never printed"
                time.sleep(0.3)                       # the first ticket is on its way: the printer stopped reading
                assert child.poll() is None, child.communicate()
                os.kill(child.pid, signal.SIGKILL)
            finally:
                if child.poll() is None:
                    child.kill()
                out, err = child.communicate(timeout=20)
            assert "sold and printed" not in out, (out, err)
            assert jammed.jobs and not receipts.jobs         # killed mid-print: no receipt came out

        # the app starts again on the same device folder
        kiosk, door, ctl, desk = kiosk_side(folder, store, event, broker.port)
        try:
            orders = [o for o in door.search(BUYER) if o.get("buyer_name") == BUYER]
            order = orders[0]["order_number"]
            keys = [t["ticket_key"] for t in door.order(order)]
            assert len(keys) == 2
            # its trusted keys were kept with its ledger: it vouches for its tickets before the server says anything
            assert all(ctl.services.printers.payload(k) for k in keys)
            waiting = ctl.pending_prints()
            assert sorted(p.ticket_key for p in waiting) == sorted(keys)
            assert {p.order_number for p in waiting} == {order}
            # the first ticket may have come out before the kill: a copy; the second was never sent: an original
            assert [p.reprint for p in waiting] == [True, False]
            assert "may have come out" in waiting[0].message and "before sending" in waiting[1].message

            with FakePrinter("zpl") as zebra, FakePrinter("escpos") as receipt_printer:
                door.ledger.set_setting("printers", [
                    {"host": "127.0.0.1", "port": zebra.port, "name": "Zebra", "language": "zpl", "format": "show"},
                    {"host": "127.0.0.1", "port": receipt_printer.port, "name": "Receipts", "language": "escpos"}])
                results = ctl.retry_prints(printer_id=f"zpl:127.0.0.1:{zebra.port}")
                assert [r.ok for _, r in results] == [True, True] and not ctl.pending_prints()
                payloads = [ctl.services.printers.payload(p.ticket_key).encode() for p in waiting]
                jobs = [j for j in zebra.jobs if j]
                assert [p in jobs[0] for p in payloads] == [True, False] and b"REPRINT" in jobs[0]
                assert payloads[1] in jobs[1] and b"REPRINT" not in jobs[1]
                receipt = ctl.sale.print_receipt(order)
                assert receipt.ok, receipt.message
                assert wait_for(lambda: any(order.encode() in j for j in receipt_printer.jobs), 10)
        finally:
            kiosk.close()
        # the server counted the sale once, paid in cash
        sold = store.order(order)
        assert (sold["buyer_name"], sold["status"], sorted(t["ticket_key"] for t in sold["tickets"])) == \
            (BUYER, "paid", sorted(keys))
        assert next(q["sold"] for q in store.quotas(event) if q["scope"] == "event") == 2
    finally:
        server.stop()
        store.close()

