"""An upload the server refuses is answered in the signed ack with its English reason AND a reason code with
parameters (agent/reasons.py), like desk answers: the device keeps both in its ledger (migration 7) and its Sync
screen says the refusal in the device's language, the server's own text for a code it does not know (an older
device, a newer server) and for rows refused before the migration. Real mosquitto, real server, real ledgers."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from agent.history import Action
from agent.ledger import Ledger
from agent.ledger.guard import split_sql
from agent.ledger.schema import APPLICATION_ID, MIGRATIONS
from agent.reasons import Reason
from agent.sync.messages import Ack, ActionItem, ItemRefusal, PaymentValidated
from agent.sync.signed import Rejected
from kiosk_ui import i18n
from kiosk_ui.adapters.sync import SyncLink, refusal_line
from kiosk_ui.door import Door
from kiosk_ui.presenters.lists import sync_lines
from tests.helpers import wait_for
from tests.sync_fixtures import ORG, make_store, start_door, start_server

ROOT = Path(__file__).resolve().parent.parent


def _sync_screen(home: Path, lang: str) -> list[str]:
    app = Door.open_home(home)
    try:
        i18n.set_language(lang)
        return sync_lines(SyncLink(app, home).status(), 0)
    finally:
        i18n.set_language("en")
        app.ledger.close()


def test_refusals_travel_with_their_code_and_the_sync_screen_says_them_in_french(tmp_path, broker):
    store, event, orders = make_store(tmp_path / "server", tickets=2, devices=("gate-a",))
    server = start_server(store, broker.port)
    door = start_door(tmp_path / "a", "gate-a", broker.port, store.server_public_key(ORG), event)
    key = orders[0]["tickets"][0]["ticket_key"]
    try:
        assert wait_for(lambda: door.ready(2))
        door.go_offline()
        entry = door.scan(store.issue_ticket_payload(key))
        first = door.gate.annul("wrong person", entry.scan_uuid)["scan_uuid"]
        door.ledger.enqueue("action", ActionItem(str(uuid.uuid4()), "annul", key, event, None, time.time(), "gate-a",
                                                 "north", ref_uuid=first, reason="undo the undo").to_wire())
        door.ledger.enqueue("kiosk", PaymentValidated(orders[1]["number"], "gate-a", "Zoé",   # a door is not a desk
                                                      at=time.time()).to_wire())      # (its own `pay` refuses a paid order)
        door.go_online()
        assert wait_for(lambda: door.ledger.outbox_size() == 0)
        rows = {r["refused_code"]: r for r in door.ledger.outbox_refused()}
        assert set(rows) == {"annul_not_checkin", "kiosk_only"}
        assert rows["kiosk_only"]["refused_params"] == {"message": "PaymentValidated"}
        assert "comes only from kiosk devices" in rows["kiosk_only"]["refused"]       # the server's text kept too
        assert "names an annulment" in rows["annul_not_checkin"]["refused"]
    finally:
        door.close()
        server.stop()
        store.close()
    status = subprocess.run([sys.executable, "-m", "agent", "agent", "--home", str(tmp_path / "a"), "status", "--json"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    shown = {r["reason_code"]: r for r in json.loads(status.stdout)["refused_uploads"]}
    assert shown["kiosk_only"]["reason_params"] == {"message": "PaymentValidated"}

    french = _sync_screen(tmp_path / "a", "fr")
    assert any("Seul un guichet peut envoyer ceci (PaymentValidated)." in line for line in french), french
    assert any(f"Annulation d'entrée {key}: Annulation de ce qui n'est pas un passage" in line for line in french), french
    english = _sync_screen(tmp_path / "a", "en")
    assert any("Only a kiosk may send this (PaymentValidated)." in line for line in english), english

    # a code this device does not know (a newer server): the server's own words
    led = Ledger.open(tmp_path / "a" / "ledger.sqlite")
    try:
        row = led.enqueue("action", {"type": "action", "kind": "entry", "ticket_key": key})
        led.outbox_refuse({row: Reason("not allowed: the gate closed at 23:00", "gate_closed", {"at": "23:00"})})
    finally:
        led.close()
    assert any("not allowed: the gate closed at 23:00" in line for line in _sync_screen(tmp_path / "a", "fr"))


def test_the_ack_carries_codes_and_an_ack_without_them_still_reads():
    ack = Ack("gate-a", "b1", (1,), (ItemRefusal(2, "annulment of u: already annulled", None, "already_annulled"),
                                     ItemRefusal(3, "unknown ticket 9", None, "unknown_ticket", {"ticket": "9"})))
    wire = ack.to_wire()
    assert wire["refused"][1] == {"id": 3, "reason": "unknown ticket 9", "reason_code": "unknown_ticket",
                                  "reason_params": {"ticket": "9"}}
    assert Ack.from_wire(wire) == ack
    old = Ack.from_wire({"type": "ack", "device": "gate-a", "batch": "b1", "ids": [],
                         "refused": [{"id": 4, "reason": "rate: too much"}]})      # a server of before the codes
    assert old.refused[0].why() == "rate: too much" and old.refused[0].why().code == ""
    for bad in ({"x": [1]}, {str(i): i for i in range(9)}, [1]):
        wire["refused"][1]["reason_params"] = bad
        with pytest.raises(Rejected, match="reason_params|reason parameters"):
            Ack.from_wire(wire)


def test_ledger_migration_7_keeps_refused_rows_and_adds_their_codes(tmp_path):
    path = tmp_path / "ledger.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    for migration in MIGRATIONS[:6]:
        for stmt in split_sql(migration):
            conn.execute(stmt)
    conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
    conn.execute("PRAGMA user_version=6")
    conn.execute("INSERT INTO outbox(kind, body, created, acked, refused) VALUES ('action', '{\"kind\": \"entry\"}', 1, 2, "
                 "'not allowed: event 3 is not an event of gate-a')")
    conn.close()
    led = Ledger.open(path)
    try:
        assert led.conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) >= 7
        [old] = led.outbox_refused()
        assert (old["refused"], old["refused_code"], old["refused_params"]) == (
            "not allowed: event 3 is not an event of gate-a", "", {})
        i18n.set_language("fr")
        try:
            assert refusal_line(old) == "Entrée: not allowed: event 3 is not an event of gate-a"   # no code: server text
        finally:
            i18n.set_language("en")
        new = led.record("5", Action("u1", "entry", 3, "gate-a", "g", 1, "in"), outbox={"type": "action", "kind": "entry"})
        row = led.outbox_pending()[-1][0]
        led.outbox_refuse({row: Reason("not allowed: event 1 is not an event of gate-a", "event_not_held", {"event": "1"})})
        assert new and led.outbox_refused()[0]["refused_code"] == "event_not_held"
        assert led.outbox_refused()[0]["refused_params"] == {"event": "1"}
        assert led.outbox_resend_refused() == 2 and led.outbox_refused() == []
        assert led.conn.execute("SELECT DISTINCT refused_code, refused_params FROM outbox").fetchall() == [("", "{}")]
    finally:
        led.close()
