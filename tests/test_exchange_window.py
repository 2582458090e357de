"""The window the used-ticket rule cannot close (tests/test_exchange_used.py): a door offline admits a ticket, the
desk online exchanges it before that entry reaches the server. When the entry arrives it is kept (the holder went
in) and the organiser is told: `server conflicts` lists the ticket with both facts (the entry: who, where, when; the
exchange: when, why, the replacement and whether it was admitted too) and `server stats` counts it. Before, nothing
was listed: the entry came before the revocation, so it was not "admitted after the server revoked it". On both
store backends (the contract suite), through the organiser's commands."""
from __future__ import annotations

import json
import time

from agent.cli import main as ticketgate
from agent.sync.messages import ActionItem, ExchangeRequest
from server_stub.sync.contract import Upload

NOW = time.time()


def _enter(store, event: int, key: str, scan: str, at: float, device: str = "gate-a", gate: str = "North") -> None:
    """A door's entry as the sync server ingests its upload."""
    done = store.ingest_uploads([Upload("fest", device, int(at), ActionItem(scan, "entry", key, event, None, at, device,
                                                                            gate=gate))])
    assert not done.refused and done.new == 1, done


def test_an_entry_uploaded_after_the_desk_exchanged_its_ticket_is_kept_and_listed(store, open_backend, tmp_path,
                                                                                     capsys):
    folder = tmp_path / "server"
    db = ["--db", open_backend.url(folder)] if open_backend.url(folder) else []

    def server(*argv: str) -> str:
        assert ticketgate(["server", "--data", str(folder), *db, "--org", "fest", *argv]) == 0
        return capsys.readouterr().out
    event = store.create_event("fest", "Night", NOW - 3600, NOW + 7200, "Europe/Paris",
                               categories=[{"category_id": 1, "name": "Std"}])
    store.set_price("fest", event, 1, 1500)
    store.register_device("fest", "kiosk-1", events=[event], role="kiosk")
    store.register_device("fest", "gate-a", gate="North", events=[event])
    store.register_device("fest", "gate-b", gate="South", events=[event])
    order = store.add_order("fest", event, "Ann", "ann@example.org", positions=[{"category": 1}] * 2)
    used, later = [t["ticket_key"] for t in order["tickets"]]

    # gate-a offline admits `used` two minutes ago; the desk, online, exchanges it now: the server knows no entry
    swapped = store.desk_exchange("fest", "kiosk-1", ExchangeRequest("fest", "kiosk-1", "x-1", used, "date change"))
    assert swapped.ok, swapped
    replacement = swapped.tickets[0].ticket_key
    _enter(store, event, used, "s-1", NOW - 120)             # gate-a back online: its entry is taken, kept
    listed = json.loads(server("conflicts", "--json"))
    assert [(c["ticket_key"], [a["scan_uuid"] for a in c["admissions"]]) for c in listed] == [(used, ["s-1"])]
    exchange = listed[0]["revoked"]
    assert exchange["exchanged"] and exchange["after_entry"] and exchange["replacement"] == replacement
    assert exchange["reason"] == "exchanged: date change" and exchange["replacement_admissions"] == []
    said = server("conflicts")
    assert f"ticket {used} (order {order['number']}, Ann) admitted 1 time for event {event}:" in said, said
    assert "gate-a at North" in said
    assert ("exchanged: date change at the desk, after this entry: the gate was offline, the desk did not know it "
            "was used") in said, said
    assert (f"replacement ticket {replacement}: not admitted yet (block it if the holder is already inside: "
            f"`ticketgate server ticket block {replacement} --reason …`)") in said, said
    stats = json.loads(server("stats", "--json"))
    assert stats["entries"] == 1 and stats["double_entries"]["exchanged_after_entry"] == 1   # the entry counts
    assert "1 ticket(s) exchanged and admitted (`server conflicts`)" in server("stats")

    _enter(store, event, replacement, "s-2", NOW, "gate-b", "South")  # the friend comes in with the replacement
    said = server("conflicts")
    assert f"replacement ticket {replacement}: admitted " in said and "gate-b at South: two entries for one purchase" \
        in said, said
    assert json.loads(server("stats", "--json"))["entries"] == 2

    # the other order: exchanged first, then a door offline let the old ticket in (listed as before)
    store.exchange_ticket(later, "torn")
    _enter(store, event, later, "s-3", time.time() + 1)
    said = server("conflicts")
    assert "exchanged: torn at the desk, before this entry: a door offline let it in" in said, said
    assert json.loads(server("stats", "--json"))["double_entries"]["exchanged_after_entry"] == 2
