"""The kiosk's desk against the real server through a real mosquitto (kiosk_ui/adapters/desk.py over
agent.sync.DeviceSync): the catalogue and stock arrive with the kiosk bundle, an online sale is priced, reserved
and signed by the server, durable on the kiosk, then printed (tickets on a Zebra, the receipt on ESC/POS, both on
127.0.0.1, rendered back and their QR verified); the allotment is granted online; a server that does not answer
in time gets the sale offline under the allotment — counted once, never twice — and a refund goes back to the
server."""
from __future__ import annotations

import time

import numpy as np
import pytest

from agent.payload import read_payload
from agent.policy import DevicePolicy
from agent.sync import BrokerConfig
from drivers.camera.chain import DecoderChain
from drivers.printers.escpos_render import escpos_text, render_escpos
from drivers.printers.zpl_render import render_zpl
from drivers.testkit.fake_printer import FakePrinter
from kiosk_ui.adapters import build_services
from kiosk_ui.adapters.desk import KioskDesk, SyncSaleLink
from kiosk_ui.controller import Controller
from kiosk_ui.door import Door
from kiosk_ui.services import Payment
from server_stub.sync.sim_device import SimDevice
from tests.helpers import wait_for
from tests.sync_fixtures import FAST, ORG, make_store, start_server


@pytest.fixture
def counter(tmp_path, broker):
    store, event, _ = make_store(tmp_path / "server", tickets=0, devices=(), categories=("Standard", "Premium"))
    store.set_price(ORG, event, 1, 2000)
    store.set_price(ORG, event, 2, 5000)
    store.set_quota(ORG, event, 20)
    store.add_promotion(ORG, "x_for_y", event, category=1, x=4, y=3)
    store.register_device(ORG, "kiosk-1", events=[event], role="kiosk")
    store.set_allotment_size(ORG, "kiosk-1", [event], 5, hours=4)
    server = [start_server(store, broker.port, limits=None)]
    sim = SimDevice(tmp_path / "kiosk", ORG, "kiosk-1", store.server_public_key(ORG), BrokerConfig(port=broker.port),
                    [event], options=FAST, role="kiosk").go_online()
    door = Door(sim.ledger, sim.keyring, DevicePolicy(device_id="kiosk-1", gate="desk", events=frozenset({event})))
    ctl = Controller(door, build_services(door, tmp_path / "kiosk"))
    ctl.services.desk = desk = KioskDesk(door, tmp_path / "kiosk", SyncSaleLink(sim), timeout=5.0, org=ORG)
    zebra, receipts = FakePrinter("zpl"), FakePrinter("escpos")
    door.ledger.set_setting("printers", [
        {"host": "127.0.0.1", "port": zebra.port, "name": "Zebra", "language": "zpl", "format": "cinema"},
        {"host": "127.0.0.1", "port": receipts.port, "name": "Receipts", "language": "escpos"}])
    ctl.selected_printer = f"zpl:127.0.0.1:{zebra.port}"
    try:
        assert wait_for(lambda: desk.online and desk.targets(), 20), "no catalogue from the kiosk bundle"
        door.reload_names()                          # what the app's sync link does after each bundle
        yield store, event, server, sim, ctl, desk, zebra, receipts, broker
    finally:
        zebra.close()
        receipts.close()
        sim.close()
        server[0].stop()
        store.close()


def _qr(image) -> str:
    (text,) = DecoderChain().decode(np.asarray(image.convert("L"))).texts
    return text


def test_online_sale_priced_by_the_server_durable_printed_and_verified(counter):
    store, event, _, sim, ctl, desk, zebra, receipts, _ = counter
    (target,) = desk.targets()
    assert [(c.category, c.unit_cents, c.left) for c in target.categories] == [(1, 2000, 20), (2, 5000, 20)]
    flow = ctl.sale
    flow.choose(event)
    for _ in range(4):
        flow.add(1)
    flow.add(2)
    quote = flow.quote()
    assert quote is not None and quote.total_cents == 3 * 2000 + 5000 and quote.lines[0].promotion == "4 for 3"
    outcome = flow.confirm(Payment("card", reference="TX-4471", buyer_name="Ana Silva", email="ana@example.org"))
    result = outcome.result
    assert result.ok and not result.offline, result.problem
    order = store.order(result.order_number)
    assert order["status"] == "paid" and len(result.ticket_keys) == 5
    assert [(x["category"], x["quantity"], x["total_cents"], x["promotion"])
            for x in store.order_lines(result.order_number)] == [(1, 4, 6000, "4 for 3"), (2, 1, 5000, None)]
    # durable on the kiosk with the server's signed QR, before printing
    rows = [sim.ledger.ticket(k) for k in result.ticket_keys]
    assert all(r is not None and r["payload"].startswith("TG1:") and r["order_number"] == result.order_number
               for r in rows)
    assert outcome.tickets is not None and outcome.tickets.ok and outcome.tickets.printed == 5
    jobs = [j for j in zebra.jobs if j]
    assert len(jobs) == 5
    keys = []
    for job in jobs:
        decoded = read_payload(_qr(render_zpl(job)), sim.keyring, time.time())
        assert decoded.status == "ok"
        keys.append(decoded.ticket.key)
    assert sorted(keys) == sorted(result.ticket_keys)
    assert outcome.receipt is not None and outcome.receipt.ok
    receipt = [j for j in receipts.jobs if j][0]
    image, _ = render_escpos(receipt)
    assert _qr(image) == result.order_number
    text = escpos_text(receipt)
    assert any(line.startswith("Total") and line.endswith("EUR 110.00") for line in text)
    assert any(line.startswith("Terminal ref.") and line.endswith("TX-4471") for line in text)
    # the server's stock moved; a cart beyond it is refused by the server, nothing sold
    assert store.quotas(event)[0]["sold"] == 5
    flow.choose(event)
    flow.add(2, 16)
    refused = flow.confirm(Payment("cash", given_cents=10**7))
    # refused here when the bundle already showed the stock left, else by the server: never sold either way
    assert not refused.result.ok and ("sold out" in refused.result.problem.lower()
                                      or refused.result.problem == "Not enough left")
    assert store.quotas(event)[0]["sold"] == 5
    # refund at the desk: the server agrees, the tickets are out of use here at once and back on sale there
    back = flow.refund(result.order_number, "Buyer cannot come")
    assert back.ok and back.amount_cents == -11000
    assert store.order(result.order_number)["status"] == "refunded" and store.quotas(event)[0]["sold"] == 0
    assert {t["state"] for t in ctl.door.order(result.order_number)} == {"revoked"}


def test_no_answer_in_time_sells_offline_once_never_twice(counter):
    store, event, server, sim, ctl, desk, zebra, _, broker = counter
    assert desk.refill() == "" and desk.certificate() is not None        # the allotment, granted online
    flow = ctl.sale
    server[0].stop()                        # the broker still answers, the server does not
    desk.timeout = 1.0
    flow.choose(event)
    flow.add(1, 2)
    outcome = flow.confirm(Payment("cash", given_cents=5000))
    assert outcome.result.ok and outcome.result.offline
    assert all(sim.ledger.ticket(k)["payload"].startswith("TG2:") for k in outcome.result.ticket_keys)
    assert outcome.tickets is not None and outcome.tickets.ok
    server[0] = start_server(store, broker.port, limits=None)          # back: the outbox drains
    assert wait_for(lambda: sim.ledger.outbox_size() == 0, 30)
    # whatever reached the server first (the late online request or the offline sale), the sale counts once
    time.sleep(1.0)
    assert store.quotas(event)[0]["sold"] == 2
    assert [store.ticket(k)["order_status"] for k in outcome.result.ticket_keys] == ["paid", "paid"]
    # cut off from the broker: sold offline at once, reconciled on reconnect, nothing lost
    sim.go_offline()
    assert not desk.online
    flow.choose(event)
    flow.add(2, 1)
    cut = flow.confirm(Payment("invoice"))
    assert cut.result.ok and cut.result.offline and cut.result.status == "pending"
    sim.go_online()
    assert wait_for(lambda: sim.ledger.outbox_size() == 0, 30)
    assert store.ticket(cut.result.ticket_keys[0])["order_status"] == "pending"
    assert store.quotas(event)[0]["sold"] == 3


def test_exchange_to_another_category_collects_the_difference_and_prints_the_new_ticket(counter):
    store, event, _, sim, ctl, desk, zebra, _, _ = counter
    flow = ctl.sale
    flow.choose(event)
    flow.add(1)
    sold = flow.confirm(Payment("cash", given_cents=2000)).result
    assert sold.ok and not sold.offline
    (old,) = sold.ticket_keys
    up = flow.exchange(old, "Upgrade of category", event, 2, "card")          # the difference paid by card
    assert up.ok and up.amount_cents == 5000 - 2000 and len(up.ticket_keys) == 1
    (new,) = up.ticket_keys
    assert ctl.door.ticket_state(old, at_this_gate=False) == "revoked"          # out of use here at once
    row = sim.ledger.ticket(new)
    assert row is not None and row["category"] == 2 and row["payload"].startswith("TG1:")
    assert store.ticket(new)["category"] == 2
    printed = ctl.print_order(up.order_number, "ticket", False, up.ticket_keys)
    assert printed.ok and printed.printed == 1
    decoded = read_payload(_qr(render_zpl(zebra.jobs[-1])), sim.keyring, time.time())
    assert decoded.status == "ok" and decoded.ticket.key == new and decoded.ticket.category == 2
    # back down: the difference is handed back; without a reason nothing is asked
    down = flow.exchange(new, "Wrong date bought", event, 1)
    assert down.ok and down.amount_cents == 2000 - 5000
    assert [p for p, in store.q("SELECT payment FROM desk_requests WHERE kind='exchange' ORDER BY at")] == \
        ["card", "cash"]                                                       # the till counts only cash as cash
    with pytest.raises(ValueError, match="reason"):
        flow.exchange(down.ticket_keys[0], "  ", event, 2)


def test_a_pass_is_sold_online_from_the_bundle(tmp_path, broker):
    store, event, _ = make_store(tmp_path / "server", tickets=0, devices=())
    now = time.time()
    second = store.create_event(ORG, "Closing night", now, now + 7200, "Europe/Paris",
                                categories=[{"category_id": 1, "name": "Standard"}])
    both = store.create_pass(ORG, "Both nights", [event, second])
    store.set_price(ORG, event, 1, 2000)
    store.set_price(ORG, both, 1, 3500)
    store.set_quota(ORG, both, 2)
    store.register_device(ORG, "kiosk-1", events=[event, second], role="kiosk")
    server = start_server(store, broker.port, limits=None)
    sim = SimDevice(tmp_path / "kiosk", ORG, "kiosk-1", store.server_public_key(ORG), BrokerConfig(port=broker.port),
                    [event, second], options=FAST, role="kiosk").go_online()
    door = Door(sim.ledger, sim.keyring, DevicePolicy(device_id="kiosk-1", gate="desk",
                                                     events=frozenset({event, second})))
    desk = KioskDesk(door, tmp_path / "kiosk", SyncSaleLink(sim), timeout=5.0, org=ORG)
    try:
        assert wait_for(lambda: desk.online and any(t.is_pass for t in desk.targets()), 20)
        (ticket_pass,) = [t for t in desk.targets() if t.is_pass]
        assert ticket_pass.name == "Both nights" and ticket_pass.date_text == "Opening night + Closing night"
        assert [(c.category, c.name, c.unit_cents, c.left) for c in ticket_pass.categories] == [(1, "Standard", 3500, 2)]
        result = desk.sell(desk.quote(both, {1: 2}), Payment("cash", given_cents=7000))
        assert result.ok and not result.offline and result.total_cents == 7000
        payload = sim.ledger.ticket(result.ticket_keys[0])["payload"]
        decoded = read_payload(payload, sim.keyring, time.time())
        assert decoded.status == "ok" and decoded.ticket.is_pass and decoded.ticket.event_id == both
        assert not desk.sell(desk.quote(both, {1: 1}), Payment("cash", given_cents=3500)).ok     # its own stock: 2
    finally:
        sim.close()
        server.stop()
        store.close()


def test_the_servers_refusals_read_in_the_kiosks_language(counter):
    """A French kiosk showed the server's English words ("kiosk-1 has no open till shift", "ticket … is already
    revoked"). The answer now carries a reason code the kiosk says in French; an unknown code keeps the server's text."""
    from kiosk_ui import i18n
    from kiosk_ui.presenters.refusals import refusal_text
    store, event, _, sim, ctl, desk, _, _, _ = counter
    flow = ctl.sale
    flow.choose(event)
    flow.add(1)
    (sold,) = flow.confirm(Payment("cash", given_cents=2000)).result.ticket_keys
    assert flow.exchange(sold, "Upgrade of category", event, 2).ok
    i18n.set_language("fr")
    try:
        assert desk.till("close", 0) == "Ce guichet n'a pas de caisse ouverte."
        again = flow.exchange(sold, "Upgrade of category", event, 2)
        assert not again.ok and again.problem == f"Le billet {sold} a déjà été échangé ou annulé.", again.problem
        assert refusal_text("newer server words", "a_code_of_tomorrow", {}) == "newer server words"
        assert refusal_text("sold out: 1 has 0 left", "sold_out", {"left": 0}) == "sold out: 1 has 0 left"  # bad params
    finally:
        i18n.set_language("en")
    assert desk.till("close", 0) == "This kiosk has no open till shift."


def test_every_reason_code_has_a_kiosk_text_with_its_parameters():
    import re
    from agent.reasons import REASON_CODES
    from kiosk_ui.presenters.labels import REFUSAL_TEXTS
    assert set(REFUSAL_TEXTS) == set(REASON_CODES)
    for code, params in REASON_CODES.items():
        assert set(re.findall(r"{(\w+)}", REFUSAL_TEXTS[code])) == set(params), code
