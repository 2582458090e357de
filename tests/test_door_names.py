"""The names a door screen shows come from the ticket's own event: zone and category ids are numbered per event."""
from __future__ import annotations

from agent.policy import DevicePolicy
from kiosk_ui import i18n
from kiosk_ui.demo_data import seed
from kiosk_ui.presenters.verdict import present


def test_a_ticket_of_an_event_the_device_does_not_hold_is_not_named_after_another_events_zones(tmp_path):
    """Before: the zone and category were looked up in every event the device holds, so a ticket of an event taken
    away from the device (or never on it), zone 3 and category 2 of its own event, showed WRONG EVENT with
    'Category: VIP' and 'Zone: VIP lounge' of the Friday show: the steward sent the guest to the VIP lounge's door."""
    i18n.set_language("en")
    demo = seed(tmp_path / "device")
    door = demo.door
    door.ledger.upsert_events([{"event_id": 4, "name": "Jazz night", "starts_at": demo.now - 3600,
                                "ends_at": demo.now + 3600, "organiser": "Festival des Lumières",
                                "zones": [{"zone_id": 1, "name": "Terrace", "message": ""}],
                                "categories": [{"category_id": 1, "name": "Seated", "message": ""}]}])
    door.ledger.forget_events([4])             # the organiser took it away (`server device events --remove 4`)
    door.reload_names()
    door.gate.set_policy(DevicePolicy(device_id="handheld-3", gate="North", events=frozenset({1})), save=False)

    elsewhere = present(door.scan(demo.ticket(5001, event_id=9, zones=(3,), category=2)), door)
    taken_away = present(door.scan(demo.ticket(5002, event_id=4, zones=(1,), category=1)), door)
    here = present(door.scan(demo.ticket(5003, event_id=1, zones=(3,), category=2)), door)

    assert (elsewhere.title, elsewhere.reason) == ("WRONG EVENT", "Ticket for another event, not on this device.")
    assert elsewhere.details == ("Zone: zone 3",)
    assert taken_away.title == "WRONG EVENT" and taken_away.details == ("Zone: zone 1",)
    assert here.title == "ACCEPTED — IN" and here.details == ("Category: VIP", "Zone: VIP lounge")
