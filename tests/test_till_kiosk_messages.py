"""A kiosk's till and e-ticket messages through a real mosquitto and the sync server: the shift opened with a float,
sales, the shift closed with the counted cash (the Z report comes back in the answer and balances), e-tickets sent
again through a real SMTP server (aiosmtpd, STARTTLS + AUTH) and a refused address reported to the kiosk; a door
asking is refused by name; a malformed till message is refused."""
from __future__ import annotations

import pytest

from agent.sync.messages import ETicketsRequest, Rejected, SaleLine, SaleRequest, TillRequest
from server_stub import mail
from tests.helpers import wait_for
from tests.sync_fixtures import ORG, make_store, start_server
from tests.test_desk_server import Kiosk
from tests.test_mail_etickets import PASSWORD, USER, smtp  # noqa: F401  (the SMTP fixture)


def test_till_and_etickets_from_the_kiosk(tmp_path, broker, smtp):  # noqa: F811
    controller, handler, crt = smtp
    store, event, _ = make_store(tmp_path / "server", tickets=0, devices=("door-1",))
    store.set_price(ORG, event, 1, 1250)
    store.register_device(ORG, "kiosk-1", events=[event], role="kiosk")
    mail.configure(store, mail.MailSettings("127.0.0.1", controller.port, USER, "b@tickets.example", str(crt),
                                            attempts=2, retry_seconds=0.05), PASSWORD)
    server = start_server(store, broker.port, limits=None)
    key = store.server_public_key(ORG)
    kiosk, door = Kiosk("kiosk-1", broker.port, key), Kiosk("door-1", broker.port, key)
    try:
        kiosk.ask(TillRequest(ORG, "kiosk-1", "open-1", "open", 5000))
        assert wait_for(lambda: "open-1" in kiosk.answers, 10)
        assert kiosk.answers["open-1"].ok and kiosk.answers["open-1"].status == "open"
        kiosk.ask(SaleRequest(ORG, "kiosk-1", "s1", event, (SaleLine(1, 2),), email="ana@example.org",
                              buyer_name="Ana"))
        kiosk.ask(SaleRequest(ORG, "kiosk-1", "s2", event, (SaleLine(1, 1),), payment="card", payment_ref="T9",
                              email="refused@example.org"))
        assert wait_for(lambda: {"s1", "s2"} <= set(kiosk.answers), 10)
        s1, s2 = kiosk.answers["s1"], kiosk.answers["s2"]
        assert s1.ok and s2.ok
        kiosk.ask(ETicketsRequest(ORG, "kiosk-1", "m1", s1.order_number))
        kiosk.ask(ETicketsRequest(ORG, "kiosk-1", "m2", s2.order_number))
        door.ask(ETicketsRequest(ORG, "door-1", "m3", s1.order_number))
        assert wait_for(lambda: {"m1", "m2"} <= set(kiosk.answers) and "m3" in door.answers, 20)
        assert kiosk.answers["m1"].ok and kiosk.answers["m1"].status == "sent" and len(handler.messages) == 1
        m2 = kiosk.answers["m2"]
        assert not m2.ok and m2.status == "refused" and "550" in m2.reason
        assert store.mail_status(s2.order_number)["status"] == "refused"
        assert door.answers["m3"].reason == "not allowed: door-1 is not a kiosk"
        kiosk.ask(TillRequest(ORG, "kiosk-1", "close-1", "close", 5000 + 2500))
        assert wait_for(lambda: "close-1" in kiosk.answers, 10)
        z = kiosk.answers["close-1"]
        assert z.ok and z.status == "closed" and z.total_cents == 7500 and z.difference_cents == 0
        assert z.report["payments"] == {"card": 1250, "cash": 2500} and z.report["sales"]["tickets"] == 3
        kiosk.ask(TillRequest(ORG, "kiosk-1", "close-1", "close", 1))       # the same message again: same answer
        kiosk.ask(TillRequest(ORG, "kiosk-1", "close-2", "close", 1))       # nothing open any more
        assert wait_for(lambda: "close-2" in kiosk.answers, 10)
        assert kiosk.answers["close-2"].reason == "kiosk-1 has no open till shift"
        assert kiosk.answers["close-1"].total_cents == 7500
        assert len(store.shifts(ORG, "kiosk-1")) == 1
    finally:
        kiosk.t.stop()
        door.t.stop()
        server.stop()
        store.close()


def test_malformed_till_message_refused():
    with pytest.raises(Rejected):
        TillRequest.from_wire({"type": "till", "org": ORG, "device": "k", "request_id": "x", "action": "steal",
                               "cents": 1})
    with pytest.raises(Rejected):
        TillRequest.from_wire({"type": "till", "org": ORG, "device": "k", "request_id": "x", "action": "open",
                               "cents": -5})
    ok = TillRequest.from_wire(TillRequest(ORG, "k", "x", "close", 1234, staff="7").to_wire())
    assert ok.cents == 1234 and ok.staff == "7"
