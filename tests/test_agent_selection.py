"""Events and zones a device may be set to admit: only those its event data holds (agent.event_selection), by
`agent configure`, `agent scan --events/--zones`, the organiser's signed `config` command and the app's Events
screen (kiosk_ui.door). Real device homes and ledgers (SQLite files), the CLI main, a real mosquitto for the command."""
from __future__ import annotations

import json

import pytest

from agent.cli import main
from agent.event_selection import SelectionRefused
from agent.keyring import Keyring
from agent.ledger import Ledger
from agent.policy import DevicePolicy
from kiosk_ui.door import Door
from kiosk_ui.presenters.selection import Selection
from tests.helpers import wait_for
from tests.test_core_support import issue, test_key
from tests.vectors.make_vectors import pretix_pem_b64, private

KEY = test_key()
FAR = 2**32 - 1
EVENTS = [{"event_id": 1, "name": "Night 1", "zones": [{"zone_id": 1, "name": "Floor"}, {"zone_id": 2, "name": "Balcony"}]},
          {"event_id": 2, "name": "Night 2", "zones": [{"zone_id": 3, "name": "VIP"}]}]


def _home(tmp_path, events=EVENTS):
    home = tmp_path / "home"
    ring = Keyring()
    ring.add(KEY.trusted())
    ring.save(tmp_path / "ring.json")
    assert main(["agent", "--home", str(home), "trust", str(tmp_path / "ring.json")]) == 0
    if events:
        led = Ledger.open(home / "ledger.sqlite")
        led.upsert_events(events)
        led.close()
    return home


def _run(home, capsys, *args):
    capsys.readouterr()
    rc = main(["agent", "--home", str(home), *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def _policy(home, capsys) -> dict:
    rc, out, _ = _run(home, capsys, "status", "--json")
    assert rc == 0
    return json.loads(out)["policy"]


def test_configure_refuses_an_event_or_zone_the_device_does_not_hold(tmp_path, capsys):
    """`configure --events 7` / `--zones 9` were stored silently and every scan after them was WRONG EVENT."""
    home = _home(tmp_path)
    rc, out, err = _run(home, capsys, "configure", "--events", "7", "--gate", "west")
    assert rc == 1 and out == ""
    assert "event 7 is not known on this device" in err and "events 1 (Night 1), 2 (Night 2)" in err, err
    rc, _, err = _run(home, capsys, "configure", "--events", "1", "--zones", "9")
    assert rc == 1 and "zone 9 is not a zone of event 1 (Night 1); it has zones 1 (Floor), 2 (Balcony)" in err, err
    rc, _, err = _run(home, capsys, "configure", "--events", "1", "--zones", "2,3")   # 3 is Night 2's
    assert rc == 1 and "zone 3 is not a zone of event 1" in err, err
    rc, _, err = _run(home, capsys, "configure", "--zones", "9")                       # no events: all it holds
    assert rc == 1 and "zones 1 (Floor), 2 (Balcony), 3 (VIP)" in err, err
    pol = _policy(home, capsys)
    assert (pol["events"], pol["zones"], pol["gate"]) == ([], None, "gate"), "nothing saved"

    rc, out, err = _run(home, capsys, "configure", "--json", "--events", "1,2", "--zones", "2,3")
    assert rc == 0 and err == "" and (json.loads(out)["events"], json.loads(out)["zones"]) == ([1, 2], [2, 3])
    rc, _, err = _run(home, capsys, "configure", "--events", "2")      # the gate's zone 2 is not Night 2's
    assert rc == 1 and "zone 2 is not a zone of event 2 (Night 2); it has zone 3 (VIP)" in err, err
    rc, _, _ = _run(home, capsys, "configure", "--events", "2", "--zones", "")
    assert rc == 0 and (_policy(home, capsys)["events"], _policy(home, capsys)["zones"]) == ([2], None)


def test_scan_overrides_follow_the_same_rule(tmp_path, capsys):
    home = _home(tmp_path)
    ticket = issue(KEY, 11, event_id=1, zones=(1,), valid_until=FAR)
    for flags in (("--events", "7"), ("--zones", "9"), ("--events", "2", "--zones", "1")):
        rc, out, err = _run(home, capsys, "scan", "--json", *flags, ticket)
        assert rc == 1 and out == "" and "not" in err and "nothing changed" in err, (flags, err)
    led = Ledger.open(home / "ledger.sqlite")
    assert led.counts()["checkins"] == 0, "no scan was made under a refused override"
    led.close()
    rc, out, _ = _run(home, capsys, "scan", "--json", "--events", "1", "--zones", "1", ticket)
    assert rc == 0 and json.loads(out)["verdict"] == "accepted"


def test_a_device_without_event_data_takes_the_selection_with_a_warning(tmp_path, capsys):
    home = _home(tmp_path, events=None)                  # keys only: no bundle yet
    rc, out, err = _run(home, capsys, "configure", "--json", "--events", "7", "--zones", "9")
    assert rc == 0 and (json.loads(out)["events"], json.loads(out)["zones"]) == ([7], [9])
    assert "warning: this device holds no event data yet: event 7 and zone 9 taken unchecked" in err, err
    rc, _, err = _run(home, capsys, "configure", "--mode", "multiple")      # no selection given: no warning
    assert rc == 0 and err == ""


def test_pretix_events_the_keyring_maps_count_as_held(tmp_path, capsys):
    home = _home(tmp_path)
    event_json = tmp_path / "event.json"
    event_json.write_text(json.dumps({"slug": "conf", "valid_keys": {"pretix_sig1": [pretix_pem_b64(private("px"))]}}))
    rc, _, _ = _run(home, capsys, "trust-pretix", str(event_json), "--event-id", "12", "--item", "5=3:4",
                    "--subevent", "40=13")
    assert rc == 0
    rc, _, err = _run(home, capsys, "configure", "--events", "12,13", "--zones", "4")
    assert rc == 0, err
    rc, _, err = _run(home, capsys, "configure", "--events", "14")
    assert rc == 1 and "event 14 is not known" in err and "12 (pretix), 13 (pretix)" in err, err


def test_the_apps_events_screen_follows_the_same_rule(tmp_path):
    """Door.set_selection (the Events screen's intent) refuses what the event data does not hold; the screen's
    selection drops a stored event the data no longer holds (it could not be shown, so not unticked either)."""
    led = Ledger.open(tmp_path / "ledger.sqlite")
    led.upsert_events(EVENTS)
    door = Door(led, Keyring(), DevicePolicy())
    with pytest.raises(SelectionRefused, match="event 7 is not known"):
        door.set_selection(frozenset({7}), None)
    with pytest.raises(SelectionRefused, match="zone 3 is not a zone of event 1"):
        door.set_selection(frozenset({1}), frozenset({3}))
    assert (door.policy.events, door.policy.zones) == (frozenset(), None)
    assert led.get_setting("policy") is None, "nothing saved"
    assert door.set_selection(frozenset({1}), frozenset({2})) is None
    assert (door.policy.events, door.policy.zones) == (frozenset({1}), frozenset({2}))
    sel = Selection.from_policy(door.events(), frozenset({1, 7}), frozenset({2, 9}))
    assert sel.result() == (frozenset({1}), frozenset({2}))
    led.close()


@pytest.mark.usefixtures("broker")
def test_the_organisers_config_command_follows_the_same_rule(tmp_path, broker):
    from tests.sync_fixtures import ORG, make_store, start_door, start_server
    store, event, _orders = make_store(tmp_path / "server", tickets=1, devices=("gate-a",))
    server = start_server(store, broker.port)
    door = start_door(tmp_path / "a", "gate-a", broker.port, store.server_public_key(ORG), event)
    try:
        assert wait_for(lambda: door.ready(1))
        before = door.sync.stats["commands"]
        assert server.send_command(ORG, "gate-a", "config", config={"events": [event + 50], "gate": "east"})
        assert wait_for(lambda: any("config refused" in why for _t, why in door.sync.rejections))
        why = [w for _t, w in door.sync.rejections if "config refused" in w][0]
        assert f"event {event + 50} is not known" in why and f"event {event} (" in why, why
        assert server.send_command(ORG, "gate-a", "config", config={"zones": [9]})
        assert wait_for(lambda: sum("config refused" in w for _t, w in door.sync.rejections) == 2)
        assert door.sync.stats["commands"] == before and (door.ledger.get_setting("policy") or {}).get("gate") != "east"
        # each refusal is reported to the organiser (the door's cmd_result, stored by the server)
        results = lambda: [json.loads(b)["result"] for (b,) in store.q("SELECT body FROM scans WHERE type='cmd_result'")]  # noqa: E731
        assert wait_for(lambda: len(results()) == 2)
        why = sorted(r["rejected"] for r in results())
        assert why[0].startswith(f"config refused, nothing changed: event {event + 50} is not known on this device")
        assert why[1].startswith("config refused, nothing changed: zone 9 is not a zone"), why
        assert server.send_command(ORG, "gate-a", "config", config={"events": [event], "zones": [2], "gate": "east"})
        assert wait_for(lambda: (door.ledger.get_setting("policy") or {}).get("gate") == "east")
        assert door.ledger.get_setting("policy")["zones"] == [2]
    finally:
        door.close()
        server.stop()
        store.close()
