"""Kiosk devices (role `kiosk`) get the signed QR payloads through a real mosquitto push and print tickets whose
QR verifies; door devices never hold a payload. Exchanges at the kiosk: see test_integration_exchange.py."""
from __future__ import annotations

import time

import pytest

from agent.payload import OK, read_payload
from server_stub.sync import bundles
from server_stub.sync.cli_hooks import push
from tests.helpers import wait_for
from tests.integration_kiosk_env import KIOSK, ORG, kiosk_env

zxingcpp = pytest.importorskip("zxingcpp")


def qr_texts_of_zpl(job: bytes) -> list[str]:
    from drivers.printers.zpl_render import render_zpl
    return [r.text for r in zxingcpp.read_barcodes(render_zpl(job).convert("L"), formats=zxingcpp.BarcodeFormat.QRCode)]


def test_kiosk_gets_payloads_and_prints_a_qr_that_verifies_door_gets_none(tmp_path, broker):
    from drivers.testkit.fake_printer import FakePrinter
    with kiosk_env(tmp_path, broker.port) as env:
        keys = [t["ticket_key"] for o in env.orders for t in o["tickets"]]
        assert wait_for(lambda: all(env.kiosk_has(k) for k in keys), 15), env.link.sync.rejections
        assert wait_for(lambda: env.gate.ready(len(keys)), 15)
        gate_rows = env.gate.ledger.conn.execute("SELECT count(*), count(payload) FROM tickets").fetchone()
        assert gate_rows == (len(keys), 0)                         # a door device never holds a bearer payload
        # an explicit push too (after a sale, so it is news): grouped by role, the door's bundle still carries none
        walk_in = env.store.add_order(ORG, env.event, "Walk In", positions=[{"category": 1, "zone": 1}])
        keys.append(walk_in["tickets"][0]["ticket_key"])
        result = push(env.store, ORG, [env.event], f"127.0.0.1:{broker.port}", timeout=10)
        assert result["devices"] == 2 and result["delivered"] == 2
        assert wait_for(lambda: env.gate.sync.bundle_version == result["version"]
                        and env.link.sync.bundle_version == result["version"], 10)
        assert env.gate.ledger.conn.execute("SELECT count(payload) FROM tickets").fetchone()[0] == 0
        assert all(env.kiosk_has(k) for k in keys)

        order = env.orders[0]
        with FakePrinter("zpl") as zebra:
            assert env.ctl.add_printer(f"127.0.0.1:{zebra.port}", language="zpl") == ""
            result = env.ctl.print_order(order["number"])
            assert result.ok and result.printed == len(order["tickets"]), result.message
            texts = qr_texts_of_zpl(zebra.last_job)
        assert len(texts) == 1
        decoded = read_payload(texts[0], env.store.keyring(ORG), time.time())
        assert decoded.status == OK and str(decoded.ticket.ticket_id) == order["tickets"][-1]["ticket_key"]
        # the door admits what the kiosk printed
        assert env.gate.scan(texts[0]).accepted
        # a late sale (no push): the doors get the row live, the kiosk a delta with its payload (debounced resync)
        late = env.store.add_order(ORG, env.event, "Late Buyer", positions=[{"category": 1, "zone": 1}])
        late_key = late["tickets"][0]["ticket_key"]
        assert wait_for(lambda: env.kiosk_has(late_key), 10), env.link.sync.rejections
        assert wait_for(lambda: env.gate.ledger.ticket(late_key) is not None, 10)
        assert env.gate.ledger.ticket(late_key)["payload"] is None
        assert list(env.link.sync.rejections) == [] and list(env.server.rejections) == []


def test_bundle_payloads_only_for_kiosk_role(tmp_path):
    from tests.sync_fixtures import make_store
    store, event, orders = make_store(tmp_path, tickets=2, devices=("gate-a",))
    kiosk = store.register_device(ORG, KIOSK, events=[event], role="kiosk")
    assert kiosk["role"] == "kiosk" and store.device("gate-a")["role"] == "door"
    with pytest.raises(ValueError):
        store.register_device(ORG, "x-1", role="printer")
    door_sections = list(bundles.sections(store, [event], 0, payloads=bundles.is_kiosk(store.device("gate-a"))))
    kiosk_sections = list(bundles.sections(store, [event], 0, payloads=bundles.is_kiosk(kiosk)))
    door_tickets = next(s["tickets"] for s in door_sections if "tickets" in s)
    kiosk_tickets = next(s["tickets"] for s in kiosk_sections if "tickets" in s)
    assert "payload" not in door_tickets["columns"]
    col = kiosk_tickets["columns"].index("payload")
    assert all(r[col].startswith("TG1:") for r in kiosk_tickets["rows"])
    # the bulk signer used by bundles (key loaded once) gives the very payloads of issue_ticket_payload, passes too
    day2 = store.create_event(ORG, "Day 2", time.time(), time.time() + 3600, "UTC")
    pass_order = store.add_order(ORG, store.create_pass(ORG, "Both days", [event, day2]), "Pass Holder")
    issue = store.payload_issuer(ORG)
    keys = [t["ticket_key"] for o in (*orders, pass_order) for t in o["tickets"]]
    assert [issue(k) for k in keys] == [store.issue_ticket_payload(k) for k in keys]
    with_org = list(bundles.sections(store, [event], 0, payloads=True, org=ORG))
    rows = next(s["tickets"] for s in with_org if "tickets" in s)["rows"]
    assert sorted(r[col] for r in rows) == sorted(store.issue_ticket_payload(r[0]) for r in rows)
    store.close()
