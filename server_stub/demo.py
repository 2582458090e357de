"""`ticketgate demo`: the whole door on this machine, end to end, in a temporary folder.

A server stub (SQLite store, signing keys), a mosquitto it starts itself on a free loopback port
(server_stub.sync.broker_process; or --broker HOST:PORT), two simulated devices at two gates. Tickets
are pushed in a signed bundle, scanned at both gates, a cancellation is pushed and refused within a
second, a double entry is caught across gates, an offline gate merges later and its conflict is
reported, and the organiser's stats are printed.
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

from agent.agent_cli import human

ORG = "demo"


def _wait(predicate, timeout: float = 10.0) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.005)
    return None


def _ms(seconds: float | None) -> str:
    return "not within 10 s" if seconds is None else f"{seconds * 1000:.0f} ms"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ticketgate demo", description=__doc__.splitlines()[0])
    p.add_argument("--broker", help="use this MQTT broker (HOST:PORT) instead of starting a mosquitto")
    p.add_argument("--tickets", type=int, default=200, help="tickets sold for the demo event")
    p.add_argument("--keep", type=Path, help="keep the demo's data in this folder")
    args = p.parse_args(argv or [])
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    from server_stub.sync.broker_process import BrokerMissing
    try:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            return run(args.keep, args)
        with tempfile.TemporaryDirectory(prefix="ticketgate-demo-") as tmp:
            return run(Path(tmp), args)
    except BrokerMissing as exc:
        print(f"ticketgate demo: {exc}", file=sys.stderr)
        return 1


def run(folder: Path, args) -> int:
    from server_stub.store import SqliteStore
    from server_stub.sync.broker_process import BrokerProcess
    from server_stub.sync.cli_hooks import broker_config, push
    from server_stub.sync.server import SyncServer
    from server_stub.sync.sim_device import SimDevice
    from agent.sync.transport import PahoTransport

    broker_proc = None
    if args.broker:
        config = broker_config(args.broker)
    else:
        broker_proc = BrokerProcess(folder / "mosquitto").start()
        config = broker_config(f"127.0.0.1:{broker_proc.port}")
        print(f"broker     mosquitto started on 127.0.0.1:{broker_proc.port} (pid {broker_proc.proc.pid})")
    store = SqliteStore.open(folder / "server")
    devices: list[SimDevice] = []
    server = None
    try:
        store.create_organiser(ORG, "Demo Festival")
        now = time.time()
        event = store.create_event(ORG, "Opening night", now - 1800, now + 5 * 3600, "Europe/Paris",
                                   zones=[{"zone_id": 1, "name": "Floor"}, {"zone_id": 2, "name": "Balcony"}],
                                   categories=[{"category_id": 1, "name": "Standard"}, {"category_id": 2, "name": "VIP"}])
        names = ["Hélène Dupont", "Bob Martin", "Chloé Durand", "Ahmed Benali", "Sofia Rossi", "Jan Kowalski"]
        orders = [store.add_order(ORG, event, f"{names[i % len(names)]} {i // len(names) or ''}".strip(),
                                  f"buyer{i}@example.org", positions=[{"category": 1 + (i % 7 == 0), "zone": 1}])
                  for i in range(max(args.tickets, 12))]
        store.current_key(ORG)
        for name, gate, role in (("tablet-north", "north", "door"), ("tablet-south", "south", "door"),
                                 ("kiosk-desk", "desk", "kiosk")):
            store.register_device(ORG, name, gate=gate, events=[event], role=role)
        server_key = store.server_public_key(ORG)
        print(f"server     organiser {ORG!r}, event {event} 'Opening night', {len(orders)} orders; "
              f"server key {store.server_key(ORG).fingerprint}")
        server = SyncServer(store, PahoTransport("server-1", config), name="server-1", orgs=[ORG]).start()
        north, south = (SimDevice(folder / n, ORG, n, server_key, config, [event], gate=g)
                        for n, g in (("tablet-north", "north"), ("tablet-south", "south")))
        kiosk = SimDevice(folder / "kiosk-desk", ORG, "kiosk-desk", server_key, config, [event], gate="desk",
                          role="kiosk")
        devices += [north, south, kiosk]
        for d in devices:
            d.go_online()
        took = _wait(lambda: all(d.ready(len(orders)) for d in devices), 20)
        if took is None:
            print("devices did not receive their bundle:", [list(d.sync.rejections) for d in devices], file=sys.stderr)
            return 1
        print(f"devices    tablet-north, tablet-south and kiosk-desk online: signed bundle v{north.sync.bundle_version} "
              f"({len(orders)} tickets) verified and applied in {_ms(took)}")
        more = [store.add_order(ORG, event, f"Late buyer {i}", positions=[{"category": 1, "zone": 2}]) for i in range(20)]
        started = time.monotonic()
        result = push(store, ORG, [event], config)
        took = _wait(lambda: all(d.sync.bundle_version >= result["version"] for d in devices))
        took = None if took is None else time.monotonic() - started
        print(f"push       20 more orders sold; `server push`: bundle v{result['version']}, {result['tickets']} tickets "
              f"to {result['devices']} devices ({result['bytes'] // 1024} KiB compressed), applied in {_ms(took)}")
        orders += more
        pay = lambda i: store.issue_ticket_payload(orders[i]["tickets"][0]["ticket_key"])  # noqa: E731
        key = lambda i: orders[i]["tickets"][0]["ticket_key"]  # noqa: E731

        print("\n-- scanning at both gates")
        for i, d in ((0, north), (1, south), (2, north), (3, south)):
            print(f"{d.device_id:<13} {human(d.scan(pay(i)))}")
        print(f"search 'helene' on tablet-south: {[r['buyer_name'] for r in south.ledger.search('helene')][:3]}")

        print("\n-- the same ticket at the other gate (cross-gate dedupe)")
        print(f"tablet-north  {human(north.scan(pay(4)))}")
        took = _wait(lambda: bool(south.ledger.history(key(4)).entries))
        print(f"relayed to tablet-south in {_ms(took)}")
        print(f"tablet-south  {human(south.scan(pay(4)))}")

        print("\n-- cancellation at the box office, pushed live")
        order = orders[5]
        store.cancel_order(order["number"], "cancelled by the buyer")
        took = _wait(lambda: bool(north.ledger.history(key(5)).revoked and south.ledger.history(key(5)).revoked))
        print(f"order {order['number']} cancelled; both devices know in {_ms(took)}")
        print(f"tablet-south  {human(south.scan(pay(5)))}")

        print("\n-- the kiosk (role kiosk): printable copies, an exchange")
        held = lambda d: d.ledger.payload_count()  # noqa: E731
        print(f"kiosk-desk holds {held(kiosk)} signed QR payloads to print; tablet-north {held(north)} (doors never)")
        from kiosk_ui.door import Door
        Door(kiosk.ledger, kiosk.keyring, kiosk.gate.policy).exchange(key(7), "wrong day bought")
        kiosk.sync.notify()
        started = time.monotonic()
        replaced = lambda: [t for t in store.order(orders[7]["number"])["tickets"] if not t["revoked"]]  # noqa: E731
        took = _wait(lambda: bool(replaced()) and all(d.ledger.history(key(7)).revoked for d in (north, south))
                     and bool((kiosk.ledger.ticket(replaced()[0]["ticket_key"]) or {}).get("payload")), 15)
        took = None if took is None else time.monotonic() - started
        new = replaced()[0]["ticket_key"] if replaced() else None
        print(f"ticket {key(7)} exchanged at the kiosk; the server issued {new}, printable at the kiosk and the old "
              f"one revoked at the doors in {_ms(took)}")
        print(f"tablet-north  {human(north.scan(pay(7)))}")
        if new:
            print(f"tablet-north  {human(north.scan(store.issue_ticket_payload(new)))}")

        print("\n-- tablet-south loses the network; the same ticket is shown at both gates")
        south.go_offline()
        print(f"tablet-north  {human(north.scan(pay(6)))}")
        print(f"tablet-south  {human(south.scan(pay(6)))}   (offline: it cannot know)")
        print(f"tablet-south outbox waiting: {south.ledger.outbox_size()} message(s)")
        south.go_online()
        took = _wait(lambda: south.ledger.outbox_size() == 0 and bool(store.conflicts(ORG)), 15)
        print(f"back online: outbox uploaded and merged in {_ms(took)}")
        for c in store.conflicts(ORG):
            who = "; ".join(f"{a['device_id']} at {a['gate']} {time.strftime('%H:%M:%S', time.localtime(a['server_at']))}"
                            for a in c["admissions"])
            print(f"CONFLICT   ticket {c['ticket_key']} (order {c.get('order_number')}, {c.get('buyer_name')}) "
                  f"admitted twice: {who}")

        _wait(lambda: north.ledger.outbox_size() == 0 and south.ledger.outbox_size() == 0)
        stats = store.stats(ORG, event)
        print("\n-- stats")
        print(f"entries {stats['entries']}, inside now {stats['inside_now']}, per gate {stats['entries_per_gate']}, "
              f"double entries {stats['double_entries']}, refusals {stats['refusals']}")
        rejected = [r for d in devices if d.sync for r in d.sync.rejections] + list(server.rejections)
        print(f"messages refused by anyone: {len(rejected)}" + "".join(f"\n  {t}: {r}" for t, r in rejected))
        return 0
    finally:
        for d in devices:
            d.close()
        if server:
            server.stop()
        store.close()
        if broker_proc:
            broker_proc.stop()
