"""Attacks on a device's scope (the events it holds), with a real door's broker login, set up as the guides say
(`server init`, two events, `provision serve` with its broker and its ACL as generated, `server serve`,
`provision enroll` of one door per event). Each test fails on the defect it names."""
from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from agent.allotment import Certificate
from agent.desk_sale import allotment_request
from agent.sync import topics
from agent.sync.messages import ActionItem, Batch, Hello, OfflineSale, SoldTicket
from tests.broker import mosquitto_binary
from tests.helpers import wait_for
from tests.test_attack_kiosk_rollback import StolenDesk, desk   # noqa: F401  (`desk`: the fixture)
from tests.test_qa_attacks import ROOT, StolenLogin, _env, enroll, field, serving, tg   # noqa: F401  (`field`: the fixture)
from tests.test_qa_paths_m_walk import _event

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


@dataclass
class TwoEvents:
    org: Path          # organiser acme: events 1 and 2, one order each
    door: Path         # the stolen door: enrolled for event 1
    gate: Path         # a door of event 2
    ticket: str        # a paid ticket of event 2: its key
    payload: str       # and its QR payload
    serve_log: Path


@pytest.fixture
def two_events(tmp_path: Path) -> Iterator[TwoEvents]:
    org, door, gate = (tmp_path / name for name in ("org", "door", "gate"))
    for home in (org, door, gate):
        home.mkdir()
    tg(org, "server", "init", "--org", "acme", "--name", "Acme")
    _event(org, "acme", "Tonight", "Ann Acme")
    _event(org, "acme", "Tomorrow", "Bob Acme")
    ticket = json.loads(tg(org, "server", "order", "find", "Bob", "--json").stdout)[0]["tickets"][0]["ticket_key"]
    payload = json.loads(tg(org, "server", "ticket", "show", ticket, "--json").stdout)["payload"]
    serve_log = tmp_path / "serve.log"
    with serving(org, serve_log) as http_port:
        for home, gate_name, events in ((door, "north", "1"), (gate, "south", "2")):
            enroll(org, home, gate_name, http_port, events=events)
            tg(home, "agent", "sync", "--until-idle", "--for", "60")
        yield TwoEvents(org, door, gate, ticket, payload, serve_log)


def test_attack_a_hello_naming_another_event_does_not_open_it_to_the_doors_uploads(two_events):
    """A stolen door of event 1 says hello naming events 1 and 2, then uploads an entry for a real ticket of event 2.
    Before: the server took the events a hello named beyond the registration for events the organiser had taken
    away from the device (recorded as `removed`, `events_released`), so event 2 became the door's: the entry was
    stored, counted and relayed, and the holder was refused `already_used` at event 2's own gate. Now only the
    organiser's `server device events --remove` releases an event: the entry is refused and listed."""
    thief = StolenLogin(two_events.door)
    try:
        thief.publish(topics.up("acme", thief.device), json.dumps(Hello(
            "acme", thief.device, uuid.uuid4().hex, time.time(), 0, (1, 2)).to_wire()).encode())
        assert wait_for(lambda: "events" in tg(two_events.org, "server", "device", "commands", thief.device).stdout, 30)
        entry = ActionItem(str(uuid.uuid4()), "entry", two_events.ticket, 2, "in", time.time(), thief.device, "north")
        thief.upload([entry.to_wire()])
        assert wait_for(lambda: entry.scan_uuid in tg(two_events.org, "server", "refusals", "--json").stdout
                        or json.loads(tg(two_events.org, "server", "stats", "--json").stdout)["entries"], 30)
    finally:
        thief.close()
    assert json.loads(tg(two_events.org, "server", "stats", "--json").stdout)["entries"] == 0
    refusals = tg(two_events.org, "server", "refusals").stdout
    assert "event 2 is not an event of" in refusals, refusals
    tg(two_events.gate, "agent", "sync", "--until-idle", "--for", "60")
    verdict = json.loads(tg(two_events.gate, "agent", "scan", "--json", two_events.payload).stdout)
    assert verdict["verdict"] == "accepted", verdict          # the holder gets in at event 2's gate


def test_attack_an_annulment_naming_another_ticket_does_not_undo_another_gates_cancellation(field):
    """Gate south quick-cancels Ann's ticket (her order cancelled, the ticket back on sale). The stolen door north
    uploads a cancellation of a key the server did not issue, then its annulment naming Ann's ticket. Before: the
    annulment was taken (it named the door's own cancellation) and applied to the ticket it named: Ann's ticket was
    taken off sale again and her order paid again, undoing another gate's cancellation (the organiser's call). Now an
    annulment names the ticket and event of what it annuls, else it is refused and listed."""
    tg(field.gate, "agent", "configure", "--mode", "quick_cancel")
    assert json.loads(tg(field.gate, "agent", "scan", "--json", field.payload).stdout)["verdict"] == "cancelled"
    tg(field.gate, "agent", "sync", "--until-idle", "--for", "60")

    def status() -> str:
        return json.loads(tg(field.org, "server", "order", "find", "Ann", "--json").stdout)[0]["status"]
    assert status() == "cancelled"
    thief = StolenLogin(field.door)
    try:
        cancel = ActionItem(str(uuid.uuid4()), "cancel", "pretix:PXnotours", 1, None, time.time(), thief.device, "north")
        annul = ActionItem(str(uuid.uuid4()), "annul", field.ticket, 1, None, time.time(), thief.device, "north",
                           ref_uuid=cancel.scan_uuid, reason="oops")
        thief.upload([cancel.to_wire(), annul.to_wire()])
        assert wait_for(lambda: annul.scan_uuid in tg(field.org, "server", "refusals", "--json").stdout
                        or status() != "cancelled", 30)
    finally:
        thief.close()
    assert status() == "cancelled"
    refusals = tg(field.org, "server", "refusals").stdout
    assert f"names ticket {field.ticket}" in refusals, refusals


def test_attack_entries_for_the_ticket_ids_of_an_allotment_not_granted_yet_are_refused(field):
    """Offline tickets have predictable ids: allotment N's range starts at 2**47 + N * 2**20 and a kiosk sells it
    in order. A stolen door uploads entries for the first tickets of the next allotment (not granted yet) and for a
    key in no range at all. Before: both were taken "as the gate saw it" (a ticket the server did not issue), stored,
    counted and relayed: once a kiosk was granted that allotment and sold offline, its buyers were refused
    `already_used` at every gate. Now a key of the allotments' id space is taken only within an allotment of the
    organiser for that event; the others are refused as unknown tickets and listed."""
    from server_stub.store.sales import ALLOTMENT_SPAN
    from agent.allotment import ALLOTMENT_ID_BASE
    future = [str(ALLOTMENT_ID_BASE + ALLOTMENT_SPAN + i) for i in range(3)] + [str(2**48 - 5)]
    thief = StolenLogin(field.door)
    try:
        entries = [ActionItem(str(uuid.uuid4()), "entry", key, 1, "in", time.time(), thief.device, "north")
                   for key in future]
        thief.upload([e.to_wire() for e in entries])
        assert wait_for(lambda: entries[-1].scan_uuid in tg(field.org, "server", "refusals", "--json").stdout
                        or json.loads(tg(field.org, "server", "stats", "--json").stdout)["entries"], 30)
    finally:
        thief.close()
    assert json.loads(tg(field.org, "server", "stats", "--json").stdout)["entries"] == 0
    refusals = tg(field.org, "server", "refusals").stdout
    assert all(f"unknown ticket {key}" in refusals for key in future), refusals


def test_attack_a_stolen_kiosk_asking_for_allotment_after_allotment_holds_one_certificate(desk):
    """The organiser sized the kiosk's offline allotment at 5 tickets for 4 hours. A thief with the kiosk's broker
    login asks for an allotment 5 times in a row. Before: each was granted: 5 certificates, the 4 replaced ones still
    valid at the doors (for what was sold under them: the doors cannot tell), so the thief could sign 25 tickets the
    doors admit, 5 times what the organiser allowed and past `allotment revoke` of the current one. Now a new
    allotment is granted only when the current one is due a refill (mostly sold or ending: the kiosk's own rule) or
    sized anew; the others are refused with the reason, coded."""
    tg(desk.org, "server", "allotment", "set", _device(desk.kiosk), "--events", "1", "--count", "5", "--hours", "4")
    thief = StolenDesk(desk.kiosk)
    try:
        answers = []
        for _ in range(5):
            request = allotment_request(base64.b64encode(bytes(32)).decode(), "acme", thief.device)
            thief.publish(topics.up("acme", thief.device), json.dumps(request.to_wire()).encode())
            with thief.arrived:
                assert thief.arrived.wait_for(lambda: request.request_id in thief.answers, 30), request
            answers.append(thief.answers[request.request_id])
    finally:
        thief.close()
    granted = json.loads(tg(desk.org, "server", "allotment", "list", "--json").stdout)
    assert len(granted) == 1, granted
    assert [a["ok"] for a in answers] == [True, False, False, False, False], answers
    assert answers[-1]["reason_code"] == "allotment_not_due" and answers[-1]["reason_params"]["left"] == 5, answers[-1]
    tg(desk.org, "server", "allotment", "set", thief.device, "--events", "1", "--count", "3", "--hours", "4")
    thief = StolenDesk(desk.kiosk)
    try:                                     # sized anew by the organiser: the next request gets the new size
        request = allotment_request(base64.b64encode(bytes(32)).decode(), "acme", thief.device)
        assert thief.ask(request)["ok"]
    finally:
        thief.close()


def _device(home: Path) -> str:
    return json.loads((home / "device" / "credentials.json").read_text())["device_id"]


def test_attack_an_offline_sale_of_a_category_and_zone_the_event_lacks_is_refused(desk):
    """A thief with the kiosk's broker login, granted its allotment (every category), uploads an offline sale of a
    ticket of category 7 in zone 99 on an event of categories 1-2 and zone 1. Before: reconciled: an order paid, a
    ticket of a category and zone the event does not have, for which `server ticket show` printed a signed TG1
    payload and `export-etickets` an e-ticket (a CSV line naming them is refused). Now the sale is refused with the
    event's categories named, nothing sold; one of a real category sells."""
    tg(desk.org, "server", "allotment", "set", _device(desk.kiosk), "--events", "1", "--count", "5", "--hours", "4")
    thief = StolenDesk(desk.kiosk)
    try:
        cert = Certificate.from_text(thief.ask(allotment_request(base64.b64encode(bytes(32)).decode(), "acme",
                                                                 thief.device))["certificate"])
        bad = OfflineSale("s-bad", cert.allotment_id, 1, (SoldTicket(str(cert.first_id), 7, 99),), 2000, thief.device)
        good = OfflineSale("s-good", cert.allotment_id, 1, (SoldTicket(str(cert.first_id + 1), 1, 1),), 2000,
                           thief.device)
        rows = [(100 + i, "kiosk", json.dumps(s.to_wire())) for i, s in enumerate((bad, good))]
        thief.publish(topics.up("acme", thief.device),
                      Batch.encode("acme", thief.device, uuid.uuid4().hex, time.time(), rows))
        assert wait_for(lambda: "s-good" in tg(desk.org, "server", "device", "uploads", thief.device).stdout, 30)
    finally:
        thief.close()
    refusals = tg(desk.org, "server", "refusals").stdout
    assert "has no category 7" in refusals, refusals
    shown = json.loads(tg(desk.org, "server", "allotment", "list", "--json").stdout)
    assert [a["used"] for a in shown] == [1], shown                            # the good one only
    tg(desk.org, "server", "ticket", "show", str(cert.first_id + 1))
    gone = subprocess.run([sys.executable, "-m", "agent", "server", "ticket", "show", str(cert.first_id)],
                          cwd=ROOT, env=_env(desk.org), capture_output=True, text=True)
    assert gone.returncode != 0 and "Traceback" not in gone.stderr, gone
