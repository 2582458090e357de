"""The kiosk operator's and the organiser's paths walked through the public commands (`ticketgate …` subprocesses,
fresh HOME, the provisioned mosquitto, real SQLite); the desk's requests as the app sends them over its broker login.
Each test fails on the defect it names."""
from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import pytest

from agent.sync import topics
from agent.sync.messages import DeskAnswer, ExchangeRequest, RefundRequest, SaleLine, SaleRequest
from tests.broker import mosquitto_binary
from tests.helpers import wait_for
from tests.qa_organiser import organiser_running, tg
from tests.test_qa_paths_i import _login_of, desk_asker

needs_broker = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def _two_dates(home: Path) -> None:
    """Two dates of a festival (events 1 and 2), Adult and Child, priced differently on each date."""
    start, end = (time.strftime("%Y-%m-%d", time.gmtime(time.time() + d * 86400)) for d in (-1, 7))
    tg(home, "server", "init", "--org", "acme", "--name", "Acme Festival")
    for name in ("Day 1", "Day 2"):
        tg(home, "server", "event", "create", "--name", name, "--start", f"{start} 10:00", "--end", f"{end} 23:00",
           "--zone", "1=Floor", "--category", "1=Adult", "--category", "2=Child")
    for event, category, cents in (("1", "1", "2500"), ("1", "2", "1250"), ("2", "1", "3033"), ("2", "2", "999")):
        tg(home, "server", "price", "set", event, "--category", category, "--cents", cents, "--currency", "EUR")


def _sold_per_event(home: Path, event: str) -> tuple[int, int]:
    totals = json.loads(tg(home, "server", "report", "sales", "--event", event, "--json").stdout)["summary"]["totals"]
    return totals["tickets"], totals["total_cents"]


@needs_broker
def test_a_ticket_exchanged_to_another_date_is_reported_and_handed_back_at_that_dates_price(tmp_path):
    """Two Adult tickets of Day 1 (2 x 25.00, cash); one exchanged for a Day 2 Adult (30.33: 5.33 collected). `report
    sales` filed the new ticket under Day 1 (the order's date): Day 2 showed nothing sold, Day 1 55.33. Then the buyer
    changes to a Day 1 Child (12.50): 30.33 paid for the Day 2 ticket, 17.83 to hand back, but the desk handed back
    12.50 (what a Day 1 Adult cost), and the order's lines kept the Day 2 Adult. An exchanged ticket's line now names
    its date: the reports file it there and the next exchange hands back what was paid for that very ticket. The
    guest list (`report participants`, on screen) showed the exchanged Day 2 ticket as "paid": it now says revoked."""
    home, kiosk = tmp_path / "org", tmp_path / "kiosk"
    for folder in (home, kiosk):
        folder.mkdir()
    _two_dates(home)
    answers: dict[str, DeskAnswer] = {}
    with organiser_running(home) as running:
        running.enroll(kiosk, "desk", "1,2", role="kiosk")
        device, client = _login_of(kiosk, answers)
        tg(home, "server", "till", "open", device, "--float-cents", "10000")

        ask = desk_asker(client, device, answers)
        try:
            sold = ask(SaleRequest("acme", device, "sale", 1, (SaleLine(1, 2),), payment="cash", buyer_name="Ann"))
            day2 = ask(ExchangeRequest("acme", device, "to-day-2", sold.tickets[0].ticket_key, "other date",
                                       target_id=2))
            assert day2.difference_cents == 533, day2
            assert _sold_per_event(home, "2") == (1, 3033) and _sold_per_event(home, "1") == (1, 2500)
            child = ask(ExchangeRequest("acme", device, "to-child", day2.tickets[0].ticket_key, "a child",
                                        target_id=1, category=2))
            assert child.difference_cents == 1250 - 3033, child
            assert _sold_per_event(home, "2") == (0, 0) and _sold_per_event(home, "1") == (2, 3750)
            guests = tg(home, "server", "report", "participants", "--event", "2").stdout   # the guest list on screen
            row = next(x for x in guests.splitlines() if day2.tickets[0].ticket_key in x)
            assert " revoked " in row and " paid " not in row, guests      # exchanged again: not a valid ticket
            refund = ask(RefundRequest("acme", device, "refund", sold.order_number, "changed plans"))
        finally:
            client.stop()
        assert refund.total_cents == 3750, refund          # 50.00 + 5.33 - 17.83: what the buyer paid in the end
        shift = json.loads(tg(home, "server", "till", "list", "--json").stdout)[0]["shift_id"]
        tg(home, "server", "till", "close", str(shift), "--counted-cents", "10000")
    z = json.loads(tg(home, "server", "till", "z-report", str(shift), "--json").stdout)
    assert z["difference_cents"] == 0, z
    out = tmp_path / "sales.csv"
    tg(home, "server", "report", "sales", "--out", str(out))
    with out.open(encoding="utf-8-sig") as f:
        lines = sorted((r["event"], r["category"], r["total_cents"]) for r in csv.DictReader(f))
    assert lines == [("Day 1", "Adult", "2500"), ("Day 1", "Child", "1250")], lines


@pytest.mark.parametrize("args", [("promo", "add", "--target", "1", "--x-for-y", "a:b"),
                                  ("promo", "add", "--target", "1", "--x-for-y", "4"),
                                  ("stats", "--watch", "-1"), ("stats", "--watch", "inf")])
def test_a_malformed_promotion_or_watch_period_is_one_line_and_a_non_zero_exit(tmp_path, args):
    """`promo add --x-for-y a:b` (or `4`) ended in a ValueError traceback; `stats --watch -1` redrew the figures
    without pausing, for ever, and `--watch inf` crashed with an OverflowError. Each is now refused on one line."""
    home = tmp_path / "org"
    home.mkdir()
    tg(home, "server", "init", "--org", "acme", "--name", "Acme Festival")
    tg(home, "server", "event", "create", "--name", "Day 1", "--start", "2026-07-01 18:00", "--end", "2026-07-02 02:00",
       "--category", "1=Adult")
    proc = tg(home, "server", *args, ok=False)            # (tg: a run past its 120 s is a failure too)
    assert proc.returncode != 0 and not proc.stdout, proc
    assert proc.stderr.strip().splitlines()[-1].startswith(f"ticketgate server {args[0]}"), proc.stderr
    assert f"argument --{args[-2].lstrip('-')}: {args[-1]!r}" in proc.stderr, proc.stderr


def test_an_offline_sale_of_two_categories_is_reported_per_category_and_exchanged_at_what_was_paid(store):
    """Offline, a kiosk sells 1 Adult (25.00) and 2 Child (2 x 12.50), 50.00 cash, under its allotment;
    the sale reaches the server later. The order got ONE line, '3 x Adult, 50.00': `report sales` and the Z report
    showed 3 Adult tickets and no Child, and an exchange of a Child ticket for an Adult one collected 12.50 (the Child
    price, no line found) without moving any line, so a refund then handed back 50.00 of the 62.50 paid. And the
    till never counted the 50.00 in the drawer (the reconciled sale had no status): the X/Z report expected 50.00
    less cash than the desk took, and named no one for it (per staff: "-") though Clara was logged in; the e-mail
    address typed at the kiosk was dropped (no e-tickets could be sent). The offline sale's lines are now priced per category like an online sale (the
    server's prices and promotions; the total the kiosk took is kept) and the till counts it as it was sold, by whom."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from agent.sync.messages import OfflineSale, SoldTicket
    from server_stub.reports import sales_summary
    from server_stub.sync.contract import Upload
    now = time.time()
    store.create_organiser("acme", "Acme Festival")
    store.register_device("acme", "kiosk-1", role="kiosk")
    e = store.create_event("acme", "Day 1", now - 3600, now + 86400, categories=[
        {"category_id": 1, "name": "Adult"}, {"category_id": 2, "name": "Child"}])
    store.set_price("acme", e, 1, 2500)
    store.set_price("acme", e, 2, 1250)
    store.set_allotment_size("acme", "kiosk-1", [e], 10, hours=2)
    key = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    cert = store.grant_allotment("acme", "kiosk-1", key)
    shift = store.open_shift("acme", "kiosk-1", 10_000)
    clara = str(store.add_staff("acme", "Clara Desk", "desk", pin="4821")["staff_id"])
    first = cert.first_id
    sold = OfflineSale("offline-1", cert.allotment_id, e, (SoldTicket(str(first), 1), SoldTicket(str(first + 1), 2),
                                                             SoldTicket(str(first + 2), 2)), 5000, "kiosk-1",
                       payment="cash", buyer_name="Ann", email="ann@example.org", staff=clara)
    assert not store.ingest_uploads([Upload("acme", "kiosk-1", 1, sold)]).refused
    number = store.ticket(str(first))["order_number"]
    assert store.order(number)["email"] == "ann@example.org"          # her e-tickets can be e-mailed
    per_category = sales_summary(store.sales_lines("acme"))["by"]["category"]
    assert {k: (v["tickets"], v["total_cents"]) for k, v in per_category.items()} == {
        "Adult": (1, 2500), "Child": (2, 2500)}, per_category
    x = store.shift_report("acme", shift["shift_id"])                                        # the X report
    assert x["expected_cash_cents"] == 15_000 and x["per_staff"][0]["staff"] == "Clara Desk", x
    assert {line["staff"] for line in store.sales_lines("acme")} == {"Clara Desk"}
    swap = store.desk_exchange("acme", "kiosk-1", ExchangeRequest("acme", "kiosk-1", "x1", str(first + 1), "a grown-up",
                                                                  category=1))
    assert swap.ok and swap.difference_cents == 1250, swap
    refund = store.desk_refund("acme", "kiosk-1", RefundRequest("acme", "kiosk-1", "r1", number, "changed plans"))
    assert refund.ok and refund.total_cents == 6250, refund            # 50.00 + 12.50 collected at the exchange
    z = store.close_shift("acme", shift["shift_id"], 10_000)["report"]
    assert z["difference_cents"] == 0, z
    assert sorted((c["category"], c["quantity"], c["total_cents"]) for c in z["by_category"]) == [
        (1, 1, 2500), (2, 2, 2500)], z["by_category"]


def test_a_ticket_of_an_unpaid_invoice_exchanged_then_paid_is_paid_once_at_its_new_price(store, tmp_path):
    """An Adult ticket (25.00) sold on invoice (payment pending), exchanged at the desk for a VIP one (40.00): the desk
    said "collect 15.00" and the till counted 15.00 in the drawer, though nothing had been paid; when the invoice was
    then paid at the desk (40.00, the order's new price) the till counted 55.00 for a 40.00 ticket. An exchange of
    an unpaid order now settles no difference: the order's price changes and its payment counts it once."""
    from tests.test_till_pending_paid import _paid_at_the_kiosk
    now = time.time()
    store.register_device("fest", "kiosk-1", role="kiosk")
    e = store.create_event("fest", "Night", now - 3600, now + 7200, categories=[
        {"category_id": 1, "name": "Adult"}, {"category_id": 2, "name": "VIP"}])
    store.set_price("fest", e, 1, 2500)
    store.set_price("fest", e, 2, 4000)
    shift = store.open_shift("fest", "kiosk-1", 10_000)
    sold = store.sell("fest", "kiosk-1", SaleRequest("fest", "kiosk-1", "s1", e, (SaleLine(1, 1),), payment="invoice"))
    assert sold.ok and sold.status == "pending", sold
    swap = store.desk_exchange("fest", "kiosk-1", ExchangeRequest("fest", "kiosk-1", "x1", sold.tickets[0].ticket_key,
                                                                  "upgrade", category=2))
    assert swap.ok and swap.difference_cents == 0, swap              # nothing paid yet: nothing to collect
    _paid_at_the_kiosk(store, tmp_path, sold.order_number, "cash")
    z = store.shift_report("fest", shift["shift_id"])
    assert z["expected_cash_cents"] == 10_000 + 4000, z
    assert z["pending_paid"] == {"count": 1, "total_cents": 4000}, z


def test_the_last_vip_seat_sold_online_and_offline_at_once_is_shown_oversold(tmp_path):
    """VIP has 1 seat (a category quota); kiosk 2 holds an allotment of 5 (whole-event stock, docs/server.md's known
    limit). Desk 1 sells the last VIP online while kiosk 2, offline, sells one too; its sale reconciles later. Two VIP
    tickets exist for one seat, and `quota list` said "1 capacity, 2 sold, 0 left": nothing told the organiser. It
    now says OVERSOLD by 1 (and --json `oversold`)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from agent.sync.messages import OfflineSale, SoldTicket
    from server_stub.store import SqliteStore
    from server_stub.sync.contract import Upload
    now = time.time()
    home = tmp_path / "org"
    home.mkdir()
    tg(home, "server", "init", "--org", "acme", "--name", "Acme Festival")
    with SqliteStore.open(home / ".local/share/ticketgate/server") as store:
        for kiosk in ("kiosk-1", "kiosk-2"):
            store.register_device("acme", kiosk, role="kiosk")
        e = store.create_event("acme", "Night", now - 3600, now + 7200, categories=[
            {"category_id": 1, "name": "Adult"}, {"category_id": 2, "name": "VIP"}])
        store.set_price("acme", e, 2, 4000)
        store.set_quota("acme", e, 10)
        store.set_quota("acme", e, 1, scope="category", ref=2)
        store.set_allotment_size("acme", "kiosk-2", [e], 5, hours=2)
        key = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        cert = store.grant_allotment("acme", "kiosk-2", key)
        assert store.sell("acme", "kiosk-1", SaleRequest("acme", "kiosk-1", "s1", e, (SaleLine(2, 1),))).ok
        offline = OfflineSale("o1", cert.allotment_id, e, (SoldTicket(str(cert.first_id), 2),), 4000, "kiosk-2")
        assert not store.ingest_uploads([Upload("acme", "kiosk-2", 1, offline)]).refused   # sold: never refused
    listed = tg(home, "server", "quota", "list", str(e)).stdout
    assert "category 2: 1 capacity, 2 sold, 0 held, 0 left, OVERSOLD by 1" in listed, listed
    vip = next(q for q in json.loads(tg(home, "server", "quota", "list", str(e), "--json").stdout)
               if q["scope"] == "category")
    assert vip["oversold"] == 1, vip


def test_a_promo_code_used_in_an_offline_sale_counts_one_use(store):
    """STUDENT (-20 %, at most 50 uses) typed at a kiosk selling offline: the sale reconciled later at its discounted
    price, but `promo list` still said 0 uses: offline sales could pass a code's limit unseen. A code an offline
    sale's lines were priced with now counts its use (never refusing the sale: it is made)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from agent.sync.messages import OfflineSale, SoldTicket
    from server_stub.sync.contract import Upload
    now = time.time()
    store.create_organiser("acme", "Acme Festival")
    store.register_device("acme", "kiosk-1", role="kiosk")
    e = store.create_event("acme", "Day 1", now - 3600, now + 86400, categories=[{"category_id": 1, "name": "Adult"}])
    store.set_price("acme", e, 1, 2500)
    store.add_promotion("acme", "percent", e, percent=20, code="STUDENT", max_uses=50)
    store.set_allotment_size("acme", "kiosk-1", [e], 10, hours=2)
    key = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    cert = store.grant_allotment("acme", "kiosk-1", key)
    sold = OfflineSale("offline-1", cert.allotment_id, e, (SoldTicket(str(cert.first_id), 1),
                                                             SoldTicket(str(cert.first_id + 1), 1)), 4000, "kiosk-1",
                       promo_code="STUDENT")
    for _ in range(2):                                                # sent again: one sale, one use
        assert not store.ingest_uploads([Upload("acme", "kiosk-1", 1, sold)]).refused
    (promo,) = store.promotions("acme")
    assert promo["uses"] == 1, promo


@needs_broker
def test_an_organisers_order_exchanged_at_the_desk_has_the_difference_in_the_sales_report(tmp_path):
    """The organiser's own orders (`order add`, paid elsewhere: no priced line): 2 Guest tickets (a category with no
    price) and 2 Adult ones. At the desk one Guest becomes an Adult (25.00 collected, cash) and one Adult a Child
    (12.50 handed back, cash). The Z report counted both, `report sales` neither: the desk's 12.50 net was in no
    report of the organiser's, per desk or per event. Now the sales report holds what the desk collected or handed
    back on such an order, under that desk, and the tickets not exchanged are still counted as unpriced; a refund at the
    desk hands back what the desk collected (none of what was paid elsewhere)."""
    home, kiosk = tmp_path / "org", tmp_path / "kiosk"
    for folder in (home, kiosk):
        folder.mkdir()
    start, end = (time.strftime("%Y-%m-%d", time.gmtime(time.time() + d * 86400)) for d in (-1, 7))
    tg(home, "server", "init", "--org", "acme", "--name", "Acme Festival")
    tg(home, "server", "event", "create", "--name", "Day 1", "--start", f"{start} 10:00", "--end", f"{end} 23:00",
       "--zone", "1=Floor", "--category", "1=Adult", "--category", "2=Child", "--category", "3=Guest")
    for category, cents in (("1", "2500"), ("2", "1250")):                          # Guest: no price
        tg(home, "server", "price", "set", "1", "--category", category, "--cents", cents, "--currency", "EUR")
    guests, adults = (json.loads(tg(home, "server", "order", "add", "--event", "1", "--buyer", buyer, "--quantity",
                                    "2", "--ticket", f"category={category},zone=Floor", "--json").stdout)
                      for buyer, category in (("Gus Guest", "Guest"), ("Ada Adult", "Adult")))
    answers: dict[str, DeskAnswer] = {}
    with organiser_running(home) as running:
        running.enroll(kiosk, "desk", "1", role="kiosk")
        device, client = _login_of(kiosk, answers)
        shift = json.loads(tg(home, "server", "till", "open", device, "--float-cents", "10000", "--json").stdout)
        ask = desk_asker(client, device, answers)
        try:
            up = ask(ExchangeRequest("acme", device, "guest-to-adult", guests["tickets"][0]["ticket_key"], "upgrade",
                                     category=1, payment="cash"))
            down = ask(ExchangeRequest("acme", device, "adult-to-child", adults["tickets"][0]["ticket_key"],
                                       "a child", category=2, payment="cash"))
            report = json.loads(tg(home, "server", "report", "sales", "--event", "1", "--json").stdout)["summary"]
            refunds = [ask(RefundRequest("acme", device, f"refund-{i}", order["number"], "cannot come"))
                       for i, order in enumerate((guests, adults))]
        finally:
            client.stop()
        assert (up.difference_cents, down.difference_cents) == (2500, -1250), (up, down)
        assert [r.total_cents for r in refunds] == [2500, 0], refunds      # what the desk took, none of the rest
        tg(home, "server", "till", "close", str(shift["shift_id"]), "--counted-cents", "8750")
    assert report["by"]["desk"][device]["total_cents"] == 1250, report["by"]
    assert report["by"]["payment"]["cash"]["total_cents"] == 1250, report["by"]
    assert report["totals"]["total_cents"] == 1250, report
    assert report["totals"]["tickets"] + report["totals"]["unpriced_tickets"] == 4, report["totals"]
    z = json.loads(tg(home, "server", "till", "z-report", str(shift["shift_id"]), "--json").stdout)
    assert z["exchanges"]["payments"] == {"cash": 1250} and z["difference_cents"] == 0, z
    assert z["refunds"]["total_cents"] == 2500, z
