"""E-tickets e-mailed to buyers (server_stub/mail.py) through a real SMTP server on loopback (aiosmtpd) with STARTTLS
(a self-signed certificate made here) and AUTH: the message and its attachments read back, the QR decoded from the
PNG and verified by the core, the PDF's text; French wording and the event's time zone; a refused recipient (550)
reported and not retried; a temporary refusal (451) retried a bounded number of times with backoff; a wrong password
and a server without STARTTLS never retried, the password never sent in clear nor shown."""
from __future__ import annotations

import datetime as dt
import email
import email.policy
import io
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pypdf
import pytest
import zxingcpp
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from PIL import Image

from agent.payload import read_payload
from server_stub import mail

ROOT = Path(__file__).resolve().parent.parent
USER, PASSWORD = "box@tickets.example", "s3cret-Pässword"


def _cert(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    crt, pem = folder / "smtp.crt", folder / "smtp.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return crt, pem


class Handler:
    def __init__(self):
        self.messages: list[bytes] = []
        self.rcpt: list[str] = []
        self.logins: list[tuple[str, str]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.rcpt.append(address)
        if address.startswith("refused"):
            return "550 5.1.1 mailbox unavailable"
        if address.startswith("busy"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.content)
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(tmp_path):
    crt, key = _cert(tmp_path)
    handler = Handler()

    def authenticator(server, session, envelope, mechanism, auth_data):
        handler.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        ok = (auth_data.login.decode(), auth_data.password.decode()) == (USER, PASSWORD)
        return AuthResult(success=ok, handled=False)      # not handled: aiosmtpd answers 535 itself

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(crt, key)
    c = Controller(handler, hostname="127.0.0.1", port=_free_port(), tls_context=ctx, require_starttls=True,
                   authenticator=authenticator, auth_required=True, auth_require_tls=True)
    c.start()
    try:
        yield c, handler, crt
    finally:
        c.stop()


def _server(data: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = dict(os.environ, TICKETGATE_SERVER_DB="")
    return subprocess.run([sys.executable, "-m", "agent", "server", "--data", str(data), *args], cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=120, env=env)


def _setup(data: Path, smtp_port: int, ca: Path, buyers: list[tuple[str, str]]) -> tuple[int, list[str]]:
    assert _server(data, "init", "--org", "fest", "--name", "Festival d'été").returncode == 0
    r = _server(data, "event", "create", "--name", "Nuit blanche", "--start", "2026-12-31 20:00", "--end",
                "2027-01-01 02:00", "--tz", "America/Montreal", "--lang", "fr", "--category", "1=Adulte", "--json")
    assert r.returncode == 0, r.stderr
    e = json.loads(r.stdout)["event_id"]
    numbers = []
    for name, address in buyers:
        r = _server(data, "order", "add", "--event", str(e), "--buyer", name, "--email", address, "--ticket",
                    "category=1", "--quantity", "2", "--json")
        assert r.returncode == 0, r.stderr
        numbers.append(json.loads(r.stdout)["number"])
    r = _server(data, "mail", "configure", "--host", "127.0.0.1", "--port", str(smtp_port), "--user", USER, "--from",
                "billets@tickets.example", "--ca", str(ca), "--attempts", "3", "--retry-seconds", "0.05",
                "--password-stdin", "--json", stdin=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    assert PASSWORD not in r.stdout + r.stderr and json.loads(r.stdout)["password_stored"] is True
    return e, numbers


def test_etickets_mailed_in_french_with_verified_qr_and_a_refused_address(smtp, tmp_path):
    controller, handler, crt = smtp
    data = tmp_path / "server"
    _, (ok, refused) = _setup(data, controller.port, crt, [("Zoë Lefèvre", "zoe@example.org"),
                                                           ("Bob", "refused@example.org")])
    pw = mail.password_file(data)
    assert oct(pw.stat().st_mode & 0o777) == "0o600" and pw.read_text() == PASSWORD
    assert PASSWORD.encode() not in (data / "server.sqlite").read_bytes()
    assert PASSWORD not in _server(data, "mail", "show").stdout

    r = _server(data, "order", "send-etickets", ok)
    assert r.returncode == 0, r.stderr
    assert "SENT" in r.stdout and PASSWORD not in r.stdout + r.stderr
    assert handler.logins == [(USER, PASSWORD)] and len(handler.messages) == 1
    msg = email.message_from_bytes(handler.messages[0], policy=email.policy.default)
    assert msg["Subject"] == "Vos billets pour Nuit blanche" and "zoe@example.org" in msg["To"]
    body = msg.get_body(("plain",)).get_content()
    assert "Bonjour Zoë Lefèvre" in body and "2 billet(s)" in body and "20:00" in body    # Montreal time, not UTC
    files = {p.get_filename(): p.get_content() for p in msg.iter_attachments()}
    pngs = sorted(f for f in files if f.endswith(".png"))
    assert len(pngs) == 2 and f"{ok}.pdf" in files
    from server_stub.store import open_store
    with open_store(data, create=False) as store:
        keyring = store.keyring("fest")
        tickets = {t["ticket_key"] for t in store.order(ok)["tickets"]}
    seen = set()
    for name in pngs:
        found = zxingcpp.read_barcodes(Image.open(io.BytesIO(files[name])), formats=zxingcpp.BarcodeFormat.QRCode)
        decoded = read_payload(found[0].text, keyring, time.time())
        assert decoded.status == "ok"
        seen.add(str(decoded.ticket.ticket_id))
    assert seen == tickets
    pdf_text = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(files[f"{ok}.pdf"])).pages)
    assert "Nuit blanche" in pdf_text and "Zoë Lefèvre" in pdf_text
    r = _server(data, "order", "show", ok, "--json")
    assert json.loads(r.stdout)["mail"]["status"] == "sent"

    handler.rcpt.clear()
    r = _server(data, "order", "send-etickets", refused)
    assert r.returncode == 1 and "REFUSED" in r.stdout and "550" in r.stdout
    assert handler.rcpt == ["refused@example.org"] and len(handler.messages) == 1      # tried once, nothing sent
    shown = _server(data, "order", "show", refused)
    assert "REFUSED" in shown.stdout and "550" in shown.stdout
    r = _server(data, "order", "send-etickets", "NOPE-1")
    assert r.returncode == 1


def test_temporary_refusal_retried_with_backoff_then_reported(smtp, store):
    controller, handler, crt = smtp
    e = store.create_event("fest", "Night", time.time(), time.time() + 3600, categories=[{"category_id": 1, "name": "A"}])
    order = store.add_order("fest", e, "Busy", "busy@example.org", positions=[{"category": 1}])
    mail.configure(store, mail.MailSettings("127.0.0.1", controller.port, USER, "b@tickets.example", str(crt),
                                            attempts=3, retry_seconds=0.25), PASSWORD)
    waits: list[float] = []
    result = mail.send_etickets(store, "fest", order["number"], sleep=waits.append)
    assert result["status"] == "failed" and result["attempts"] == 3 and "451" in result["detail"]
    assert waits == [0.25, 0.5] and handler.rcpt == ["busy@example.org"] * 3 and not handler.messages
    assert store.mail_status(order["number"])["status"] == "failed"


def test_wrong_password_and_no_starttls_are_not_retried(smtp, store, tmp_path):
    controller, handler, crt = smtp
    e = store.create_event("fest", "Night", time.time(), time.time() + 3600, categories=[{"category_id": 1, "name": "A"}])
    order = store.add_order("fest", e, "Ann", "ann@example.org", positions=[{"category": 1}])
    mail.configure(store, mail.MailSettings("127.0.0.1", controller.port, USER, "b@tickets.example", str(crt)), "wrong")
    waits: list[float] = []
    result = mail.send_etickets(store, "fest", order["number"], sleep=waits.append)
    assert result["status"] == "failed" and result["attempts"] == 1 and "535" in result["detail"] and not waits
    # a server without STARTTLS: the client stops before AUTH
    plain = Handler()
    c = Controller(plain, hostname="127.0.0.1", port=_free_port(), auth_require_tls=False)
    c.start()
    try:
        mail.configure(store, mail.MailSettings("127.0.0.1", c.port, USER, "b@tickets.example"), PASSWORD)
        result = mail.send_etickets(store, "fest", order["number"], sleep=waits.append)
    finally:
        c.stop()
    assert result["status"] == "failed" and "STARTTLS" in result["detail"] and not waits and not plain.messages
    # nothing to send: no address
    bare = store.add_order("fest", e, "No mail", positions=[{"category": 1}])
    with pytest.raises(mail.MailError, match="no e-mail address"):
        mail.send_etickets(store, "fest", bare["number"])
    with pytest.raises(ValueError):
        mail.configure(store, mail.MailSettings("127.0.0.1", 0, USER, "nobody"), "x")


def test_the_password_piped_to_mail_configure_as_the_guide_says(smtp, tmp_path):
    """The guide: the password "is read from the prompt or one line of standard input". Piped without
    --password-stdin, `mail configure` went to getpass: with a terminal it asked on the terminal and ignored the
    pipe; without one it read the pipe but printed "GetPassWarning … Warning: Password input may be echoed." Piped,
    it now reads the one line, says nothing of echoing, and the buyer's e-tickets go out with it."""
    controller, handler, crt = smtp
    data = tmp_path / "server"
    _, (number,) = _setup(data, controller.port, crt, [("Zoë Lefèvre", "zoe@example.org")])
    mail.password_file(data).unlink()                         # as before `mail configure` ever ran with a password
    r = subprocess.run([sys.executable, "-m", "agent", "server", "--data", str(data), "mail", "configure", "--host",
                        "127.0.0.1", "--port", str(controller.port), "--user", USER, "--from",
                        "billets@tickets.example", "--ca", str(crt)], cwd=ROOT, input=PASSWORD + "\n",
                       capture_output=True, text=True, timeout=120, start_new_session=True,     # no terminal
                       env=dict(os.environ, TICKETGATE_SERVER_DB=""))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert mail.password_file(data).read_text() == PASSWORD
    sent = _server(data, "order", "send-etickets", number)
    assert sent.returncode == 0 and "SENT" in sent.stdout, sent.stdout + sent.stderr
    assert handler.logins[-1] == (USER, PASSWORD)


def test_a_refused_address_is_corrected_and_the_etickets_sent_again(smtp, tmp_path):
    """The guide: "An address the mail server refuses is reported (REFUSED) …; fix the address and send again". No
    command changed an order's address: the organiser was stuck with REFUSED (the same address is not tried again
    by the mail server's word). `server order set NUMBER --email` corrects it; the e-tickets then go to the new one."""
    controller, handler, crt = smtp
    data = tmp_path / "server"
    _, (number,) = _setup(data, controller.port, crt, [("Bob", "refused@example.org")])
    assert "REFUSED" in _server(data, "order", "send-etickets", number).stdout
    bad = _server(data, "order", "set", number, "--email", "bob example.org")
    assert bad.returncode == 1 and "e-mail address 'bob example.org': like name@example.org expected" in bad.stderr
    fixed = _server(data, "order", "set", number, "--email", " bob@example.org ")
    assert fixed.returncode == 0 and "Bob <bob@example.org>" in fixed.stdout, fixed.stdout + fixed.stderr
    assert [o["number"] for o in json.loads(_server(data, "order", "find", "bob@example.org", "--json").stdout)] == [
        number]
    sent = _server(data, "order", "send-etickets", number)
    assert sent.returncode == 0 and "SENT" in sent.stdout, sent.stdout + sent.stderr
    assert handler.rcpt[-1] == "bob@example.org" and len(handler.messages) == 1
    assert json.loads(_server(data, "order", "show", number, "--json").stdout)["mail"]["status"] == "sent"


def test_an_orders_address_corrected_in_the_store_is_searched_and_changes_the_event_data(store):
    """Both backends: the corrected address replaces the old one in the search (SQLite FTS, PostgreSQL tsvector) and
    the organiser's data version moves (the devices get the order again); another organiser cannot change it."""
    e = store.create_event("fest", "Night", time.time(), time.time() + 3600, categories=[{"category_id": 1, "name": "A"}])
    order = store.add_order("fest", e, "Bob", "refused@example.org", positions=[{"category": 1}])
    before = store.version("fest")
    assert store.set_order_email("fest", order["number"], "bob@example.org")["email"] == "bob@example.org"
    assert [o["number"] for o in store.find_orders("bob@example.org", "fest")] == [order["number"]]
    assert store.find_orders("refused@example.org", "fest") == []
    assert store.version("fest") > before
    with pytest.raises(LookupError):
        store.set_order_email("other", order["number"], "x@example.org")
