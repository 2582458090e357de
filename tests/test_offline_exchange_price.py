"""An exchange recorded offline settles no money (`ticketgate agent exchange --category N` with no server: the
kiosk queues it, the server re-issues the ticket when it arrives). Walked through the public commands (`server
init`, `provision serve`, `server serve`, a kiosk enrolled and synced; real mosquitto and SQLite). Each test fails
on the defect it names."""
from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from agent.sync import topics
from agent.sync.messages import Batch, Exchange, SaleLine, SaleRequest
from tests.broker import mosquitto_binary
from tests.helpers import wait_for
from tests.test_attack_kiosk_rollback import Desk, StolenDesk, _order, tonight
from tests.qa_organiser import tg
from tests.test_qa_attacks import enroll, serving

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")

PRICE = {1: 2000, 2: 2500, 3: 2000}          # cents: Adult, VIP, Student (the same as Adult); Crew (4): no price


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    org, kiosk = tmp_path / "org", tmp_path / "kiosk"
    for home in (org, kiosk):
        home.mkdir()
    tonight(org, ("1=Adult", "2=VIP", "3=Student", "4=Crew"), PRICE)
    serve_log = tmp_path / "serve.log"
    with serving(org, serve_log) as http_port:
        enroll(org, kiosk, "desk", http_port, "kiosk")
        yield Desk(org, kiosk, kiosk, serve_log)


@pytest.fixture
def unpriced(tmp_path: Path) -> Iterator[Desk]:
    """An enrolled kiosk of an event the organiser set no price for, its server serving."""
    org, kiosk = tmp_path / "org", tmp_path / "kiosk"
    for home in (org, kiosk):
        home.mkdir()
    tonight(org, ("1=Adult", "2=VIP"), {})
    serve_log = tmp_path / "serve.log"
    with serving(org, serve_log) as http_port:
        enroll(org, kiosk, "desk", http_port, "kiosk")
        yield Desk(org, kiosk, kiosk, serve_log)


def _unsettled(org: Path) -> list[dict]:
    return [c for c in json.loads(tg(org, "server", "conflicts", "--json").stdout)
            if c.get("kind") == "exchange_difference"]


def _sales(org: Path) -> dict:
    report = json.loads(tg(org, "server", "report", "sales", "--json").stdout)
    return {k: v for k, v in report.items() if k not in ("generated_at", "at")}


def _till(org: Path, opened: dict) -> dict:
    """The open shift's X report (`server till z-report`), without when it was made."""
    shift = opened.get("shift_id") or opened.get("id")
    report = json.loads(tg(org, "server", "till", "z-report", str(shift), "--json").stdout)
    return {k: v for k, v in report.items() if k not in ("generated_at", "at", "printed_at")}


def test_an_offline_exchange_to_another_price_is_refused_on_the_kiosk(desk):
    """`agent exchange KEY --category 2` on a kiosk (Adult 20.00 -> VIP 25.00) queued the exchange; the server
    re-issued a VIP ticket when it arrived, 5.00 never collected (a downgrade: owed to the buyer, recorded nowhere).
    Now the kiosk refuses it, saying the difference and that it needs the server, and records nothing; a category at
    the same price (Student 20.00) is still exchanged offline; a category with no price on the kiosk is refused,
    saying the organiser set none."""
    ann, bob = _order(desk.org, "Ann Upgrade"), _order(desk.org, "Bob Student")
    ann_ticket, bob_ticket = ann["tickets"][0]["ticket_key"], bob["tickets"][0]["ticket_key"]
    tg(desk.org, "server", "push")
    tg(desk.kiosk, "agent", "sync", "--until-idle", "--for", "60")
    upgrade = tg(desk.kiosk, "agent", "exchange", ann_ticket, "--reason", "upgrade", "--category", "2", ok=False)
    assert upgrade.returncode == 1, upgrade
    assert "the price differs by 5.00 EUR: `agent exchange` takes only a category at the same price" in upgrade.stderr, \
        upgrade.stderr
    crew = tg(desk.kiosk, "agent", "exchange", ann_ticket, "--reason", "staff", "--category", "4", ok=False)
    assert crew.returncode == 1 and "the organiser has set no price for category 4 of event 1" in crew.stderr, \
        crew.stderr
    assert json.loads(tg(desk.kiosk, "agent", "status", "--json").stdout)["counts"]["outbox_pending"] == 0
    tg(desk.kiosk, "agent", "exchange", bob_ticket, "--reason", "student card", "--category", "3")
    tg(desk.kiosk, "agent", "sync", "--until-idle", "--for", "60")

    def categories(number: str) -> list[tuple[int, bool]]:
        shown = json.loads(tg(desk.org, "server", "order", "show", number, "--json").stdout)["tickets"]
        return [(t["category"], t["revoked"] is False) for t in shown]
    assert wait_for(lambda: categories(bob["number"]) == [(1, False), (3, True)], 30), categories(bob["number"])
    assert categories(ann["number"]) == [(1, True)]
    assert _unsettled(desk.org) == []              # the same price: nothing owed


def test_an_exchange_on_an_event_with_no_price_says_the_organiser_set_none(unpriced):
    """`agent exchange KEY --category 2` on a synced kiosk, the event having no price at all: it said "holds no
    price … try again when online", while it was online and the server had no price either. Now it says the
    organiser set no price for that category and the command that sets one; nothing queued."""
    ticket = _order(unpriced.org, "Ann Martin")["tickets"][0]["ticket_key"]
    tg(unpriced.org, "server", "push")
    tg(unpriced.kiosk, "agent", "sync", "--until-idle", "--for", "60")
    said = tg(unpriced.kiosk, "agent", "exchange", ticket, "--reason", "upgrade", "--category", "2", ok=False)
    assert said.returncode == 1, said
    assert ("the organiser has set no price for category 2 of event 1" in said.stderr
            and "ticketgate server price set 1 --category 2 --cents N" in said.stderr
            and "try again when online" not in said.stderr), said.stderr
    assert json.loads(tg(unpriced.kiosk, "agent", "status", "--json").stdout)["counts"]["outbox_pending"] == 0


def test_an_offline_exchange_arriving_with_a_price_difference_is_listed_not_counted(desk):
    """An upgrade to VIP (+5.00) and a downgrade from VIP to Student (-5.00) uploaded as a kiosk's offline records (an
    older kiosk, or its broker login in a thief's hands): the server re-issued both tickets silently, the differences
    settled nowhere and said nowhere. Now they are applied as the kiosk already did (the tickets exist), and `server
    conflicts` lists each with the difference owed (by the buyer, to the buyer); the sales report counts nothing for
    them (the order still lists what was paid); once a device rollback undid them, they leave the list."""
    thief = StolenDesk(desk.kiosk)
    opened = json.loads(tg(desk.org, "server", "till", "open", thief.device, "--float-cents", "10000", "--json").stdout)
    try:
        sold = thief.ask(SaleRequest("acme", thief.device, uuid.uuid4().hex, target_id=1,
                                     lines=(SaleLine(1, 1, 1), SaleLine(2, 1, 1)), expected_cents=PRICE[1] + PRICE[2],
                                     buyer_name="Cy Buyer"))
        adult, vip = (next(t["ticket_key"] for t in sold["tickets"] if t["category"] == c) for c in (1, 2))
        before, till = _sales(desk.org), _till(desk.org, opened)
        rows = [(401, "kiosk", json.dumps(Exchange(adult, "upgrade", thief.device, category=2, at=time.time())
                                          .to_wire())),
                (402, "kiosk", json.dumps(Exchange(vip, "student", thief.device, category=3, at=time.time())
                                          .to_wire()))]
        thief.publish(topics.up("acme", thief.device), Batch.encode("acme", thief.device, uuid.uuid4().hex,
                                                                    time.time(), rows))
        assert wait_for(lambda: len(_unsettled(desk.org)) == 2, 60)
    finally:
        thief.close()
    listed = [(c["ticket_key"], c["order_number"], c["category_before"], c["category_after"], c["difference_cents"],
               c["currency"]) for c in _unsettled(desk.org)]
    assert listed == [(adult, sold["order_number"], 1, 2, 500, "EUR"), (vip, sold["order_number"], 2, 3, -500, "EUR")]
    shown = json.loads(tg(desk.org, "server", "order", "show", sold["order_number"], "--json").stdout)["tickets"]
    assert sorted((t["category"], t["revoked"] is False) for t in shown) == [(1, False), (2, False), (2, True),
                                                                             (3, True)]      # applied
    text = tg(desk.org, "server", "conflicts").stdout
    assert (f"ticket {adult} (order {sold['order_number']}, Cy Buyer, paid) exchanged OFFLINE" in text
            and "PRICE DIFFERENCE NOT SETTLED, 5.00 EUR owed by the buyer, not collected" in text
            and "PRICE DIFFERENCE NOT SETTLED, 5.00 EUR owed to the buyer, not handed back" in text), text
    after = _till(desk.org, opened)             # no money counted for them: two exchanges that settled nothing
    assert after["exchanges"] == dict(till["exchanges"], count=2) and till["exchanges"]["count"] == 0
    assert _sales(desk.org) == before and {k: v for k, v in after.items() if k not in ("exchanges", "per_staff")} == \
        {k: v for k, v in till.items() if k not in ("exchanges", "per_staff")}
    tg(desk.org, "server", "device", "revoke", thief.device)
    undone = tg(desk.org, "server", "device", "rollback", thief.device, "--reason", "kiosk stolen").stdout
    assert _unsettled(desk.org) == [], undone


def test_the_kiosk_says_an_offline_price_difference_in_its_language():
    """The app shows the device's refusal by its code (kiosk_ui.presenters.refusals), in French too."""
    from kiosk_ui import i18n
    from kiosk_ui.presenters.refusals import refusal_text
    try:
        i18n.set_language("fr")
        said = refusal_text("the price differs", "exchange_price_differs", {"difference": "5.00 EUR"})
        assert said == "Le prix diffère de 5.00 EUR : il faut le serveur ; réessayez une fois en ligne.", said
        said = refusal_text("no price", "exchange_needs_prices", {"category": 4})
        assert said.startswith("Pas de liste de prix sur ce guichet pour la catégorie 4"), said
    finally:
        i18n.set_language("en")
