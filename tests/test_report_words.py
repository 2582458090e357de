"""What the organiser's reports say their figures count, through `ticketgate server report …` on a server folder."""
from __future__ import annotations

import json
import time
from pathlib import Path

from agent.sync.messages import ActionItem
from server_stub.store import open_store
from server_stub.sync.contract import Upload
from tests.helpers import server_cmd

NOW = time.time()


def _event_with_a_door(data: Path) -> tuple[int, list[str]]:
    assert server_cmd(data, "init", "--org", "fest", "--name", "Fest").returncode == 0
    r = server_cmd(data, "event", "create", "--name", "Night", "--start", "2026-12-31 20:00", "--end",
                   "2027-01-01 02:00", "--tz", "UTC", "--category", "1=Adult", "--json")
    assert r.returncode == 0, r.stderr
    event = json.loads(r.stdout)["event_id"]
    with open_store(data) as store:
        store.register_device("fest", "door-1", events=[event])
        order = store.add_order("fest", event, "Ann", positions=[{"category": 1}] * 2)
    return event, [t["ticket_key"] for t in order["tickets"]]


def test_participants_says_inside_now_counts_the_tickets_issued_here_and_names_the_pretix_ones(tmp_path):
    """`server report participants` said 'inside now: 1' where `server stats` said 2: a pretix ticket admitted at
    the door is inside, but the guest list holds only the tickets this server issued, and its line did not say so.
    Now 'N ticket(s) issued here; inside now: 1; …; also inside, not listed: 1 ticket(s) not issued here (pretix)'
    from the same read model as `server stats` (its `inside_now_not_issued`)."""
    data = tmp_path / "server"
    event, keys = _event_with_a_door(data)
    with open_store(data) as store:
        done = store.ingest_uploads([Upload("fest", "door-1", 1, ActionItem("u1", "entry", keys[0], event, "in", NOW,
                                                                            "north")),
                                     Upload("fest", "door-1", 2, ActionItem("u2", "entry", "pretix:abc", event, "in",
                                                                            NOW + 1, "north"))])
        assert done.new == 2 and not done.refused
    stats = json.loads(server_cmd(data, "stats", "--json").stdout)
    assert stats["inside_now"] == {str(event): 2} and stats["inside_now_not_issued"] == {str(event): 1}
    for scope in ((), ("--event", str(event))):
        first = server_cmd(data, "report", "participants", *scope).stdout.splitlines()[0]
        assert first == ("2 ticket(s) issued here; inside now: 1; checked in: 1; also inside, not listed: 1 ticket(s) "
                         "not issued here (pretix), counted by `server stats`"), first


def test_sales_per_payment_says_a_ticket_paid_several_ways_is_under_each_method(tmp_path):
    """`server report sales` per payment put the 2 tickets of an order paid 30.00 cash + 10.00 card under cash and
    under card: 4 tickets for 2 sold, and nothing said why. An accountant keeps the amounts (each method its part,
    adding up to the total) and needs the table to say the tickets are counted under each method: now a note under
    the rows, and `tickets_paid_several_ways` in the JSON totals."""
    from agent.sync.messages import PaymentPart, SaleLine, SaleRequest
    data = tmp_path / "server"
    event, _ = _event_with_a_door(data)
    server_cmd(data, "price", "set", str(event), "--category", "1", "--cents", "2000")
    with open_store(data) as store:
        store.register_device("fest", "kiosk-1", events=[event], role="kiosk")
        for request, parts in (("split", (PaymentPart("cash", 3000), PaymentPart("card", 1000, "T-1"))),
                               ("cash", ())):
            sold = store.sell("fest", "kiosk-1", SaleRequest("fest", "kiosk-1", request, event, (SaleLine(1, 2),),
                                                             payment="cash", parts=parts))
            assert sold.ok, sold.reason
    out = server_cmd(data, "report", "sales").stdout
    per_payment = out.split("per payment:\n")[1].split("\nper desk:")[0].splitlines()
    assert [line.split()[:3] for line in per_payment[:2]] == [["card", "2", "10.00"], ["cash", "4", "70.00"]], out
    assert per_payment[2] == ("  note: 2 ticket(s) of orders paid several ways are under each of their methods, "
                              "with that method's part of the amount: the methods' tickets add up to more than sold, "
                              "their amounts to the total"), out
    totals = json.loads(server_cmd(data, "report", "sales", "--json").stdout)["summary"]["totals"]
    assert (totals["tickets"], totals["total_cents"], totals["tickets_paid_several_ways"]) == (4, 8000, 2)
