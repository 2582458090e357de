"""`server export-etickets ORDER` of an order with one ticket out of use (blocked, or exchanged at the desk: the old
ticket revoked, its replacement valid) writes the order's valid e-tickets and names the one skipped, as
`order send-etickets` mails them. It refused the whole order ("ticket … is blocked: no e-ticket"): after an
exchange the organiser could not hand the buyer their new ticket. An order with none valid is still refused."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.helpers import ROOT, fete, server_cmd


def test_an_orders_valid_etickets_are_exported_and_the_one_out_of_use_is_named(tmp_path):
    data = tmp_path / "server"
    ev = str(fete(data, "1=Adulte"))
    order = json.loads(server_cmd(data, "order", "add", "--event", ev, "--buyer", "Ann Lee", "--ticket", "category=1",
                                  "--quantity", "2", "--json").stdout)
    out, kept = order["tickets"][0]["ticket_key"], order["tickets"][1]["ticket_key"]
    server_cmd(data, "ticket", "block", out, "--reason", "lost, reissued")
    said = json.loads(server_cmd(data, "export-etickets", order["number"], "--out", str(tmp_path / "e"), "--format",
                                 "both", "--json").stdout)
    assert sorted(p.rsplit("/", 1)[1] for p in said["files"]) == [f"{order['number']}-{kept}.png",
                                                                  f"{order['number']}.pdf"]
    assert said["skipped"] == [{"ticket_key": out, "reason": f"ticket {out} is blocked: no e-ticket"}]
    assert sorted(p.name for p in (tmp_path / "e").iterdir()) == [f"{order['number']}-{kept}.png",
                                                                  f"{order['number']}.pdf"]

    server_cmd(data, "order", "cancel", order["number"], "--reason", "refunded")
    gone = subprocess.run([sys.executable, "-m", "agent", "server", "--data", str(data), "export-etickets",
                           order["number"], "--out", str(tmp_path / "none")], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, TICKETGATE_SERVER_DB=""))
    assert gone.returncode == 1 and gone.stderr.strip().endswith(f"order {order['number']} is cancelled: no e-ticket")
    assert not (tmp_path / "none").exists() or not any((tmp_path / "none").iterdir())
