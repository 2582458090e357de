"""The kiosk operator's and the organiser's paths (session M's QA walk): the app's desk over its real sync (real
mosquitto, the sync server over a real SQLite store), the cash-up's Z report as the kiosk shows and prints it, and
the organiser's reports. Each test fails on the defect it names."""
from __future__ import annotations

import pytest

from kiosk_ui import i18n
from tests.broker import mosquitto_binary
from tests.kiosk_desk_field import kiosk_desk, prepare_kiosk, ready, sell
from tests.sync_fixtures import make_store

needs_broker = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


@pytest.fixture
def french():
    i18n.set_language("fr")
    yield
    i18n.set_language("en")


@needs_broker
def test_a_refund_of_an_order_refunded_already_is_refused_in_the_apps_language(tmp_path, broker, french):
    """The buyer comes back to the desk for an order the organiser refunded already (`server order refund`, a
    phone call): the French kiosk said 'Non effectué : order X: order is refunded; it cannot become refunded', the
    server's English words (no reason code). Now the refusal has its code and is said in the app's language; a
    cancellation of that order too. Nothing handed back twice."""
    store, event, _ = make_store(tmp_path / "server", tickets=0, devices=())
    prepare_kiosk(store, event)
    try:
        with kiosk_desk(tmp_path, store, event, broker.port) as f:
            ready(f.desk)
            sold = sell(f.ctl, event, 2).result
            assert sold.ok and not sold.offline, sold
            store.refund_order(sold.order_number, "refunded by phone")
            for kind in ("refund", "cancel"):
                done = f.ctl.sale.refund(sold.order_number, "Changement de programme", kind)
                assert not done.ok and done.amount_cents == 0, done
                shown = i18n.tr("Not done: {why}", why=i18n.tr(done.problem))      # the ticket desk's line
                assert sold.order_number in shown and "déjà remboursée ou annulée" in shown, shown
                assert "cannot become" not in shown, shown
    finally:
        store.close()
