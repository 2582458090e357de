"""One error root (issue 11): every exception class defined in the product folders derives from
agent.errors.TicketgateError, so `except TicketgateError` catches what is raised on purpose and nothing else."""
from __future__ import annotations

import ast
import builtins
import importlib
from pathlib import Path

from agent.errors import TicketgateError

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("agent", "drivers", "kiosk_ui", "provisioning", "server_stub")
BUILTIN_ERRORS = {name for name, obj in vars(builtins).items() if isinstance(obj, type) and issubclass(obj, BaseException)}


def exception_classes() -> list[tuple[str, str]]:
    """(module, class) of every top-level class whose bases name a builtin exception or another such class."""
    found: list[tuple[str, str]] = []
    names = set(BUILTIN_ERRORS)
    for _ in range(3):                           # subclasses of our own exceptions, across modules
        for path in sorted(p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            for node in tree.body:
                if isinstance(node, ast.ClassDef):
                    bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
                    if bases & names and (module, node.name) not in found:
                        found.append((module, node.name))
                        names.add(node.name)
    return found


def test_every_exception_class_has_the_one_root():
    classes = exception_classes()
    assert len(classes) >= 20
    outside = []
    for module, name in classes:
        cls = getattr(importlib.import_module(module), name)
        if not issubclass(cls, TicketgateError):
            outside.append(f"{module}.{name}")
    assert outside == []


def test_the_root_keeps_builtin_meaning():
    from agent.sync.signed import Rejected
    from provisioning.mqtt_connect import Refused
    from server_stub.store.base import NotFound
    assert issubclass(Rejected, ValueError) and issubclass(Refused, PermissionError)
    assert issubclass(NotFound, LookupError) and issubclass(NotFound, TicketgateError)


def test_a_bug_in_a_server_command_keeps_its_traceback(tmp_path, monkeypatch, capsys):
    """Refusals exit 1 with a message; a bug (here a KeyError in a handler) is not dressed up as one."""
    import pytest

    from agent.cli import main
    from server_stub import cli_commands
    from server_stub.cli_output import Refused
    from server_stub.store import SqliteStore
    store = SqliteStore.open(tmp_path / "data")
    store.create_organiser("acme", "Acme")
    store.close()
    argv = ["server", "event", "list", "--data", str(tmp_path / "data")]

    def refused(store, org, args):
        raise Refused("no such thing")
    monkeypatch.setitem(cli_commands.HANDLERS, ("event", "list"), refused)
    assert main(argv) == 1 and "no such thing" in capsys.readouterr().err

    def buggy(store, org, args):
        return {}["missing"]
    monkeypatch.setitem(cli_commands.HANDLERS, ("event", "list"), buggy)
    with pytest.raises(KeyError):
        main(argv)
    assert main(["server", "event", "create", "--data", str(tmp_path / "data"), "--name", "x", "--start",
                 "2030-01-01 10:00", "--end", "2030-01-01 12:00", "--tz", "../etc/passwd"]) == 1
    assert "unknown time zone" in capsys.readouterr().err


def test_a_bug_in_a_kiosk_effect_is_not_reported_as_not_applied(tmp_path, monkeypatch):
    """A refused kiosk message is kept and reported; a bug while applying one rolls the batch back and raises
    (the sync server logs it with its traceback, acks nothing, the device sends it again)."""
    import pytest

    from server_stub.store import SqliteStore
    store = SqliteStore.open(tmp_path / "data")
    store.create_organiser("fest", "Fest")
    ev = store.create_event("fest", "Night", 0, 4e9, "Europe/Paris", [], [])
    store.register_device("fest", "kiosk-1", gate="desk", events=[ev], role="kiosk")
    pending = store.add_order("fest", ev, "Ann", status="pending")
    msg = {"type": "kiosk", "action": "payment_validated", "order_number": pending["number"], "device_id": "kiosk-1",
           "outbox_id": 1}
    monkeypatch.setattr(type(store), "validate_payment", lambda self, number: {}[number])     # a KeyError bug
    with pytest.raises(KeyError):
        store.ingest([msg])
    assert store.kiosk_actions("fest") == [] and store.order(pending["number"])["status"] == "pending"
    monkeypatch.undo()
    store.cancel_order(pending["number"], "sold out")
    assert store.ingest([msg]) == (1, 0)                   # refused on purpose: kept, not applied
    assert store.order(pending["number"])["status"] == "cancelled"
    store.close()


def test_a_bug_in_the_device_sync_is_logged_not_called_malformed(tmp_path, broker, monkeypatch, caplog):
    """A signed message with a bad field is refused naming the field; a bug while applying a good one is an
    internal error with its traceback in the log, and the sync goes on."""
    import logging
    import time

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from agent.sync import BrokerConfig, device_transport, topics
    from agent.sync.device import DeviceSync
    from agent.sync.signed import seal
    caplog.set_level(logging.WARNING)
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    sync = DeviceSync(tmp_path / "ledger.sqlite", "acme", "gate-a", public,
                      device_transport("acme", "gate-a", BrokerConfig(port=broker.port))).start()
    try:
        def send(body: dict) -> str:
            before = len(sync.rejections)
            sync._put(("msg", topics.live("acme", 1), seal(dict(body, org="acme", ts=time.time()), key.sign)))
            deadline = time.monotonic() + 5
            while len(sync.rejections) == before and time.monotonic() < deadline:
                time.sleep(0.02)
            return sync.rejections[-1][1] if len(sync.rejections) > before else ""
        update = {"type": "update", "event": 1, "revocations": []}
        assert send(dict(update, id="m1", tickets={"rows": 5})).startswith("bad tickets.columns")
        assert "Traceback" not in caplog.text
        monkeypatch.setattr("agent.sync.device.apply_live", lambda ledger, body: {}["bug"])
        assert send(dict(update, id="m2")) == "internal error KeyError"
        assert "Traceback" in caplog.text and "{}[\"bug\"]" in caplog.text
    finally:
        sync.stop()


def test_provision_commands_refuse_bad_input_with_a_message(tmp_path, capsys):
    from agent.cli import main
    from server_stub.store import SqliteStore
    store = SqliteStore.open(tmp_path / "data")
    store.create_organiser("acme", "Acme")
    store.close()
    base = ["provision", "tokens", "create", "--data", str(tmp_path / "data"), "--org", "acme", "--server",
            "127.0.0.1:8787"]
    assert main([*base, "--events", "1,x", "--out", str(tmp_path / "s.png")]) == 1
    assert "--events '1,x': comma-separated event ids" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path / "s.gif")]) == 1
    assert "sheets are .pdf or .png" in capsys.readouterr().err
    assert main(["provision", "devices", "--data", str(tmp_path / "nothing"), "--org", "acme"]) == 1
    assert capsys.readouterr().err.startswith("ticketgate provision: ")


def test_app_enrollment_shows_refusals_in_words_and_logs_bugs(tmp_path, caplog):
    """The Set-up screen's enrollment: an EnrollError is shown as it is; a bug leaves 'enrolling' as an internal
    error and its traceback goes to the log."""
    import logging

    from kiosk_ui.adapters.enrollment import Enrollment
    from provisioning.device.enroll import EnrollError
    from provisioning.protocol import EnrollQR

    qr = EnrollQR("A" * 52, "0123456789ABCDEF", "127.0.0.1:9", "acme").text()

    def refused(state, server, **kw):
        raise EnrollError("server refused (401): unknown enrollment QR", 401)

    def buggy(state, server, **kw):
        return {}["bug"]
    caplog.set_level(logging.ERROR)
    svc = Enrollment(tmp_path / "a", enroll=refused)
    svc.enroll_with_qr(qr)
    assert svc.wait(5).message == "server refused (401): unknown enrollment QR" and "Traceback" not in caplog.text
    svc = Enrollment(tmp_path / "b", enroll=buggy)
    svc.enroll_with_qr(qr)
    done = svc.wait(5)
    assert done.step == "failed" and done.message == "internal error (KeyError); see the log"
    assert "Traceback" in caplog.text


def test_a_bug_in_a_payload_reader_is_refused_and_logged(monkeypatch, caplog):
    """The door never crashes on a scan; but a reader's bug is in the log with its traceback, not only a verdict."""
    import logging

    from agent import payload
    from agent.keyring import Keyring
    caplog.set_level(logging.ERROR)
    assert payload.read_payload("hello", Keyring(), 0).status == payload.MALFORMED and "Traceback" not in caplog.text
    monkeypatch.setattr(payload, "_read_pretix", lambda text, keyring: {}["bug"])
    decoded = payload.read_payload("hello", Keyring(), 0)
    assert decoded.status == payload.MALFORMED and decoded.detail == "unreadable payload (KeyError)"
    assert "Traceback" in caplog.text and "payload reader failed" in caplog.text
