"""A stolen kiosk asks the server, through a real mosquitto, to e-mail one buyer's e-tickets over and over (real
SMTP server: aiosmtpd, STARTTLS + AUTH)."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from agent.sync.messages import ETicketsRequest, SaleLine, SaleRequest
from server_stub import mail
from tests.helpers import wait_for
from tests.sync_fixtures import ORG, make_store, start_server
from tests.test_desk_server import Kiosk
from tests.test_mail_etickets import PASSWORD, USER, smtp  # noqa: F401  (the SMTP fixture)


@contextmanager
def _kiosk_mailing(tmp_path: Path, broker: Any, smtp: Any) -> Iterator[tuple[int, Kiosk, Any]]:
    """A server with mail set up (the real SMTP server of `smtp`) and a priced event; its kiosk-1 online: (the
    event, the kiosk, the SMTP handler holding what was mailed)."""
    controller, handler, crt = smtp
    store, event, _ = make_store(tmp_path / "server", tickets=0, devices=())
    store.set_price(ORG, event, 1, 1250)
    store.register_device(ORG, "kiosk-1", events=[event], role="kiosk")
    mail.configure(store, mail.MailSettings("127.0.0.1", controller.port, USER, "b@tickets.example", str(crt),
                                            attempts=1, retry_seconds=0.05), PASSWORD)
    server = start_server(store, broker.port)
    kiosk = Kiosk("kiosk-1", broker.port, store.server_public_key(ORG))
    try:
        yield event, kiosk, handler
    finally:
        kiosk.t.stop()
        server.stop()
        store.close()


def test_an_orders_etickets_are_mailed_again_only_after_a_minute(tmp_path, broker, smtp):  # noqa: F811
    """10 requests for the same order's e-tickets (its number typed 3 ways). Before: 10 e-mails in the buyer's
    mailbox, as many as the thief asked (each also spends the organiser's sending quota). Now 1, and 9 answers
    'busy' with the seconds to wait, which the kiosk says in its language."""
    with _kiosk_mailing(tmp_path, broker, smtp) as (event, kiosk, handler):
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


def test_an_address_with_a_line_break_is_refused_and_the_mail_worker_goes_on(tmp_path, broker, smtp):  # noqa: F811
    """A stolen kiosk sells an order to 'ana@example.org\\r\\nBcc: all@victims.example' and asks for its e-tickets,
    then another order's. Before: the sale was taken; composing its mail raised ValueError ('Header values may not
    contain linefeed'), past the mail worker's handling: the worker thread ended and no kiosk got e-tickets again
    until the server restarted (the next request never answered). Now the sale is refused with the reason, and the
    other order's e-tickets are mailed."""
    with _kiosk_mailing(tmp_path, broker, smtp) as (event, kiosk, handler):
        kiosk.ask(SaleRequest(ORG, "kiosk-1", "bad", event, (SaleLine(1, 1),),
                              email="ana@example.org\r\nBcc: all@victims.example"))
        kiosk.ask(SaleRequest(ORG, "kiosk-1", "good", event, (SaleLine(1, 1),), email="ben@example.org"))
        assert wait_for(lambda: {"bad", "good"} <= set(kiosk.answers), 10)
        if kiosk.answers["bad"].ok:                        # (the code before: taken; its e-tickets asked for)
            kiosk.ask(ETicketsRequest(ORG, "kiosk-1", "m-bad", kiosk.answers["bad"].order_number))
            wait_for(lambda: "m-bad" in kiosk.answers, 5)
        assert not kiosk.answers["bad"].ok and "no spaces or line breaks" in kiosk.answers["bad"].reason
        kiosk.ask(ETicketsRequest(ORG, "kiosk-1", "m-good", kiosk.answers["good"].order_number))
        assert wait_for(lambda: "m-good" in kiosk.answers, 30), "the mail worker never answered"
        assert kiosk.answers["m-good"].ok and len(handler.messages) == 1
