"""Paths across parts walked through the public commands (`ticketgate …` subprocesses, fresh HOME, the provisioned
mosquitto, real SQLite), attacks included: what a device's own broker login can make the organiser's server do.
Each test fails on the defect it names."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.sync import topics
from agent.sync.messages import RefundRequest, SaleLine, SaleRequest
from agent.sync.transport import BrokerConfig, PahoTransport
from tests.broker import mosquitto_binary
from tests.helpers import wait_for
from tests.qa_organiser import organiser_running, tg
from tests.test_qa_skew import _event_now

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def _login_of(device_home: Path) -> tuple[str, PahoTransport]:
    """A raw MQTT client logged in with the broker login enrolment left in `device_home` (a stolen device's)."""
    cred = json.loads((device_home / "device" / "credentials.json").read_text())
    client = PahoTransport(cred["device_id"], BrokerConfig(host=cred["broker"]["host"], port=cred["broker"]["port"],
                                                           username=cred["username"], password=cred["password"]))
    client.start()
    assert client.wait_connected(10)
    return cred["device_id"], client


def test_a_door_asking_the_desk_to_sell_or_refund_is_refused_and_listed_for_the_organiser(tmp_path):
    """A stolen door's own broker login sends the desk a sale and a refund of a paid order (kiosk requests). Both were
    refused, but nowhere for the organiser to see: not in `server refusals` nor `server devices`, not in the log of
    `server serve`, while a refused upload is in all three. Now a request the device may not make is listed and logged
    like a refused upload; nothing is sold or refunded."""
    home = tmp_path / "org"
    home.mkdir()
    _event_now(home)
    tg(home, "server", "price", "set", "1", "--category", "1", "--cents", "2500", "--currency", "EUR")
    number = json.loads(tg(home, "server", "order", "find", "Ann Martin", "--json").stdout)[0]["number"]
    door = tmp_path / "door"
    door.mkdir()
    with organiser_running(home) as running:
        running.enroll(door, "north", "1")
        device, client = _login_of(door)
        try:
            for msg in (SaleRequest("acme", device, "sell-1", 1, (SaleLine(1, 2),)),
                        RefundRequest("acme", device, "refund-1", number, "refunded")):
                client.publish(topics.up("acme", device), json.dumps(msg.to_wire()).encode(), wait=5)

            def listed() -> list[dict]:
                return json.loads(tg(home, "server", "refusals", "--device", device, "--json").stdout)
            assert wait_for(lambda: len(listed()) == 2, 20), listed()
        finally:
            client.stop()
        assert {(r["body"]["request_id"], r["reason"]) for r in listed()} == {
            ("sell-1", f"not allowed: {device} is not a kiosk"), ("refund-1", f"not allowed: {device} is not a kiosk")}
        text = tg(home, "server", "refusals").stdout
        assert f"request refund-1 refund" in text and f"order {number}: not allowed" in text, text
        devices = {d["device_id"]: d for d in json.loads(tg(home, "server", "devices", "--json").stdout)}
        assert devices[device]["refused_uploads"] == 2, devices
        serve = running.serve
        assert serve is not None
        running.stop_serve()
        log = serve.stderr.read() if serve.stderr else ""
        assert f"sale request sell-1 refused: not allowed: {device} is not a kiosk" in log, log
        assert f"refund request refund-1 refused" in log, log
    order = json.loads(tg(home, "server", "order", "show", number, "--json").stdout)
    assert order["status"] == "paid" and len(order["tickets"]) == 2, order
    assert json.loads(tg(home, "server", "report", "sales", "--json").stdout)["summary"]["totals"]["tickets"] == 0
