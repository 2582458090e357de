"""An order number typed in any case finds its order (a guest reads out the number a kiosk printed offline,
`Kiosk-1-<allotment>-<n>`; staff type it as they hear it). `server order show|find|cancel|refund` and the kiosk's
refund at the desk missed `KIOSK-1-…` for `Kiosk-1-…` ("no order"); the server's own numbers (`K7M2-Q9`) were
already read in any case. On both store backends (the contract suite). Two orders never differ only by case: the
offline number's allotment id names its one device (docs/server.md). The devices' side: tests/test_qa_desk_paths.py."""
from __future__ import annotations

import json
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.cli import main as ticketgate
from agent.sync.messages import OfflineSale, RefundRequest, SoldTicket
from server_stub.sync.contract import Upload

NOW = time.time()


def _offline_orders(store, device: str, count: int) -> list[str]:
    """`count` sales a kiosk made offline (one ticket each) and uploaded: their printed numbers, as the server filed
    them (the sync server's ingestion, as when the kiosk comes back)."""
    event = store.create_event("fest", "Night", NOW - 3600, NOW + 7200, categories=[{"category_id": 1, "name": "Std"}])
    store.set_price("fest", event, 1, 1500)
    store.register_device("fest", device, role="kiosk")
    store.set_allotment_size("fest", device, [event], 10, hours=2)
    key = Ed25519PrivateKey.generate().public_key().public_bytes(serialization.Encoding.Raw,
                                                                 serialization.PublicFormat.Raw)
    cert = store.grant_allotment("fest", device, key)
    store.ingest_uploads([Upload("fest", device, i + 1, OfflineSale(f"s-{i}", cert.allotment_id, event,
                                                                    (SoldTicket(str(cert.first_id + i), 1),), 1500,
                                                                    device))
                          for i in range(count)])
    numbers = [f"{device}-{cert.allotment_id}-{i + 1}" for i in range(count)]
    assert [store.order(n)["number"] for n in numbers] == numbers        # filed under the printed number
    return numbers


def test_an_offline_number_typed_in_another_case_finds_its_order(store, open_backend, tmp_path, capsys):
    folder = tmp_path / "server"
    numbers = _offline_orders(store, "Kiosk-1", 3)
    db = ["--db", open_backend.url(folder)] if open_backend.url(folder) else []

    def server(*argv: str) -> int:
        return ticketgate(["server", "--data", str(folder), *db, "--org", "fest", *argv])

    first, second, third = numbers
    assert server("order", "show", first.upper(), "--json") == 0
    assert json.loads(capsys.readouterr().out)["number"] == first
    assert server("order", "show", f"  {first.lower()} ", "--json") == 0
    assert json.loads(capsys.readouterr().out)["number"] == first
    assert server("order", "find", first.lower(), "--json") == 0
    assert json.loads(capsys.readouterr().out)[0]["number"] == first         # the exact order first
    assert server("order", "cancel", second.lower(), "--reason", "guest left") == 0
    capsys.readouterr()
    assert store.order(second)["status"] == "cancelled"
    # the kiosk's refund at the desk, by the number typed there (the sync server hands the request to the store)
    refunded = store.desk_refund("fest", "Kiosk-1", RefundRequest("fest", "Kiosk-1", "r-1", third.upper(), "ill"))
    assert refunded.ok and refunded.order_number == third and store.order(third)["status"] == "refunded"

    # a number no order has, or the right allotment under another device's name: not found, said as typed
    allotment = first.split("-")[2]
    for typed in (f"kiosk-1-{allotment}-9", f"kiosk-2-{allotment}-1", "nobody-99-1"):
        assert server("order", "show", typed) == 1
        assert f"no order {typed!r}" in capsys.readouterr().err
