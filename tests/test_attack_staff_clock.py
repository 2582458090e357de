"""A kiosk's online desk requests name the staff member on duty and carry the kiosk's own time (`at`). The server
carries a request out when it arrives: a member the organiser deactivated before then may not sell or refund
through it, whatever time the kiosk claims. Set up as the guides say (`server init`, `provision serve` with its
broker, `server serve`, `provision enroll` of a kiosk), attacked with the kiosk's broker login."""
from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from agent.sync.messages import RefundRequest, SaleLine, SaleRequest
from tests.test_attack_kiosk_rollback import PRICE, StolenDesk, _order, desk  # noqa: F401  (`desk`: the fixture)
from tests.qa_organiser import tg
from agent.sync import topics


class Kiosk(StolenDesk):
    """The kiosk's login; `answer` returns the desk's answer, granted or refused."""

    def __init__(self, home: Path):
        super().__init__(home)
        self.head = {"org": "acme", "device": self.device}

    def answer(self, request) -> dict[str, Any]:
        self.publish(topics.up("acme", self.device), json.dumps(request.to_wire()).encode())
        arrived: threading.Condition = self.arrived
        with arrived:
            assert arrived.wait_for(lambda: request.request_id in self.answers, 30), request
        return self.answers[request.request_id]


def _staff(org: Path, name: str, role: str, pin: str) -> str:
    return json.loads(tg(org, "server", "staff", "add", "--name", name, "--role", role, "--pin", "--json",
                         stdin=f"{pin}\n").stdout)["staff_id"]


def test_attack_a_deactivated_member_refunds_and_sells_online_under_a_kiosk_clock_set_back(desk):
    """A supervisor is deactivated (she left with her PIN); the kiosk she used, its clock set an hour back, asks the
    server to refund a buyer's order and to sell a ticket in her name. Before: both carried out (the member's
    deactivation was judged at the kiosk's `at`, an hour before it): the buyer's ticket revoked at every door, a
    ticket sold under a member the organiser had removed. Now both refused (`staff_inactive`, listed by `server
    refusals`), the order stays paid; an active member's sale at the same claimed time is carried out."""
    ann = _order(desk.org, "Ann Genuine")
    sam = _staff(desk.org, "Sam Super", "supervisor", "9876")
    dee = _staff(desk.org, "Dee Clerk", "desk", "5555")
    tg(desk.org, "server", "staff", "deactivate", sam)
    kiosk = Kiosk(desk.kiosk)
    an_hour_ago = time.time() - 3600
    try:
        refund = kiosk.answer(RefundRequest(**kiosk.head, request_id=uuid.uuid4().hex, order_number=ann["number"],
                                            reason="changed plans", at=an_hour_ago, staff=sam))
        sale = kiosk.answer(SaleRequest(**kiosk.head, request_id=uuid.uuid4().hex, target_id=1,
                                        lines=(SaleLine(1, 1, 1),), expected_cents=PRICE[1], at=an_hour_ago,
                                        staff=sam))
        genuine = kiosk.answer(SaleRequest(**kiosk.head, request_id=uuid.uuid4().hex, target_id=1,
                                           lines=(SaleLine(1, 1, 1),), expected_cents=PRICE[1], at=an_hour_ago,
                                           staff=dee))
    finally:
        kiosk.close()
    for refused in (refund, sale):
        assert not refused["ok"], refused
        assert refused["reason_code"] == "staff_inactive", refused
        assert f"Sam Super ({sam}) is deactivated" in refused["reason"], refused
    assert genuine["ok"], genuine
    (order,) = json.loads(tg(desk.org, "server", "order", "find", "Ann Genuine", "--json").stdout)
    assert order["status"] == "paid", order
    refusals = json.loads(tg(desk.org, "server", "refusals", "--json").stdout)
    assert sum("is deactivated" in r["reason"] for r in refusals) == 2, refusals
