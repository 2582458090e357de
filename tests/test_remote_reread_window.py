"""The re-read window has one rule (agent.policy.reread_seconds: a number, 0 to 60 s) whoever sets it: the
organiser's signed `config` command is refused by the door with its reason in `cmd_result` and nothing changed
(1e9 was stored: a ticket read again hours later repeated its green verdict instead of ALREADY USED), and `server
device configure --reread-window` refuses it before anything is sent."""
from __future__ import annotations

import json

import pytest

from tests.helpers import wait_for
from tests.qa_organiser import tg


@pytest.mark.usefixtures("broker")
def test_a_config_command_with_a_bad_reread_window_is_refused_by_the_door(tmp_path, broker):
    from tests.sync_fixtures import ORG, make_store, start_door, start_server
    store, event, _orders = make_store(tmp_path / "server", tickets=1, devices=("gate-a",))
    server = start_server(store, broker.port)
    door = start_door(tmp_path / "a", "gate-a", broker.port, store.server_public_key(ORG), event)
    results = lambda: [json.loads(b)["result"] for (b,) in store.q("SELECT body FROM scans WHERE type='cmd_result'")]  # noqa: E731
    try:
        assert wait_for(lambda: door.ready(1))
        before = door.ledger.get_setting("policy") or {}
        bad = (1e9, -1, "30", True)
        for value in bad:
            assert server.send_command(ORG, "gate-a", "config", config={"reread_window": value, "gate": "east"})
        assert wait_for(lambda: len(results()) == len(bad))
        why = [r.get("rejected", "") for r in results()]
        assert all(w.startswith("config refused, nothing changed: re-read window ") for w in why), why
        assert sum("0 to 60 seconds" in w for w in why) == 2 and sum("a number of seconds" in w for w in why) == 2, why
        assert (door.ledger.get_setting("policy") or {}) == before, "nothing changed"
        assert server.send_command(ORG, "gate-a", "config", config={"reread_window": 60, "gate": "east"})
        assert wait_for(lambda: (door.ledger.get_setting("policy") or {}).get("gate") == "east")
        assert door.ledger.get_setting("policy")["reread_window"] == 60.0
    finally:
        door.close()
        server.stop()
        store.close()


def test_server_device_configure_refuses_a_bad_reread_window_first(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    tg(home, "server", "init", "--org", "acme", "--name", "Acme")
    tg(home, "server", "device", "register", "gate-y")
    for value in ("90", "-1", "nan", "1e9"):
        proc = tg(home, "server", "device", "configure", "gate-y", "--reread-window", value, "--gate", "y", ok=False)
        assert proc.returncode == 2 and "0 to 60 seconds" in proc.stderr, proc
    assert json.loads(tg(home, "server", "device", "commands", "gate-y", "--json").stdout) == []
