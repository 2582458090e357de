"""The kiosk operator's and the organiser's paths (session T's walk): the app's desk over its real sync (real
mosquitto, the sync server over a real SQLite store), then the organiser's commands (`server till z-report`,
`server report sales`) on what it did; a kiosk laptop through the public commands (`agent pay`, `agent exchange`). Each test fails on the defect it names."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pytest

from kiosk_ui import i18n
from kiosk_ui.presenters.cart import refund_message
from kiosk_ui.services import Payment
from tests.broker import mosquitto_binary
from tests.helpers import wait_for
from tests.qa_organiser import ROOT, Organiser, organiser_running, tg
from tests.sync_fixtures import ORG
from tests.test_desk_online import counter  # noqa: F401  (the fixture)
from tests.test_qa_paths_m_desk import _server

needs_broker = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def _sell_and_upgrade(ctl, event: int, payment: Payment, settle: str):
    """One Standard (20.00) sold with `payment`, then exchanged for a Premium (50.00): the 30.00 difference
    collected by `settle`. The sale's order number."""
    flow = ctl.sale
    flow.choose(event)
    flow.add(1)
    sold = flow.confirm(payment).result
    assert sold.ok and not sold.offline, sold
    up = flow.exchange(sold.ticket_keys[0], "Upgrade of category", event, 2, settle)
    assert up.ok and up.amount_cents == 3000, up
    return sold.order_number


@needs_broker
def test_a_refund_hands_back_the_exchange_difference_the_way_it_was_collected(tmp_path, counter):  # noqa: F811
    """A buyer pays a 20.00 ticket in cash and upgrades it at the desk, the 30.00 difference on the card terminal;
    another pays 10.00 cash + 10.00 card (AUTH-1) and upgrades paying the 30.00 in cash. Both come back for a
    refund. The desk said 'hand back EUR 50.00' all in cash for the first (its card payment never reversed, the
    drawer 30.00 short) and 'EUR 25.00 Cash and EUR 25.00 Card' for the second (25.00 back on a 10.00 card
    payment), and the organiser's Z report expected 15.00 less cash than the drawer held. A refund now hands back
    what each way took, the exchanges' differences included: the drawer ends where it started."""
    store, event, _, _, ctl, desk, _, _, _ = counter
    shift = desk.till("open", 10000).order_number
    first = _sell_and_upgrade(ctl, event, Payment("cash", given_cents=2000), "card")
    second = _sell_and_upgrade(ctl, event, Payment(parts=(("cash", 1000, ""), ("card", 1000, "AUTH-1")),
                                                   given_cents=1000), "cash")
    back = ctl.sale.refund(first, "Changement de programme")
    assert back.ok and back.amount_cents == -5000 and back.parts == (("cash", 2000), ("card", 3000)), back
    assert refund_message(first, back) == f"Order {first} refunded: hand back EUR 20.00 Cash and EUR 30.00 Card " \
                                          "(terminal).", refund_message(first, back)
    back = ctl.sale.refund(second, "Changement de programme")
    assert back.ok and back.parts == (("cash", 4000), ("card", 1000)), back
    z = _server(tmp_path / "server", "till", "z-report", str(shift), org=ORG)
    assert z["refunds"] == {"count": 2, "total_cents": 10000}, z["refunds"]
    assert z["expected_cash_cents"] == 10000, z          # 100.00 + 20 + 10 + 30 taken - 20 - 40 handed back
    sales = _server(tmp_path / "server", "report", "sales", org=ORG)["summary"]["totals"]
    assert sales["refunded_or_cancelled_cents"] == 10000, sales


@needs_broker
def test_the_refund_of_an_order_paid_by_card_says_to_hand_it_back_on_the_card(counter):  # noqa: F811
    """An order paid by card, refunded at the desk: the screen said 'Order X refunded: hand back EUR 20.00.', and
    the operator handed 20.00 from the drawer (the Z report counts a card refund out of no drawer: 20.00 short) while
    the buyer's card was never credited. One way other than cash is named, as a split's are."""
    store, event, _, _, ctl, desk, _, _, _ = counter
    flow = ctl.sale
    flow.choose(event)
    flow.add(1)
    sold = flow.confirm(Payment("card", reference="TX-9")).result
    assert sold.ok, sold
    back = flow.refund(sold.order_number, "Changement de programme")
    assert back.ok and back.parts == (("card", 2000),), back
    assert refund_message(sold.order_number, back) == \
        f"Order {sold.order_number} refunded: hand back EUR 20.00 Card (terminal).", refund_message(sold.order_number,
                                                                                                   back)
    i18n.set_language("fr")
    try:
        assert "Carte" in refund_message(sold.order_number, back), refund_message(sold.order_number, back)
    finally:
        i18n.set_language("en")


def _laptop_desk(tmp_path: Path, organiser: Organiser) -> tuple[Path, Path]:
    """The organiser's event (Adult 25.00, Child 12.00), Ann's paid order and Bob's pending one, Sam a supervisor;
    a kiosk laptop enrolled (role kiosk) and synced, Sam logged in on it: (organiser's home, kiosk's home)."""
    org, kiosk = organiser.home, tmp_path / "kiosk"
    kiosk.mkdir()
    tg(org, "server", "price", "set", "1", "--category", "1", "--cents", "2500", "--currency", "EUR")
    tg(org, "server", "price", "set", "1", "--category", "2", "--cents", "1200")
    tg(org, "server", "order", "add", "--event", "1", "--buyer", "Ann Martin", "--ticket", "category=Adult,zone=Floor")
    tg(org, "server", "order", "add", "--event", "1", "--buyer", "Bob Roy", "--pending", "--ticket",
       "category=Adult,zone=Floor", "--ticket", "category=Child,zone=Floor")
    tg(org, "server", "staff", "add", "--name", "Sam Super", "--role", "supervisor", "--pin", stdin="482913\n")
    organiser.enroll(kiosk, gate="desk", role="kiosk")
    tg(kiosk, "agent", "sync", "--until-idle", "--for", "30")
    tg(kiosk, "agent", "login", "--staff", "Sam Super", "--pin", stdin="482913\n")
    return org, kiosk


@pytest.fixture
def laptop_desk(tmp_path: Path) -> Iterator[tuple[Organiser, Path]]:
    org = tmp_path / "org"
    org.mkdir()
    tg(org, "server", "init", "--org", "acme", "--name", "Acme Festival")
    now = time.time()
    tg(org, "server", "event", "create", "--name", "Opening night", "--tz", "UTC", "--zone", "1=Floor",
       "--category", "1=Adult", "--category", "2=Child", "--start", _utc(now - 3600), "--end", _utc(now + 6 * 3600))
    with organiser_running(org) as organiser:
        yield organiser, _laptop_desk(tmp_path, organiser)[1]


def _utc(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%d %H:%M")


def _ticket(kiosk: Path, buyer: str) -> dict:
    (row,) = [r for r in json.loads(tg(kiosk, "agent", "search", buyer, "--json").stdout) if r["category"] == 1]
    return row


@needs_broker
def test_the_laptop_desk_is_not_told_to_exchange_again_online_what_it_never_can(laptop_desk):
    """On a kiosk laptop (`agent exchange`), Ann's Adult ticket (25.00) to a Child one (12.00): refused, 'the price
    differs by 13.00 EUR: needs the server; try again when online'. The operator ran `agent sync` (online) and tried
    again: the same refusal, forever: `agent exchange` never asks the server, it only queues. It now says what
    takes it (the app's Ticket desk, online) and still records nothing; the same price exchanges as before."""
    organiser, kiosk = laptop_desk
    ann = _ticket(kiosk, "Ann")["ticket_key"]
    for online in (False, True):
        if online:
            tg(kiosk, "agent", "sync", "--until-idle", "--for", "30")           # online: nothing changes
        refused = tg(kiosk, "agent", "exchange", ann, "--reason", "wants child", "--category", "2", ok=False)
        assert refused.returncode == 1, refused
        assert "the price differs by 13.00 EUR" in refused.stderr and "Ticket desk" in refused.stderr, refused.stderr
        assert "try again when online" not in refused.stderr, refused.stderr
    assert "outbox_pending 0" in tg(kiosk, "agent", "status").stdout            # nothing recorded
    exchanged = tg(kiosk, "agent", "exchange", ann, "--reason", "torn")       # the same category: exchanged
    assert "the replacement comes with the next sync" in exchanged.stdout, exchanged.stdout


@needs_broker
def test_the_office_sees_which_order_a_desk_was_paid_for_and_what_to_hand_back_on_refunding_it(laptop_desk):
    """Bob's pending order (37.00) is paid at the kiosk laptop by Sam, 20.00 cash and 17.00 on the card terminal
    (AUTH7). `server staff actions --staff 1` ("what Sam did") listed 'kiosk/payment_validated  ticket -': which
    order, nobody could tell; it names the order now. Bob then calls the office, which refunds it (`server order
    refund`): the command printed the order and its revoked tickets, no word of the 37.00 a desk holds nor of the
    card payment to reverse (and a refund made there is in no desk's Z report): the buyer's money was left to chance.
    It now says what to hand back each way; Ann's order, paid elsewhere, says nothing of a desk."""
    organiser, kiosk = laptop_desk
    bob = json.loads(tg(kiosk, "agent", "search", "Bob", "--json").stdout)[0]["order_number"]
    paid = tg(kiosk, "agent", "pay", bob, "--split", "cash:20.00,card:17.00:AUTH7")
    assert f"order {bob} paid 37.00 EUR" in paid.stdout, paid.stdout
    tg(kiosk, "agent", "sync", "--until-idle", "--for", "30")
    (line,) = tg(organiser.home, "server", "staff", "actions", "--staff", "1").stdout.splitlines()
    assert f"kiosk/payment_validated  order {bob}  " in line and "Sam Super" in line, line
    refunded = tg(organiser.home, "server", "order", "refund", bob, "--reason", "cannot come").stdout
    assert "paid at a desk: hand back 20.00 EUR cash and 17.00 EUR card (AUTH7) to the buyer" in refunded, refunded
    ann = _ticket(kiosk, "Ann")["order_number"]
    shown = json.loads(tg(organiser.home, "server", "order", "refund", ann, "--reason", "cannot come", "--json").stdout)
    assert shown["status"] == "refunded" and shown["hand_back"] is None, shown


@needs_broker
def test_what_a_clerk_sold_and_refunded_online_is_in_what_the_staff_member_did(tmp_path, counter):  # noqa: F811
    """Léa (supervisor) logs in at the app's desk, sells two tickets online (40.00 cash) and refunds them. `server
    staff actions --staff LÉA` ("what Léa did, when and where") listed only the kiosk's uploads (prints): the sale
    and the refund the desk asked the server for were not there, though the guide says every sale and refund names
    who did it. They are listed now (type desk), with their order, newest first, once each."""
    store, event, _, _, ctl, desk, _, _, _ = counter
    lea = store.add_staff(ORG, "Léa Martin", "supervisor", pin="482913")["staff_id"]
    assert wait_for(lambda: ctl.door.staff.configured, 30), "no staff list on the kiosk"
    assert ctl.login_pin(str(lea), "482913") == ""
    flow = ctl.sale
    flow.choose(event)
    flow.add(1, 2)
    sold = flow.confirm(Payment("cash", given_cents=4000)).result
    assert sold.ok and not sold.offline, sold
    assert flow.refund(sold.order_number, "Changement de programme").ok
    acts = [a for a in _server(tmp_path / "server", "staff", "actions", "--staff", str(lea), org=ORG)
            if a["type"] == "desk"]
    assert [(a["kind"], a["order_number"], a["staff_name"]) for a in acts] == [
        ("refund", sold.order_number, "Léa Martin"), ("sale", sold.order_number, "Léa Martin")], acts
    text = subprocess_text(tmp_path, "staff", "actions", "--staff", str(lea))
    assert f"desk/sale  order {sold.order_number}" in text and "Léa Martin" in text, text


def subprocess_text(tmp_path: Path, *args: str) -> str:
    """`ticketgate server --data DATA --org demo ARGS`'s text output (its JSON: `_server`)."""
    proc = subprocess.run([sys.executable, "-m", "agent", "server", "--data", str(tmp_path / "server"), "--org", ORG,
                           *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc
    return proc.stdout
