"""A ticket used at the door is not exchanged (agent/used.py): the replacement handed to a friend was a second entry
for one purchase. Through the real paths: the kiosk asking the server online and exchanging offline on what its
ledger holds (real mosquitto, a real gate, the French app), the organiser's `server ticket reset` then the exchange;
the server store's rule on both backends (entry/exit, annulled entries, a kiosk's offline exchange uploaded)."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.reasons import code_of
from agent.sync.messages import ActionItem, Exchange, ExchangeRequest
from kiosk_ui.presenters.refusals import refusal_text
from server_stub.sync.contract import Upload
from tests.broker import mosquitto_binary
from tests.helpers import wait_for
from tests.kiosk_desk_field import sold_online
from tests.sync_fixtures import ORG, start_door

ROOT = Path(__file__).resolve().parent.parent
NOW = time.time()
FEST = "fest"                    # the organiser of the `store` fixture
needs_broker = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")



def _reset(data: Path, key: str) -> None:
    """`ticketgate server ticket reset KEY --reason …`, the organiser's command."""
    proc = subprocess.run([sys.executable, "-m", "agent", "server", "--data", str(data), "--org", ORG, "ticket",
                           "reset", key, "--reason", "exchange at the desk"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc


@needs_broker
def test_a_ticket_used_at_the_gate_is_not_exchanged_at_the_kiosk_until_its_entry_is_reset(tmp_path, broker, french):
    """A guest goes in at gate-a, walks back to the desk and exchanges the ticket: the kiosk handed a fresh, unused
    ticket. Now refused online (the server knows gate-a's entry) and offline (the entry relayed to the kiosk's
    ledger), saying in French when and where it was used and how to undo it; an unused ticket is exchanged as
    before; after `server ticket reset` the used one is exchanged too."""
    with sold_online(tmp_path, broker.port, devices=("gate-a",)) as (store, event, f, sold):
        used, unused = sold.ticket_keys
        gate = start_door(tmp_path / "gate-a", "gate-a", broker.port, store.server_public_key(ORG), event)
        try:
            assert wait_for(lambda: gate.ready(2), 30)
            assert gate.scan(store.issue_ticket_payload(used)).code.value == "accepted"
            assert wait_for(lambda: f.kiosk.ledger.history(used).entries, 30), "the entry never reached the kiosk"
            assert wait_for(lambda: store.scan_count(ORG) >= 1, 30)
        finally:
            gate.close()
        outbox = f.kiosk.ledger.outbox_size()
        online = f.ctl.sale.exchange(used, "Changement de date")
        assert not online.ok, online
        assert f"Le billet {used} a été utilisé" in online.problem and "Opening night" not in online.problem
        assert "gate-a" in online.problem and "ticketgate server ticket reset" in online.problem, online.problem
        assert "was used" not in online.problem, online.problem
        with pytest.raises(ValueError) as refused:
            f.door.exchange(used, "Changement de date")
        said = refusal_text(str(refused.value), *code_of(refused.value))
        assert said.startswith(f"Le billet {used} a été utilisé (entrée le ") and "gate-a" in said, said
        f.kiosk.keep()                                  # the kiosk's folder as a device home for the command
        cli = subprocess.run([sys.executable, "-m", "agent", "agent", "--home", str(tmp_path / "kiosk"), "exchange",
                              used, "--reason", "torn"], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert cli.returncode == 1 and f"ticket {used} was used: admitted " in cli.stderr, cli
        assert "at Desk" not in cli.stderr and "gate-a" in cli.stderr and "Traceback" not in cli.stderr, cli
        assert f.kiosk.ledger.history(used).revoked is None and f.kiosk.ledger.outbox_size() == outbox
        assert store.order(sold.order_number)["tickets"][0]["revoked"] is None
        fine = f.ctl.sale.exchange(unused, "Changement de date")
        assert fine.ok and len(fine.ticket_keys) == 1, fine
        _reset(tmp_path / "server", used)
        again = f.ctl.sale.exchange(used, "Changement de date")
        assert again.ok and len(again.ticket_keys) == 1, again


def _enter(store, event: int, key: str, scan: str, direction: str | None = None, mode: str | None = None) -> None:
    done = store.ingest_uploads([Upload(FEST, "gate-a", int(NOW), ActionItem(scan, "entry", key, event, direction, NOW,
                                                                             "gate-a", gate="North", mode=mode))])
    assert not done.refused, done


def _exchange(store, key: str, request_id: str):
    return store.desk_exchange(FEST, "kiosk-1", ExchangeRequest(FEST, "kiosk-1", request_id, key, "date change"))


def test_the_server_refuses_to_exchange_a_ticket_any_gate_admitted(store):
    """Both backends: an entry (entry/exit: even after the holder went out) refuses the exchange with `ticket_used`,
    naming the gate and the time in the event's zone; an annulled entry or a reset one does not count."""
    event = store.create_event(FEST, "Night", NOW - 3600, NOW + 7200, "Europe/Paris",
                               categories=[{"category_id": 1, "name": "Std"}])
    store.set_price(FEST, event, 1, 1500)
    store.register_device(FEST, "kiosk-1", events=[event], role="kiosk")
    store.register_device(FEST, "gate-a", gate="North", events=[event])
    keys = [t["ticket_key"] for t in store.add_order(FEST, event, "Ann", "ann@example.org",
                                                     positions=[{"category": 1}] * 3)["tickets"]]
    _enter(store, event, keys[0], "s-1", "in", "entry_exit")
    _enter(store, event, keys[0], "s-2", "out", "entry_exit")
    refused = _exchange(store, keys[0], "x-1")
    assert not refused.ok and refused.reason_code == "ticket_used", refused
    assert refused.reason_params["where"] == "North (gate-a)" and refused.reason_params["at"].endswith(("CET", "CEST"))
    assert "ticketgate server ticket reset" in refused.reason and refused.reason_params["at"] in refused.reason
    assert store.order(store.ticket(keys[0])["order_number"])["tickets"][0]["revoked"] is None
    _enter(store, event, keys[1], "s-3")
    assert store.ingest_uploads([Upload(FEST, "gate-a", int(NOW) + 1, ActionItem(
        "a-3", "annul", keys[1], event, None, NOW + 1, "gate-a", ref_uuid="s-3"))]).refused == {}
    assert _exchange(store, keys[1], "x-2").ok
    store.reset_ticket(keys[0], "exchange at the desk")
    assert _exchange(store, keys[0], "x-3").ok
    _enter(store, event, keys[2], "s-4")
    kiosk = store.ingest_uploads([Upload(FEST, "kiosk-1", int(NOW), Exchange(keys[2], "date change", "kiosk-1",
                                                                             at=NOW))])
    assert [code_of(why)[0] for why in kiosk.refused.values()] == ["ticket_used"], kiosk.refused
    assert store.order(store.ticket(keys[2])["order_number"])["tickets"][2]["revoked"] is None
