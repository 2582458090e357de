"""`server allotment list` right after `allotment set`: the kiosk gets its allotment only when it is online and asks
(its ticket desk open), so none is granted yet. The list said "none", as if `allotment set` had not been taken; it
now says the allotment is set and waits for the kiosk, and a granted one says until when it is valid. Public
commands on a real SQLite store; the grant is the store's own (what the sync server does on the kiosk's request)."""
from __future__ import annotations

import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from server_stub.cli_output import when
from server_stub.store import open_store
from tests.helpers import fete, server_cmd


def test_an_allotment_set_for_a_kiosk_not_online_yet_is_listed_as_waiting(tmp_path):
    data = tmp_path / "server"
    ev = str(fete(data, "1=Adulte"))
    server_cmd(data, "device", "register", "kiosk-1", "--role", "kiosk", "--events", ev)
    server_cmd(data, "allotment", "set", "kiosk-1", "--events", ev, "--count", "20", "--hours", "6")
    listed = server_cmd(data, "allotment", "list").stdout.strip()
    assert listed == "kiosk-1: 20 tickets for [1] during 6.0 h set, not granted yet: the kiosk gets it when online"
    assert json.loads(server_cmd(data, "allotment", "list", "--json").stdout) == []

    key = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    store = open_store(data, create=False)
    try:
        cert = store.grant_allotment("fest", "kiosk-1", key)
    finally:
        store.close()
    (line,) = server_cmd(data, "allotment", "list").stdout.splitlines()
    assert line == (f"{cert.allotment_id} kiosk-1: 0/20 sold, ids {cert.first_id}..{cert.last_id}, valid until "
                    f"{when(cert.valid_until)}"), line
