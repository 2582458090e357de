"""The desk's commands on enrolled devices, through the public commands (`ticketgate …` subprocesses, the
provisioned broker, `server serve`). Each test fails on the defect it names."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.broker import mosquitto_binary
from tests.test_qa_skew import _event_now
from tests.test_qa_user_paths import _enrolled_door, tg

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def _verdict(home: Path, payload: str) -> str:
    return json.loads(tg(home, "agent", "scan", "--json", payload, ok=False).stdout)["verdict"]


def _order(home: Path, *flags: str) -> tuple[str, str]:
    """A new order of event 1 (`flags`: --pending): its number and its ticket's QR payload."""
    order = json.loads(tg(home, "server", "order", "add", "--event", "1", "--buyer", "Bob Roy", *flags, "--ticket",
                          "category=Adult,zone=Floor", "--json").stdout)
    key = order["tickets"][0]["ticket_key"]
    return order["number"], json.loads(tg(home, "server", "ticket", "show", key, "--json").stdout)["payload"]


def test_a_door_cannot_take_a_payment(tmp_path):
    """`agent pay` on a device enrolled as a door marked the pending order paid in the door's ledger ("order … paid")
    and the door admitted its tickets, while the server refused the payment (kiosk only): a way in for an unpaid
    ticket. Now it is refused at once and nothing changes."""
    home = tmp_path / "home"
    home.mkdir()
    _event_now(home)
    number, payload = _order(home, "--pending")
    with _enrolled_door(home, gate="north", events="1"):
        tg(home, "server", "push")
        tg(home, "agent", "sync", "--until-idle", "--for", "40")
        refused = tg(home, "agent", "pay", number, ok=False)
        assert refused.returncode == 1 and "enrolled as a door" in refused.stderr, refused
        assert json.loads(tg(home, "agent", "status", "--json").stdout)["counts"]["outbox_pending"] == 0
        assert _verdict(home, payload) == "unpaid"


def test_a_kiosk_cannot_pay_a_cancelled_order(tmp_path):
    """A kiosk's `agent pay` of an order the organiser had cancelled set it 'paid' on the kiosk (its scans admitted
    the cancelled tickets) while the server refused the payment ("cancelled, not pending"). Now it says the order is
    cancelled and records nothing; a pending order is still paid."""
    home = tmp_path / "home"
    home.mkdir()
    _event_now(home)
    cancelled, cancelled_payload = _order(home, "--pending")
    tg(home, "server", "order", "cancel", cancelled)
    pending, pending_payload = _order(home, "--pending")
    with _enrolled_door(home, gate="desk", events="1", role="kiosk"):
        tg(home, "server", "push")
        tg(home, "agent", "sync", "--until-idle", "--for", "40")
        refused = tg(home, "agent", "pay", cancelled, ok=False)
        assert refused.returncode == 1 and "cancelled, not pending" in refused.stderr, refused
        assert _verdict(home, cancelled_payload) in ("cancelled", "revoked")
        tg(home, "agent", "pay", pending)
        tg(home, "agent", "sync", "--until-idle", "--for", "40")
        assert json.loads(tg(home, "agent", "status", "--json").stdout)["refused_uploads"] == []
        assert json.loads(tg(home, "server", "order", "show", pending, "--json").stdout)["status"] == "paid"
        assert json.loads(tg(home, "server", "order", "show", cancelled, "--json").stdout)["status"] == "cancelled"
        assert _verdict(home, pending_payload) == "accepted"


def test_a_kiosk_takes_a_payment_for_an_order_number_typed_in_lower_case(tmp_path):
    """The guest reads out the order number, the operator types it in lower case: `agent pay k7m2-q9` said "no order
    k7m2-q9 on this device" (the device matched the case exactly). Now the kiosk finds the order in any case, says and
    queues the number as printed, and the server records the payment."""
    home = tmp_path / "home"
    home.mkdir()
    _event_now(home)
    pending, payload = _order(home, "--pending")
    typed = pending.lower()
    with _enrolled_door(home, gate="desk", events="1", role="kiosk"):
        tg(home, "server", "push")
        tg(home, "agent", "sync", "--until-idle", "--for", "40")
        found = json.loads(tg(home, "agent", "search", typed, "--json").stdout)
        assert {t["order_number"] for t in found} == {pending}
        paid = json.loads(tg(home, "agent", "pay", typed, "--json").stdout)
        assert paid["order_number"] == pending and paid["tickets"] == 1
        assert _verdict(home, payload) == "accepted"
        tg(home, "agent", "sync", "--until-idle", "--for", "40")
        assert json.loads(tg(home, "agent", "status", "--json").stdout)["refused_uploads"] == []
        assert json.loads(tg(home, "server", "order", "show", typed, "--json").stdout)["status"] == "paid"


def test_a_kiosk_does_not_exchange_a_ticket_twice(tmp_path):
    """`agent exchange` of a ticket the kiosk had already exchanged said "out of use here; the replacement comes with
    the next sync" again, queued a second exchange and the server refused it ("already revoked"): the operator
    promised a replacement that never came. Now it says the ticket is already out of use and queues nothing."""
    home = tmp_path / "home"
    home.mkdir()
    _event_now(home)
    number, _ = _order(home)
    key = json.loads(tg(home, "server", "order", "show", number, "--json").stdout)["tickets"][0]["ticket_key"]
    with _enrolled_door(home, gate="desk", events="1", role="kiosk"):
        tg(home, "server", "push")
        tg(home, "agent", "sync", "--until-idle", "--for", "40")
        tg(home, "agent", "exchange", key, "--reason", "torn")
        # its search says the ticket is out of use (it said only its order's status: "paid")
        found = {r["ticket_key"]: r for r in json.loads(tg(home, "agent", "search", number, "--json").stdout)}
        assert found[key]["revoked"] is True and found[key]["revoked_reason"].startswith("exchanged"), found
        assert "paid, out of use: exchanged" in tg(home, "agent", "search", number).stdout
        again = tg(home, "agent", "exchange", key, "--reason", "torn again", ok=False)
        assert again.returncode == 1 and "already out of use" in again.stderr, again
        tg(home, "agent", "sync", "--until-idle", "--for", "40")
        assert json.loads(tg(home, "agent", "status", "--json").stdout)["refused_uploads"] == []
        tickets = json.loads(tg(home, "server", "order", "show", number, "--json").stdout)["tickets"]
        assert len(tickets) == 2, tickets              # the exchanged one and its one replacement
