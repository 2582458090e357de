"""`ticketgate demo`: a whole evening at the door, on this machine, told to an organiser in French or English.

A server with an organiser, an event and its orders, a private message server (mosquitto on a free loopback port,
or --broker HOST:PORT), two door devices at two gates and a ticket desk. Tickets are scanned at both gates, a ticket
shown at the second gate is refused, an order cancelled at the box office is refused within a second, the desk
exchanges a ticket, a gate works offline and the double entry it could not see is reported when it comes back;
then tonight's figures and what to try next.

Organiser-side code only: the devices are the core agent's classes (server_stub.sync.sim_device), the desk's
exchange is agent.desk, the verdict words are the app's (agent.verdict_words).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Mapping
from zoneinfo import ZoneInfo

from agent.verdict_words import verdict_title
from agent.cli_parser import Parser

ORG = "demo"
TIMEZONE = "Europe/Paris"

# The demo's own sentences (the verdict words come from agent.verdict_words, shared with the app).
FR = {
    "ticketgate demo: a whole evening at the door, on this machine": "ticketgate demo : une soirée entière à l'entrée, sur cette machine",
    "Organiser “Demo Festival”: event “{event}” on {when}, zones Floor and Balcony, Standard and VIP tickets, {n} orders.":
        "Organisateur « Demo Festival » : événement « {event} » le {when}, zones Fosse et Balcon, billets Standard et VIP, {n} commandes.",
    "Two door devices (North gate, South gate) and a ticket desk receive the tickets: ready in {t}.":
        "Deux appareils de contrôle (porte Nord, porte Sud) et un guichet reçoivent les billets : prêts en {t}.",
    "{n} more orders sold: every device has them {t} later.": "{n} commandes de plus vendues : tous les appareils les ont {t} plus tard.",
    "Scanning at both gates": "Contrôle aux deux portes",
    "Searching “{q}” at the South gate finds: {names}": "Recherche « {q} » à la porte Sud : {names}",
    "The same ticket shown at the other gate": "Le même billet présenté à l'autre porte",
    "(the South gate knows {t} later)": "(la porte Sud le sait {t} plus tard)",
    "first used at {when}, {gate}": "première entrée à {when}, {gate}",
    "An order cancelled at the box office": "Une commande annulée à la billetterie",
    "Order {number} ({buyer}) cancelled: both gates know {t} later.":
        "Commande {number} ({buyer}) annulée : les deux portes le savent {t} plus tard.",
    "The ticket desk exchanges a ticket": "Le guichet échange un billet",
    "The desk holds {n} printable tickets; door devices hold none.":
        "Le guichet détient {n} billets imprimables ; les appareils de contrôle aucun.",
    "{buyer}'s ticket exchanged (“wrong day bought”): the new one is printable at the desk and the old one refused at the doors {t} later.":
        "Billet de {buyer} échangé (« mauvais jour acheté ») : le nouveau est imprimable au guichet et l'ancien refusé aux portes {t} plus tard.",
    "old ticket": "ancien billet", "new ticket": "nouveau billet",
    "The South gate loses the network": "La porte Sud perd le réseau",
    "(offline: it cannot know yet)": "(hors ligne : elle ne peut pas encore le savoir)",
    "{n} scans wait on the South gate until the network is back.": "{n} contrôles attendent sur la porte Sud le retour du réseau.",
    "1 scan waits on the South gate until the network is back.": "1 contrôle attend sur la porte Sud le retour du réseau.",
    "Back online: everything sent and counted {t} later.": "De retour en ligne : tout est envoyé et compté {t} plus tard.",
    "Double entry: {buyer} (order {number}) let in twice: {where}.": "Double entrée : {buyer} (commande {number}) entré(e) deux fois : {where}.",
    "Tonight so far": "La soirée jusqu'ici",
    "Entries {entries} · inside now {inside} · refused at the door {refused} · double entries {doubles}":
        "Entrées {entries} · présents {inside} · refusés à l'entrée {refused} · doubles entrées {doubles}",
    "Entries per gate: {gates}": "Entrées par porte : {gates}",
    "Nothing lost: every scan and every sale reached the server.": "Rien de perdu : chaque contrôle et chaque vente est arrivé au serveur.",
    "{n} messages were refused:": "{n} messages ont été refusés :",
    "What to try next": "À essayer ensuite",
    "Open the app on a demo device:": "Ouvrir l'application sur un appareil de démonstration :",
    "Open the app on this demo's North gate:": "Ouvrir l'application sur la porte Nord de cette démo :",
    "Keep this demo's data, then open the app on its North gate:": "Garder les données de cette démo, puis ouvrir l'application sur sa porte Nord :",
    "This demo's figures as the organiser sees them:": "Les chiffres de cette démo vus par l'organisateur :",
    "The guides for each role:": "Les guides de chaque rôle :",
    "North gate": "porte Nord", "South gate": "porte Sud", "Ticket desk": "guichet",
    "not within 10 s": "pas en moins de 10 s",
}
GATES = {"north": "North gate", "south": "South gate", "desk": "Ticket desk"}


class Teller:
    """Says the demo's sentences in the chosen language, with times in the event's time zone."""

    def __init__(self, lang: str):
        self.lang = lang

    def __call__(self, text: str, **fmt) -> str:
        out = FR.get(text, text) if self.lang == "fr" else text
        return out.format(**fmt) if fmt else out

    def gate(self, gate: str) -> str:
        return self(GATES.get(gate, gate))

    def clock(self, ts: float) -> str:
        return datetime.fromtimestamp(ts, ZoneInfo(TIMEZONE)).strftime("%H:%M")

    def day(self, ts: float) -> str:
        return datetime.fromtimestamp(ts, ZoneInfo(TIMEZONE)).strftime("%d/%m/%Y %H:%M")

    def took(self, seconds: float | None) -> str:
        return self("not within 10 s") if seconds is None else f"{seconds * 1000:.0f} ms"

    def verdict(self, gate: str, buyer: str, v, note: str = "") -> str:
        line = f"  {self.gate(gate):<12} {buyer:<30} {verdict_title(v, self.lang)}"
        if v.first_use is not None and not v.accepted:
            line += " — " + self("first used at {when}, {gate}", when=self.clock(v.first_use.at),
                                 gate=self.gate(v.first_use.gate))
        return line + (f"  {note}" if note else "")


FIRST = ("Hélène", "Bob", "Chloé", "Ahmed", "Sofia", "Jan", "Lucie", "Karim", "Emma", "Léo", "Inès", "Tom", "Camille",
         "Yanis", "Julia", "Hugo", "Sarah", "Noah", "Zoé", "Malik")
LAST = ("Dupont", "Martin", "Durand", "Benali", "Rossi", "Kowalski", "Moreau", "Haddad", "Petit", "Lambert", "Nguyen",
        "Garcia", "Roux", "Fontaine", "Meyer", "Girard", "Diallo", "Blanc", "Lopez", "Schmitt")


def buyer_name(i: int) -> str:
    """A different first and last name for each of the first 400 orders."""
    n = len(FIRST)
    name = f"{FIRST[i % n]} {LAST[(i % n + i // n) % n]}"
    return name if i < n * n else f"{name} {i // (n * n) + 1}"


def _wait(predicate, timeout: float = 10.0) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.005)
    return None


def default_language(env: Mapping[str, str] | None = None) -> str:
    environ = os.environ if env is None else env
    for var in ("TICKETGATE_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        if environ.get(var):
            return "fr" if environ[var].lower().startswith("fr") else "en"
    return "en"


def main(argv: list[str] | None = None) -> int:
    p = Parser(prog="ticketgate demo", description=__doc__.splitlines()[0])
    p.add_argument("--lang", choices=("fr", "en"), help="language of the story (default: this machine's)")
    p.add_argument("--broker", help="use this MQTT broker (HOST:PORT) instead of starting a mosquitto")
    p.add_argument("--tickets", type=int, default=200, help="tickets sold for the demo event")
    p.add_argument("--keep", type=Path, help="keep the demo's data in this folder (then open the app on it)")
    args = p.parse_args(argv or [])
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    say = Teller(args.lang or default_language())
    from agent.private_files import private_dir
    from server_stub.sync.broker_process import BrokerMissing
    try:
        if args.keep:
            private_dir(args.keep)        # the server's database and keys, the devices' ledgers
            return run(args.keep.resolve(), args, say)
        with tempfile.TemporaryDirectory(prefix="ticketgate-demo-") as tmp:
            return run(Path(tmp), args, say)
    except BrokerMissing as exc:
        print(f"ticketgate demo: {exc}", file=sys.stderr)
        return 1


def run(folder: Path, args, say: Teller) -> int:
    from agent import desk
    from agent.sync.transport import PahoTransport
    from server_stub.store import SqliteStore
    from server_stub.sync.broker_process import BrokerProcess
    from server_stub.sync.cli_hooks import broker_config, push
    from server_stub.sync.server import SyncServer
    from server_stub.sync.sim_device import SimDevice

    broker_proc = None
    if args.broker:
        config = broker_config(args.broker)
    else:
        broker_proc = BrokerProcess(folder / "mosquitto").start()
        config = broker_config(f"127.0.0.1:{broker_proc.port}")
    store = SqliteStore.open(folder / "server")
    devices: list[SimDevice] = []
    server = None
    try:
        print(say("ticketgate demo: a whole evening at the door, on this machine"))
        print()
        store.create_organiser(ORG, "Demo Festival")
        now = time.time()
        name = "Opening night" if say.lang == "en" else "Soirée d'ouverture"
        floor, balcony = ("Floor", "Balcony") if say.lang == "en" else ("Fosse", "Balcon")
        event = store.create_event(ORG, name, now - 1800, now + 5 * 3600, TIMEZONE,
                                   zones=[{"zone_id": 1, "name": floor}, {"zone_id": 2, "name": balcony}],
                                   categories=[{"category_id": 1, "name": "Standard"}, {"category_id": 2, "name": "VIP"}],
                                   language=say.lang)
        orders = [store.add_order(ORG, event, buyer_name(i), f"buyer{i}@example.org",
                                  positions=[{"category": 1 + (i % 7 == 0), "zone": 1}])
                  for i in range(max(args.tickets, 12))]
        store.current_key(ORG)
        for device, gate, role in (("tablet-north", "north", "door"), ("tablet-south", "south", "door"),
                                   ("kiosk-desk", "desk", "kiosk")):
            store.register_device(ORG, device, gate=gate, events=[event], role=role)
        server_key = store.server_public_key(ORG)
        print(say("Organiser “Demo Festival”: event “{event}” on {when}, zones Floor and Balcony, "
                  "Standard and VIP tickets, {n} orders.", event=name, when=say.day(now - 1800), n=len(orders)))
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
            print("devices did not receive their tickets:", [list(d.online_sync.rejections) for d in devices], file=sys.stderr)
            return 1
        print(say("Two door devices (North gate, South gate) and a ticket desk receive the tickets: ready in {t}.",
                  t=say.took(took)))
        more = [store.add_order(ORG, event, buyer_name(len(orders) + i), positions=[{"category": 1, "zone": 2}])
                for i in range(20)]
        started = time.monotonic()
        result = push(store, ORG, [event], config)
        took = _wait(lambda: all(d.online_sync.bundle_version >= result["version"] for d in devices))
        took = None if took is None else time.monotonic() - started
        print(say("{n} more orders sold: every device has them {t} later.", n=len(more), t=say.took(took)))
        orders += more
        pay = lambda i: store.issue_ticket_payload(orders[i]["tickets"][0]["ticket_key"])  # noqa: E731
        key = lambda i: orders[i]["tickets"][0]["ticket_key"]  # noqa: E731
        buyer = lambda i: orders[i]["buyer_name"]  # noqa: E731

        print("\n" + say("Scanning at both gates"))
        for i, d, gate in ((0, north, "north"), (1, south, "south"), (2, north, "north"), (3, south, "south")):
            print(say.verdict(gate, buyer(i), d.scan(pay(i))))
        found = [r["buyer_name"] for r in south.ledger.search("helene")][:3]
        print(say("Searching “{q}” at the South gate finds: {names}", q="helene", names=", ".join(found)))

        print("\n" + say("The same ticket shown at the other gate"))
        print(say.verdict("north", buyer(4), north.scan(pay(4))))
        took = _wait(lambda: bool(south.ledger.history(key(4)).entries))
        print("  " + say("(the South gate knows {t} later)", t=say.took(took)))
        print(say.verdict("south", buyer(4), south.scan(pay(4))))

        print("\n" + say("An order cancelled at the box office"))
        order = orders[5]
        store.cancel_order(order["number"], "cancelled by the buyer")
        took = _wait(lambda: bool(north.ledger.history(key(5)).revoked and south.ledger.history(key(5)).revoked))
        print("  " + say("Order {number} ({buyer}) cancelled: both gates know {t} later.", number=order["number"],
                         buyer=buyer(5), t=say.took(took)))
        print(say.verdict("south", buyer(5), south.scan(pay(5))))

        print("\n" + say("The ticket desk exchanges a ticket"))
        print("  " + say("The desk holds {n} printable tickets; door devices hold none.",
                         n=kiosk.ledger.payload_count()))
        desk.exchange(kiosk.ledger, key(7), "wrong day bought", kiosk.device_id)
        kiosk.online_sync.notify()
        started = time.monotonic()
        replaced = lambda: [t for t in store.order(orders[7]["number"])["tickets"] if not t["revoked"]]  # noqa: E731
        took = _wait(lambda: bool(replaced()) and all(d.ledger.history(key(7)).revoked for d in (north, south))
                     and bool((kiosk.ledger.ticket(replaced()[0]["ticket_key"]) or {}).get("payload")), 15)
        took = None if took is None else time.monotonic() - started
        print("  " + say("{buyer}'s ticket exchanged (“wrong day bought”): the new one is printable at the desk and "
                         "the old one refused at the doors {t} later.", buyer=buyer(7), t=say.took(took)))
        print(say.verdict("north", f"{buyer(7)} ({say('old ticket')})", north.scan(pay(7))))
        if replaced():
            new_payload = store.issue_ticket_payload(replaced()[0]["ticket_key"])
            print(say.verdict("north", f"{buyer(7)} ({say('new ticket')})", north.scan(new_payload)))

        print("\n" + say("The South gate loses the network"))
        south.go_offline()
        print(say.verdict("north", buyer(6), north.scan(pay(6))))
        print(say.verdict("south", buyer(6), south.scan(pay(6)), say("(offline: it cannot know yet)")))
        waiting = south.ledger.outbox_size()
        print("  " + (say("1 scan waits on the South gate until the network is back.") if waiting == 1 else
                      say("{n} scans wait on the South gate until the network is back.", n=waiting)))
        south.go_online()
        took = _wait(lambda: south.ledger.outbox_size() == 0 and bool(store.conflicts(ORG)), 15)
        print("  " + say("Back online: everything sent and counted {t} later.", t=say.took(took)))
        for c in (c for c in store.conflicts(ORG) if c["admissions"]):      # (not an offline exchange's price)
            where = "; ".join(f"{say.gate(a['gate'])} {say.clock(a['server_at'])}" for a in c["admissions"])
            print("  " + say("Double entry: {buyer} (order {number}) let in twice: {where}.",
                             buyer=c.get("buyer_name") or "?", number=c.get("order_number") or "?", where=where))

        _wait(lambda: all(d.ledger.outbox_size() == 0 for d in devices))
        stats = store.stats(ORG, event)
        print("\n" + say("Tonight so far"))
        print("  " + say("Entries {entries} · inside now {inside} · refused at the door {refused} · double entries {doubles}",
                         entries=stats["entries"], inside=sum(stats["inside_now"].values()),
                         refused=sum(stats["refusals"].values()), doubles=stats["double_entries"]["conflicts"]))
        print("  " + say("Entries per gate: {gates}",
                         gates=" · ".join(f"{say.gate(g)} {n}" for g, n in stats["entries_per_gate"].items())))
        rejected = [r for d in devices if d.sync for r in d.sync.rejections] + list(server.rejections)
        if rejected:
            print("  " + say("{n} messages were refused:", n=len(rejected)))
            for what, reason in rejected:
                print(f"    {what}: {reason}")
        else:
            print("  " + say("Nothing lost: every scan and every sale reached the server."))
        if args.keep:                    # the app opened on a kept gate verifies tickets as that gate did
            for d in devices:
                d.keep()
        next_steps(say, folder if args.keep else None)
        return 0
    finally:
        for d in devices:
            d.close()
        if server:
            server.stop()
        store.close()
        if broker_proc:
            broker_proc.stop()


def command() -> str:
    """How this machine runs `ticketgate`: the project's .venv/bin/ticketgate when run from it, else the name."""
    here = Path(sys.executable).parent / "ticketgate"
    try:
        return str(here.relative_to(Path.cwd())) if here.exists() else "ticketgate"
    except ValueError:
        return str(here) if here.exists() else "ticketgate"


def next_steps(say: Teller, kept: Path | None) -> None:
    tg, lang = command(), say.lang
    print("\n" + say("What to try next"))
    print("  " + say("Open the app on a demo device:"))
    print(f"    {tg} kiosk --demo --lang {lang}")
    if kept is None:
        print("  " + say("Keep this demo's data, then open the app on its North gate:"))
        print(f"    {tg} demo --lang {lang} --keep ticketgate-demo")
        print(f"    {tg} kiosk --home ticketgate-demo/tablet-north --lang {lang}")
    else:
        print("  " + say("Open the app on this demo's North gate:"))
        print(f"    {tg} kiosk --home {kept / 'tablet-north'} --lang {lang}")
        print("  " + say("This demo's figures as the organiser sees them:"))
        print(f"    {tg} server stats --data {kept / 'server'} --org {ORG}")
    print("  " + say("The guides for each role:") + f" docs/guides/{lang}/")
