"""Who took the money at the desk: `ticketgate agent pay N --operator WHO`, as the kiosk operator's guide showed it,
recorded WHO only in the message's `operator` text, which the server ignores: the Z report's "Per staff member" said
"-" or the supervisor logged in, never WHO. The reports name the staff member on duty (`agent login`); --operator now
must be them (by name or id) and is refused, nothing recorded, otherwise."""
from __future__ import annotations

import json

import pytest

from agent.sync.messages import SaleLine, SaleRequest
from server_stub.store import open_store
from tests.broker import mosquitto_binary
from tests.qa_organiser import organiser_running
from tests.test_qa_skew import _event_now
from tests.test_qa_user_paths import tg

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def _staff(home, name: str, role: str, pin: str) -> str:
    out = tg(home, "server", "staff", "add", "--name", name, "--role", role, "--pin", "--json", stdin=pin + "\n")
    return json.loads(out.stdout)["staff_id"]


def test_agent_pay_operator_names_the_staff_member_on_duty_in_the_reports(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    _event_now(home)
    sam, _ = _staff(home, "Sam Lee", "supervisor", "9876"), _staff(home, "Kim", "supervisor", "1357")
    tg(home, "server", "price", "set", "1", "--category", "1", "--cents", "3500")
    with organiser_running(home) as running:
        running.enroll(home, "desk", "1", "kiosk")
        device = json.loads((home / "device" / "credentials.json").read_text())["device_id"]
        shift = json.loads(tg(home, "server", "till", "open", device, "--float-cents", "0", "--json").stdout)
        store = open_store(home / ".local" / "share" / "ticketgate" / "server", create=False)
        try:       # an invoice sale of this desk: a priced order, pending until paid at the desk
            sold = store.sell("acme", device, SaleRequest("acme", device, "s1", 1, (SaleLine(1, 1),), payment="invoice"))
        finally:
            store.close()
        assert sold.ok and sold.status == "pending", sold
        tg(home, "server", "push")
        tg(home, "agent", "sync", "--until-idle", "--for", "40")
        tg(home, "agent", "login", "--staff", "Sam Lee", "--pin", stdin="9876\n")

        for who, says in (("Nobody", "--operator: no staff member 'Nobody' on this device: give the full name, as `ticketgate "
                                     "server staff list` shows it, or the staff id; nothing recorded"),
                          ("Kim", "Kim is not on duty on this device (Sam Lee is); nothing recorded")):
            refused = tg(home, "agent", "pay", sold.order_number, "--operator", who, ok=False)
            assert refused.returncode == 1 and says in refused.stderr, refused.stderr
        assert json.loads(tg(home, "agent", "status", "--json").stdout)["counts"]["outbox_pending"] == 0

        tg(home, "agent", "pay", sold.order_number, "--operator", "sam lee", "--payment", "cash")
        tg(home, "agent", "sync", "--until-idle", "--for", "40")
        z = json.loads(tg(home, "server", "till", "z-report", str(shift["shift_id"]), "--json").stdout)
        per_staff = {s["staff"]: (s["staff_id"], s["cash_cents"]) for s in z["per_staff"]}
        assert per_staff["Sam Lee"] == (sam, 3500), per_staff       # the invoice sale (no one) is "-", no cash
        assert "  Sam Lee" in tg(home, "server", "till", "z-report", str(shift["shift_id"])).stdout
        actions = tg(home, "server", "staff", "actions", "--staff", sam).stdout
        assert "payment_validated" in actions and device in actions, actions
