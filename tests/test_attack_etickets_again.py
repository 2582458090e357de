"""A stolen kiosk asks the server, through a real mosquitto, to e-mail one buyer's e-tickets over and over (real
SMTP server: aiosmtpd, STARTTLS + AUTH)."""
from __future__ import annotations

from agent.sync.messages import ETicketsRequest, SaleLine, SaleRequest
from server_stub import mail
from tests.helpers import wait_for
from tests.sync_fixtures import ORG, make_store, start_server
from tests.test_desk_server import Kiosk
from tests.test_mail_etickets import PASSWORD, USER, smtp  # noqa: F401  (the SMTP fixture)


def test_an_orders_etickets_are_mailed_again_only_after_a_minute(tmp_path, broker, smtp):  # noqa: F811
    """10 requests for the same order's e-tickets (its number typed 3 ways). Before: 10 e-mails in the buyer's
    mailbox, as many as the thief asked (each also spends the organiser's sending quota). Now 1, and 9 answers
    'busy' with the seconds to wait, which the kiosk says in its language."""
    controller, handler, crt = smtp
    store, event, _ = make_store(tmp_path / "server", tickets=0, devices=())
    store.set_price(ORG, event, 1, 1250)
    store.register_device(ORG, "kiosk-1", events=[event], role="kiosk")
    mail.configure(store, mail.MailSettings("127.0.0.1", controller.port, USER, "b@tickets.example", str(crt),
                                            attempts=1, retry_seconds=0.05), PASSWORD)
    server = start_server(store, broker.port)
    kiosk = Kiosk("kiosk-1", broker.port, store.server_public_key(ORG))
    try:
        kiosk.ask(SaleRequest(ORG, "kiosk-1", "s1", event, (SaleLine(1, 1),), email="ana@example.org"))
        assert wait_for(lambda: "s1" in kiosk.answers, 10)
        number = kiosk.answers["s1"].order_number
        typed = [number, number.lower(), number.replace("-", " ")]
        for i in range(10):
            kiosk.ask(ETicketsRequest(ORG, "kiosk-1", f"m{i}", typed[i % 3]))
        assert wait_for(lambda: all(f"m{i}" in kiosk.answers for i in range(10)), 30)
        answers = [kiosk.answers[f"m{i}"] for i in range(10)]
        assert [a.ok for a in answers].count(True) == 1 and len(handler.messages) == 1, answers
        busy = [a for a in answers if not a.ok]
        assert all(a.reason_code == "busy" and 0 < a.reason_params["seconds"] <= 60 for a in busy), busy
    finally:
        kiosk.t.stop()
        server.stop()
        store.close()
