"""What a staff member took at the desk, by means, and the card reference `agent pay` asks for.

- The Z report's "Per staff member" line said a member's sales and cash only: a pending order they took by card
  (`agent pay --payment card`) was in no per-staff figure of the till (only `report sales` per staff, under the
  seller). Each member's line now says what they took by each means (`taken`: cash, card, voucher), one read model
  (server_stub.reports.taken) whatever move took it.
- `agent pay --payment card` took a card payment without the terminal's reference, which the app's payment screen
  requires: the same rule now (agent.sync.messages.reference_missing), refused with the app's words, nothing
  recorded; a split's card part without one is a usage error.
Through the public commands on an enrolled kiosk, real broker and SQLite store."""
from __future__ import annotations

import json

import pytest

from agent.sync.messages import SaleLine, SaleRequest
from server_stub.store import open_store
from tests.broker import mosquitto_binary
from tests.qa_organiser import organiser_running
from tests.test_desk_pay_operator import _staff
from tests.test_qa_skew import _event_now
from tests.test_qa_user_paths import tg

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def test_a_card_payment_needs_its_reference_and_the_z_report_names_it_under_its_staff_member(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    _event_now(home)
    sam = _staff(home, "Sam Lee", "supervisor", "9876")
    tg(home, "server", "price", "set", "1", "--category", "1", "--cents", "3500")
    with organiser_running(home) as running:
        running.enroll(home, "desk", "1", "kiosk")
        device = json.loads((home / "device" / "credentials.json").read_text())["device_id"]
        shift = json.loads(tg(home, "server", "till", "open", device, "--float-cents", "0", "--json").stdout)
        store = open_store(home / ".local" / "share" / "ticketgate" / "server", create=False)
        try:       # three invoice sales of this desk: pending until paid at the desk
            numbers = [store.sell("acme", device, SaleRequest("acme", device, f"s{i}", 1, (SaleLine(1, 1),),
                                                              payment="invoice")).order_number for i in range(3)]
        finally:
            store.close()
        tg(home, "server", "push")
        tg(home, "agent", "sync", "--until-idle", "--for", "40")
        tg(home, "agent", "login", "--staff", "Sam Lee", "--pin", stdin="9876\n")

        refused = tg(home, "agent", "pay", numbers[0], "--payment", "card", ok=False)
        assert refused.returncode == 1, refused
        assert "Type the terminal's or the voucher's reference. A card payment needs one (--reference): no payment " \
               "recorded" in refused.stderr, refused.stderr
        split = tg(home, "agent", "pay", numbers[0], "--split", "cash:10,card:25", ok=False)
        assert split.returncode == 2 and "Type the terminal's or the voucher's reference." in split.stderr, split.stderr
        assert json.loads(tg(home, "agent", "status", "--json").stdout)["counts"]["outbox_pending"] == 0

        tg(home, "agent", "pay", numbers[0], "--payment", "card", "--reference", "AUTH-7")
        tg(home, "agent", "pay", numbers[1], "--payment", "cash")
        tg(home, "agent", "pay", numbers[2], "--split", "cash:10,voucher:25:V-9")
        tg(home, "agent", "sync", "--until-idle", "--for", "40")
        z = json.loads(tg(home, "server", "till", "z-report", str(shift["shift_id"]), "--json").stdout)
        member = next(s for s in z["per_staff"] if s["staff_id"] == sam)
        assert member["taken"] == {"card": 3500, "cash": 4500, "voucher": 2500}, member
        assert member["cash_cents"] == 4500
        assert sum(sum(s["taken"].values()) for s in z["per_staff"]) == sum(
            c for m, c in z["payments"].items() if m != "invoice")
        text = tg(home, "server", "till", "z-report", str(shift["shift_id"])).stdout
        line = next(x for x in text.splitlines() if x.startswith("  Sam Lee "))
        assert line.endswith(" 0 sales 0.00 EUR, cash 45.00 EUR, card 35.00 EUR, voucher 25.00 EUR"), text
