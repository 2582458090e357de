"""E-tickets e-mailed to buyers: one message per order (a PNG per ticket and the order's PDF), worded in the event's
language with times in its time zone, sent over SMTP with STARTTLS and authentication (smtplib).

Settings (`ticketgate server mail configure`): host, port, user, sender, optional CA file, retries; kept in the store's
settings; the password in DATA/mail/smtp-password (0600), never logged nor shown. Delivery:
- a recipient refused with a 5xx answer (550 no such user…) is `refused`: reported, never retried;
- any other 5xx (sender refused, message rejected, authentication failed) is `failed`, never retried;
- a 4xx answer or a dropped connection is temporary: retried `attempts` times in all, waiting `retry_seconds`,
  then twice as long…; still failing: `failed`.
The outcome is stored per order (`order show`, the kiosk).
"""
from __future__ import annotations

import base64
import smtplib
import ssl
import time
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from pathlib import Path
from typing import Callable

from agent.errors import InvalidInput, TicketgateError
from agent.private_files import private_dir, write_private
from server_stub.eticket_content import ETicketError, gather
from server_stub.eticket_pdf import render_pdf
from server_stub.eticket_png import render_png

SETTING = "mail"
SENT, REFUSED, FAILED = "sent", "refused", "failed"

WORDING = {
    "en": ("Your tickets for {event}",
           "Hello {name},\n\nYour {n} ticket(s) for {event} ({when}) are attached, order {order}.\n"
           "Show the QR code at the entrance, on screen or printed.\n\n{organiser}\n"),
    "fr": ("Vos billets pour {event}",
           "Bonjour {name},\n\nVos {n} billet(s) pour {event} ({when}) sont joints, commande {order}.\n"
           "Présentez le QR code à l'entrée, sur écran ou imprimé.\n\n{organiser}\n"),
}


class MailError(TicketgateError):
    """Mail is not configured, or this order cannot be mailed."""


@dataclass(frozen=True)
class MailSettings:
    host: str
    port: int
    user: str
    sender: str
    ca_file: str = ""              # trust this CA for STARTTLS (else the system's)
    attempts: int = 3              # for temporary failures (4xx, connection lost); 1..10
    retry_seconds: float = 30.0    # first wait; doubles each time
    timeout: float = 30.0

    def check(self) -> "MailSettings":
        if not self.host or not 0 < self.port < 65536:
            raise InvalidInput("mail: a host and a port 1..65535")
        if "@" not in self.sender:
            raise InvalidInput(f"mail: sender {self.sender!r} is not an e-mail address")
        if not 1 <= self.attempts <= 10 or not 0 <= self.retry_seconds <= 3600:
            raise InvalidInput("mail: attempts 1..10, retry seconds 0..3600")
        return self


def password_file(data_dir: Path) -> Path:
    return Path(data_dir) / "mail" / "smtp-password"


def configure(store, settings: MailSettings, password: str | None) -> dict:
    settings.check()
    if password is not None:
        if not password or "\n" in password:
            raise InvalidInput("mail: the password is one non-empty line")
        private_dir(password_file(store.data_dir).parent)
        write_private(password_file(store.data_dir), password)
    store.set_setting(SETTING, asdict(settings))
    return shown(store)


NOT_CONFIGURED = ("mail is not configured: ticketgate server mail configure --host SMTP_HOST [--port 587] --user USER "
                  "--from ADDRESS (it asks for the password)")


def shown(store) -> dict:
    """The settings without the password (whether one is stored)."""
    s = store.get_setting(SETTING)
    if s is None:
        raise MailError(NOT_CONFIGURED)
    return dict(s, password_stored=password_file(store.data_dir).exists())


def load(store) -> tuple[MailSettings, str]:
    s = store.get_setting(SETTING)
    if s is None:
        raise MailError(NOT_CONFIGURED)
    try:
        password = password_file(store.data_dir).read_text().strip()
    except FileNotFoundError:
        raise MailError("mail: no SMTP password stored (ticketgate server mail configure --password-stdin)") from None
    return MailSettings(**s), password


def compose(store, org: str, number: str, sender: str) -> EmailMessage:
    """The order's e-tickets as one message in the event's language (raises MailError when there is nothing to send)."""
    order = store.order(number)
    if order["org"] != org:
        raise MailError(f"no order {number!r}")
    if not order["email"]:
        raise MailError(f"order {number} has no e-mail address")
    if any(c.isspace() for c in order["email"]):     # stored before addresses were checked
        raise MailError(f"order {number}'s e-mail address {order['email']!r} is not one (spaces or line breaks)")
    tickets = []
    for t in order["tickets"]:
        try:
            tickets.append(gather(store, t["ticket_key"]))
        except ETicketError:
            continue
    if not tickets:
        raise MailError(f"order {number} has no e-ticket to send (cancelled, refunded, revoked or blocked)")
    first = tickets[0]
    subject, body = WORDING.get(first.language, WORDING["en"])
    fields = {"event": first.title, "name": order["buyer_name"], "n": len(tickets), "when": "; ".join(first.when),
              "order": number, "organiser": first.organiser}
    msg = EmailMessage()
    msg["Subject"] = "".join(c if c.isprintable() else " " for c in subject.format(**fields))   # a header: one line
    msg["From"] = sender
    msg["To"] = formataddr(("".join(c if c.isprintable() else " " for c in order["buyer_name"]), order["email"]))
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    msg.set_content(body.format(**fields))
    for e in tickets:
        msg.add_attachment(render_png(e), maintype="image", subtype="png", filename=f"{e.file_stem}.png")
    msg.add_attachment(render_pdf(tickets), maintype="application", subtype="pdf", filename=f"{number}.pdf")
    return msg


def _deliver(settings: MailSettings, password: str, msg: EmailMessage) -> None:
    context = ssl.create_default_context(cafile=settings.ca_file or None)
    with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
        smtp.ehlo()
        if not smtp.has_extn("starttls"):
            raise smtplib.SMTPNotSupportedError("the SMTP server offers no STARTTLS: the password is never sent in clear")
        smtp.starttls(context=context)
        smtp.ehlo()
        _login(smtp, settings.user, password)
        smtp.send_message(msg)


def _login(smtp: smtplib.SMTP, user: str, password: str) -> None:
    """AUTH PLAIN in UTF-8 (smtplib's login encodes ASCII only: an accented password would crash it); LOGIN and
    the others through smtplib when the server offers no PLAIN."""
    if "PLAIN" not in smtp.esmtp_features.get("auth", "").upper().split():
        smtp.login(user, password)
        return
    token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode("ascii")
    code, answer = smtp.docmd("AUTH", "PLAIN " + token)
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, answer)


def _outcome(exc: Exception) -> tuple[str, str, bool]:
    """(status, detail, temporary) of a failed delivery."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, answer = next(iter(exc.recipients.values()))
        text = f"{code} {answer.decode(errors='replace') if isinstance(answer, bytes) else answer}"
        return (FAILED, text, True) if 400 <= code < 500 else (REFUSED, text, False)
    if isinstance(exc, smtplib.SMTPResponseException):
        text = f"{exc.smtp_code} {exc.smtp_error.decode(errors='replace') if isinstance(exc.smtp_error, bytes) else exc.smtp_error}"
        return FAILED, text, 400 <= exc.smtp_code < 500
    if isinstance(exc, (smtplib.SMTPNotSupportedError, ssl.SSLError)):
        return FAILED, str(exc), False
    return FAILED, f"{type(exc).__name__}: {exc}", True          # connection refused, lost, timed out


def send_etickets(store, org: str, number: str, sleep: Callable[[float], None] = time.sleep) -> dict:
    """Mail an order's e-tickets; the outcome is stored and returned ({address, status, detail, attempts, at})."""
    settings, password = load(store)
    order = store.order(number)
    try:
        msg = compose(store, org, order["number"], settings.sender)
    except MailError as exc:
        if order["org"] == org and order["email"]:
            store.set_mail_status(org, order["number"], order["email"], FAILED, str(exc), 0)
        raise
    status, detail, attempt = FAILED, "", 0
    for attempt in range(1, settings.attempts + 1):
        try:
            _deliver(settings, password, msg)
            status, detail = SENT, ""
            break
        except (smtplib.SMTPException, OSError) as exc:
            status, detail, temporary = _outcome(exc)
            if not temporary:
                break
            if attempt < settings.attempts:
                sleep(settings.retry_seconds * 2 ** (attempt - 1))
            else:
                detail = f"gave up after {attempt} attempts: {detail}"
    return store.set_mail_status(org, order["number"], order["email"], status, detail, attempt)
