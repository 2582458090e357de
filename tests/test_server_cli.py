"""`ticketgate server …` end to end through `agent.cli.main` on a temporary data folder (real store, real files)."""
from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone

import pytest

from agent.cli import main as ticketgate
from agent.ledger import Ledger
from server_stub.store import open_store


@pytest.fixture
def srv(tmp_path):
    data = tmp_path / "server"

    def run(*argv, capsys=None):
        return ticketgate(["server", "--data", str(data), *argv])
    assert run("init", "--org", "fest", "--name", "Summer Fest") == 0
    run.data = data
    return run


def out_json(capsys) -> object:
    return json.loads(capsys.readouterr().out)


def make_event(srv, capsys) -> int:
    assert srv("event", "create", "--name", "Night 1", "--start", "2026-12-31 20:00", "--end", "2027-01-01 03:00",
               "--tz", "Europe/Paris", "--zone", "1=Floor", "--zone", "2=Balcony:stairs B", "--category", "1=Adult",
               "--json") == 0
    return out_json(capsys)["event_id"]


def test_init_twice_refuses_and_keeps_the_keys(srv, capsys):
    keys = sorted(p.read_bytes() for p in (srv.data / "keys").rglob("*.pem"))
    assert srv("init", "--org", "fest", "--name", "Again") == 1
    assert "already exists" in capsys.readouterr().err
    assert sorted(p.read_bytes() for p in (srv.data / "keys").rglob("*.pem")) == keys


def test_catalogue_orders_and_lifecycle(srv, capsys):
    ev = make_event(srv, capsys)
    capsys.readouterr()
    assert srv("event", "list", "--json") == 0
    event = out_json(capsys)[0]
    assert event["starts_at"] == 1798743600.0 and event["zones"][1]["message"] == "stairs B"
    assert srv("pass", "create", "--name", "All nights", "--events", str(ev)) == 0
    capsys.readouterr()
    assert srv("order", "add", "--event", str(ev), "--buyer", "Hélène Dupont", "--email", "h@example.org",
               "--ticket", "category=Adult,zone=Floor", "--ticket", "zone=2,seat=B12", "--pending", "--json") == 0
    order = out_json(capsys)
    assert order["status"] == "pending" and [(t["category"], t["zone"], t["seat"]) for t in order["tickets"]] == \
        [(1, 1, None), (0, 2, "B12")]
    assert srv("order", "find", "helene", "--json") == 0
    assert [o["number"] for o in out_json(capsys)] == [order["number"]]
    assert srv("order", "validate", order["number"].lower()) == 0
    assert "PAID" in capsys.readouterr().out
    assert srv("order", "cancel", order["number"], "--reason", "buyer asked") == 0
    capsys.readouterr()
    assert srv("order", "show", order["number"], "--json") == 0
    shown = out_json(capsys)
    assert shown["status"] == "cancelled" and all(t["revoked"] and t["revoked_reason"] == "buyer asked" for t in shown["tickets"])
    assert srv("order", "validate", order["number"]) == 1
    assert "cannot become paid" in capsys.readouterr().err


def test_unknown_and_bad_input_are_clear_refusals(srv, capsys):
    ev = make_event(srv, capsys)
    assert srv("order", "show", "ZZZZ-ZZ") == 1
    assert "no order 'ZZZZ-ZZ'" in capsys.readouterr().err
    assert srv("order", "add", "--event", "999", "--buyer", "Ann") == 1
    assert "no event or pass 999" in capsys.readouterr().err
    assert srv("order", "add", "--event", str(ev), "--buyer", "Ann", "--ticket", "zone=Roof") == 1
    assert "unknown zone 'Roof'" in capsys.readouterr().err
    assert srv("event", "create", "--name", "x", "--start", "tomorrow", "--end", "later") == 1
    assert "YYYY-MM-DD" in capsys.readouterr().err
    assert srv("ticket", "block", "12345", "--reason", "x") == 1
    assert "no ticket" in capsys.readouterr().err
    assert srv("order", "frobnicate") == 2


def test_import_orders_good_and_bad(srv, capsys, tmp_path):
    ev = make_event(srv, capsys)
    good = tmp_path / "good.csv"
    good.write_text("buyer_name,email,category,zone,quantity\nAnn Lee,ann@example.org,Adult,Floor,2\nBob,,,,1\n")
    assert srv("import-orders", str(good), "--event", str(ev), "--json") == 0
    assert out_json(capsys) == {"file": str(good), "orders": 2, "tickets": 3, "errors": [], "imported": True,
                                "oversold": []}
    bad = tmp_path / "bad.csv"
    bad.write_text("buyer_name,zone\nCy,Floor\nDee,Basement\nEd,7000\n")
    assert srv("import-orders", str(bad), "--event", str(ev)) == 1
    err = capsys.readouterr().err
    assert "2 error(s), nothing imported" in err and "line 3: unknown zone 'Basement'" in err and "line 4: zone 7000" in err
    assert srv("import-orders", str(tmp_path / "missing.csv"), "--event", str(ev)) == 1
    assert "cannot read" in capsys.readouterr().err
    store = open_store(srv.data, create=False)
    assert len(list(store.tickets_for_event(ev))) == 3
    store.close()


def test_tickets_scan_at_a_real_agent_and_show_in_stats(srv, capsys, tmp_path):
    now = datetime.now(timezone.utc)
    assert srv("event", "create", "--name", "Tonight", "--start", (now - timedelta(hours=1)).isoformat(),
               "--end", (now + timedelta(hours=3)).isoformat(), "--zone", "1=Floor", "--json") == 0
    ev = out_json(capsys)["event_id"]
    srv("order", "add", "--event", str(ev), "--buyer", "Ann", "--quantity", "2", "--json")
    order = out_json(capsys)
    keyring = tmp_path / "keyring.json"
    assert srv("keys", "export", "--out", str(keyring)) == 0
    assert srv("device", "register", "door-1", "--gate", "north", "--events", str(ev)) == 0
    capsys.readouterr()
    payloads = []
    for t in order["tickets"]:
        assert srv("ticket", "show", t["ticket_key"], "--json") == 0
        payloads.append(out_json(capsys)["payload"])
    home = tmp_path / "agent"
    assert ticketgate(["agent", "--home", str(home), "trust", str(keyring)]) == 0
    # the event's dates are in 2026-12-31: scan "during" it by policy-free core verification only
    ticketgate(["agent", "--home", str(home), "configure", "--device-id", "door-1", "--gate", "north",
                "--reread-window", "0"])
    capsys.readouterr()
    assert ticketgate(["agent", "--home", str(home), "scan", "--json", payloads[0], payloads[0]]) == 0
    verdicts = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [v["verdict"] for v in verdicts] == ["accepted", "already_used"]
    assert all(v["ticket"] == order["tickets"][0]["ticket_key"] and v["event_id"] == ev for v in verdicts)
    ledger = Ledger.open(home / "ledger.sqlite")
    messages = [body for _i, _k, body in ledger.outbox_pending()]
    ledger.close()
    store = open_store(srv.data, create=False)
    key = order["tickets"][1]["ticket_key"]
    entries = [dict(m, type="action", kind="entry", ticket_key=key, event_id=ev, direction="in", scan_uuid=f"u{i}",
                    at=now.timestamp() + i, device_id=d, gate=g) for i, (m, d, g) in
               enumerate([({}, "door-1", "north"), ({}, "door-2", "south")])]
    assert store.ingest(messages + entries) == (len(messages) + 2, 0)
    store.close()
    assert srv("stats", "--event", str(ev), "--json") == 0
    stats = out_json(capsys)
    assert stats["entries_per_gate"] == {"north": 2, "south": 1} and stats["double_entries"] == \
        {"refused_already_used": 1, "conflicts": 1, "exchanged_after_entry": 0, "admitted_after_refund": 0,
         "admitted_and_cancelled": 0}
    assert srv("conflicts", "--json") == 0
    conflicts = out_json(capsys)
    assert [c["ticket_key"] for c in conflicts] == [key]
    assert {a["device_id"] for a in conflicts[0]["admissions"]} == {"door-1", "door-2"}
    assert srv("stats") == 0 and "1 conflict(s)" in capsys.readouterr().out
    assert srv("devices", "--json") == 0 and out_json(capsys)[0]["device_id"] == "door-1"


def test_keys_rotate_and_list(srv, capsys):
    assert srv("keys", "rotate", "--json") == 0
    new = out_json(capsys)["key_id"]
    assert srv("keys", "list", "--json") == 0
    keys = out_json(capsys)
    assert [(k["purpose"], k["current"]) for k in keys] == [("ticket", False), ("ticket", True), ("server", True)]
    assert keys[1]["key_id"] == new and "PRIVATE" not in json.dumps(keys)


def test_export_etickets(srv, capsys, tmp_path):
    ev = make_event(srv, capsys)
    capsys.readouterr()
    srv("order", "add", "--event", str(ev), "--buyer", "Ann", "--quantity", "2", "--json")
    a = out_json(capsys)
    srv("order", "add", "--event", str(ev), "--buyer", "Ben", "--json")
    b = out_json(capsys)
    srv("order", "cancel", b["number"])
    assert srv("export-etickets", a["number"], "--out", str(tmp_path / "a"), "--format", "both") == 0
    assert len(list((tmp_path / "a").glob("*.png"))) == 2 and len(list((tmp_path / "a").glob("*.pdf"))) == 1
    assert srv("export-etickets", b["number"], "--out", str(tmp_path / "b")) == 1
    assert "cancelled: no e-ticket" in capsys.readouterr().err
    assert srv("export-etickets", "--event", str(ev), "--out", str(tmp_path / "ev"), "--format", "pdf", "--json") == 0
    result = out_json(capsys)
    assert result["files"] == [str(tmp_path / "ev" / f"{a['number']}.pdf")]
    assert result["skipped"][0]["ticket_key"] == b["tickets"][0]["ticket_key"]
    assert srv("export-etickets", "--out", str(tmp_path / "x")) == 1


def test_corrupt_store_file_is_reported_and_left_untouched(tmp_path, capsys):
    data = tmp_path / "server"
    data.mkdir()
    (data / "server.sqlite").write_bytes(b"garbage" * 500)
    before = (data / "server.sqlite").read_bytes()
    assert ticketgate(["server", "--data", str(data), "event", "list"]) == 3
    assert "left untouched" in capsys.readouterr().err
    assert ticketgate(["server", "--data", str(data), "init", "--org", "x", "--name", "X"]) == 3
    assert (data / "server.sqlite").read_bytes() == before
    assert ticketgate(["server", "--data", str(tmp_path / "none"), "stats"]) == 3
    assert "init" in capsys.readouterr().err


def test_push_without_the_sync_module_says_not_available(srv, capsys, monkeypatch):
    make_event(srv, capsys)
    monkeypatch.setitem(sys.modules, "server_stub.sync.cli_hooks", None)
    assert srv("push") == 1
    assert "not available" in capsys.readouterr().err


def test_push_to_a_real_broker(srv, capsys, broker):
    ev = make_event(srv, capsys)
    srv("order", "add", "--event", str(ev), "--buyer", "Ann")
    capsys.readouterr()
    assert srv("push", "--broker", f"127.0.0.1:{broker.port}", "--timeout", "5", "--json") == 0
    assert out_json(capsys)["devices"] == 0          # nobody registered yet: nothing to deliver, no error


def test_missing_private_key_is_a_clear_error(srv, capsys):
    ev = make_event(srv, capsys)
    srv("order", "add", "--event", str(ev), "--buyer", "Ann", "--json")
    key = out_json(capsys)["tickets"][0]["ticket_key"]
    for pem in (srv.data / "keys" / "fest").glob("ticket-*.pem"):
        pem.unlink()
    assert srv("ticket", "show", key) == 1
    assert "private key file" in capsys.readouterr().err


def test_serve_runs_as_a_process_and_stops_on_sigterm(srv, broker):
    import signal
    import subprocess
    import time
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, "-m", "agent", "server", "--data", str(srv.data), "serve", "--broker",
                             f"127.0.0.1:{broker.port}"], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "as server-1" not in broker.log_path.read_text():
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.1)
        assert "as server-1" in broker.log_path.read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_event_language_is_kept_and_travels_in_the_event(srv, capsys):
    assert srv("event", "create", "--name", "Matinée", "--start", "2026-12-05 06:00", "--end", "2026-12-05 09:00",
               "--tz", "America/Montreal", "--lang", "fr", "--json") == 0
    assert out_json(capsys)["language"] == "fr"
    assert srv("event", "list", "--json") == 0
    assert [e["language"] for e in out_json(capsys)] == ["fr"]
    assert srv("event", "create", "--name", "X", "--start", "2026-12-05 06:00", "--end", "2026-12-05 09:00",
               "--lang", "de") != 0                                   # only en / fr
    assert "invalid choice" in capsys.readouterr().err
    assert srv("event", "create", "--name", "Night", "--start", "2026-12-06 20:00", "--end", "2026-12-06 23:00",
               "--json") == 0
    night = out_json(capsys)
    assert night["language"] == "en"                                  # English unless said
    assert srv("event", "set", str(night["event_id"]), "--lang", "fr", "--json") == 0
    assert out_json(capsys)["language"] == "fr"
    assert srv("event", "set", "999", "--lang", "fr") != 0 and "no event 999" in capsys.readouterr().err
    store = open_store(srv.data, create=False)
    try:
        with pytest.raises(ValueError, match="unknown event language"):
            store.create_event("fest", "X", 0, 10, "UTC", [], [], language="de")
        assert store.event_version(night["event_id"]) == store.version("fest")   # the change reaches the devices
    finally:
        store.close()


def test_device_configure_takes_event_ids_as_the_door_does_and_names_a_pass_s_events(srv, capsys):
    """`device register --events` takes a pass for its events; `device configure --events` sets the door's selection,
    which holds events only (`agent configure`, agent.event_selection): a pass id is refused, naming its events."""
    first, second = make_event(srv, capsys), make_event(srv, capsys)
    assert srv("pass", "create", "--name", "All nights", "--events", f"{first},{second}", "--json") == 0
    pass_id = out_json(capsys)["pass_id"]
    assert srv("device", "register", "gate-a", "--events", str(pass_id)) == 0
    capsys.readouterr()
    assert srv("device", "configure", "gate-a", "--events", str(pass_id)) == 1
    err = capsys.readouterr().err
    assert f"{pass_id} is a pass: give the ids of its events ({first}, {second})" in err, err
    assert srv("device", "commands", "gate-a", "--json") == 0 and out_json(capsys) == []     # nothing sent


def test_order_and_ticket_json_give_booleans_for_revoked_blocked_quick_cancelled(srv, capsys):
    """The text says `revoked: no`; `order show|find|add|cancel --json` said `"revoked": null` (and `blocked`,
    `quick_cancelled` too), `ticket show --json` the reason or false, `quick_cancelled` null: neither yes nor no. Now
    every one gives booleans, the reason (`revoked_reason`, `blocked_reason`) and the door's cancellation
    (`quick_cancellation`) beside them."""
    states = ("revoked", "revoked_reason", "blocked", "blocked_reason", "quick_cancelled", "quick_cancellation")
    fine = dict(zip(states, (False, "", False, "", False, None)))

    def tickets_of(*argv) -> list[dict]:
        assert srv(*argv, "--json") == 0
        shown = out_json(capsys)
        orders = shown if isinstance(shown, list) else [shown]
        return [{k: t[k] for k in states} for o in orders for t in o["tickets"]]
    ev = make_event(srv, capsys)
    assert srv("order", "add", "--event", str(ev), "--buyer", "Ann", "--quantity", "2", "--json") == 0
    order = out_json(capsys)
    number, key = order["number"], order["tickets"][0]["ticket_key"]
    assert [{k: t[k] for k in states} for t in order["tickets"]] == [fine, fine]
    for argv in (("order", "show", number), ("order", "find", "Ann"), ("order", "set", number, "--email", "a@b.org")):
        assert tickets_of(*argv) == [fine, fine], argv
    assert srv("ticket", "show", key, "--json") == 0
    assert {k: v for k, v in out_json(capsys).items() if k in states} == fine
    assert srv("ticket", "block", key, "--reason", "lost") == 0
    capsys.readouterr()
    assert srv("ticket", "show", key, "--json") == 0
    shown = out_json(capsys)
    assert (shown["blocked"], shown["blocked_reason"], shown["revoked"]) == (True, "lost", False)
    assert tickets_of("order", "show", number)[0] == dict(fine, blocked=True, blocked_reason="lost")
    assert tickets_of("order", "cancel", number, "--reason", "buyer asked")[1] == dict(
        fine, revoked=True, revoked_reason="buyer asked")
    assert srv("ticket", "show", key) == 0
    assert "revoked: buyer asked" in capsys.readouterr().out
