"""Desk benchmark: sale confirmed -> first ticket printed, online and offline, through the app's own code path
(kiosk_ui.desk_flow.DeskFlow.confirm: the desk service sells — online the server prices, reserves and signs over
a real mosquitto, offline the kiosk signs under its allotment — the sale is committed durably in the kiosk's
ledger, then the ticket is printed on a TCP printer on 127.0.0.1 with its status checked before and after).
Each sale is one ticket, so "printed" is the first (and only) ticket; the receipt comes after and is not counted.

    .venv/bin/python benchmarks/bench_desk.py [--sales 100] [--printer zpl|escpos]

Goal: p95 <= 1 s on loopback, both ways.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from figures import pct  # noqa: E402  (puts this checkout on sys.path)

from agent.policy import DevicePolicy  # noqa: E402
from agent.sync import BrokerConfig  # noqa: E402
from drivers.testkit.fake_printer import FakePrinter  # noqa: E402
from kiosk_ui.adapters import build_services  # noqa: E402
from kiosk_ui.adapters.desk import KioskDesk, SyncSaleLink  # noqa: E402
from kiosk_ui.controller import Controller  # noqa: E402
from kiosk_ui.door import Door  # noqa: E402
from kiosk_ui.services import Payment  # noqa: E402
from server_stub.store import SqliteStore  # noqa: E402
from server_stub.sync.broker_process import BrokerProcess  # noqa: E402
from server_stub.sync.sim_device import SimDevice  # noqa: E402
from server_stub.sync.server import SyncServer  # noqa: E402
from agent.sync.transport import PahoTransport  # noqa: E402

ORG = "bench"


def wait(check, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.02)
    return False


def sales(ctl: Controller, event: int, n: int) -> tuple[list[float], int, int]:
    """n one-ticket sales: (confirmed -> printed, ms), failures, how many were sold offline."""
    times, failures, offline = [], 0, 0
    for _ in range(n):
        ctl.sale.choose(event)
        ctl.sale.add(1)
        outcome = ctl.sale.confirm(Payment("card", reference="TX-1"))
        ok = outcome.result.ok and outcome.tickets is not None and outcome.tickets.ok
        failures += not ok
        offline += outcome.result.offline
        if ok:
            times.append(outcome.first_ticket_ms)
    return times, failures, offline


def line(label: str, times: list[float], failures: int, offline: int) -> None:
    if not times:
        print(f"  {label:<34} no sale printed ({failures} failures)")
        return
    print(f"  {label:<34} n={len(times)} p50 {pct(times, 50):6.1f} ms  p95 {pct(times, 95):6.1f} ms  "
          f"max {max(times):6.1f} ms  goal p95 1000 ms  failures {failures}  sold offline {offline}")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--sales", type=int, default=100)
    p.add_argument("--printer", choices=("zpl", "escpos"), default="zpl")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-desk-"))
    with BrokerProcess(work / "mosquitto") as broker, FakePrinter(args.printer) as printer, \
            FakePrinter("escpos") as receipts:
        store = SqliteStore.open(work / "server")
        store.create_organiser(ORG, "Bench")
        now = time.time()
        event = store.create_event(ORG, "Bench night", now - 3600, now + 6 * 3600, "Europe/Paris",
                                   categories=[{"category_id": 1, "name": "Standard"}])
        store.set_price(ORG, event, 1, 2500)
        store.set_quota(ORG, event, 10 * args.sales + 100)
        store.current_key(ORG)
        store.register_device(ORG, "kiosk-1", events=[event], role="kiosk")
        store.set_allotment_size(ORG, "kiosk-1", [event], 2 * args.sales + 10, hours=4)
        server = SyncServer(store, PahoTransport("bench-server", BrokerConfig(port=broker.port)), name="bench-server",
                            orgs=[ORG], limits=None).start()
        kiosk = SimDevice(work / "kiosk", ORG, "kiosk-1", store.server_public_key(ORG), BrokerConfig(port=broker.port),
                          [event], role="kiosk").go_online()
        door = Door(kiosk.ledger, kiosk.keyring, DevicePolicy(device_id="kiosk-1", gate="Desk", events=frozenset({event})))
        ctl = Controller(door, build_services(door, work / "kiosk"))
        ctl.services.desk = desk = KioskDesk(door, work / "kiosk", SyncSaleLink(kiosk), timeout=3.0, org=ORG)
        door.ledger.set_setting("printers", [
            {"host": "127.0.0.1", "port": printer.port, "name": "Tickets", "language": args.printer},
            {"host": "127.0.0.1", "port": receipts.port, "name": "Receipts", "language": "escpos"}])
        ctl.selected_printer = f"{args.printer}:127.0.0.1:{printer.port}"
        stopped = False
        try:
            if not wait(lambda: desk.online and desk.targets(), 30):
                print("no catalogue from the server")
                return 1
            door.reload_names()
            problem = desk.refill()
            if problem:
                print(f"no allotment: {problem}")
                return 1
            sales(ctl, event, 3)                                    # warm-up: imports, fonts, first connections
            print(f"{args.sales} one-ticket sales each way, {args.printer} ticket printer on 127.0.0.1:")
            line("online (server answers over MQTT)", *sales(ctl, event, args.sales))
            server.stop()                       # its presence says offline: the kiosk does not wait for an answer
            stopped = True
            if not wait(lambda: not desk.online, 10):
                print("the kiosk never saw the server's presence say offline")
                return 1
            line("server stopped (presence offline)", *sales(ctl, event, args.sales))
            kiosk.go_offline()
            line("offline (signed under the allotment)", *sales(ctl, event, args.sales))
        finally:
            kiosk.close()
            if not stopped:
                server.stop()
            store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
