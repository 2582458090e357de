"""Screen logic without rendering: verdict view-models, status strip, kiosk lock, wedge buffer, event selection."""
from __future__ import annotations

import pytest

from agent.policy import Mode
from agent.verdicts import Code, FirstUse, Reason, Verdict
from drivers.feedback.mapping import FeedbackConfig
from kiosk_ui import i18n
from kiosk_ui.presenters.colours import BLUE, GREEN, ORANGE, PURPLE, RED
from kiosk_ui.presenters.lists import orders_of, stats_lines, sync_lines, ticket_rows
from kiosk_ui.presenters.lock import KioskLock
from kiosk_ui.presenters.selection import Selection
from kiosk_ui.presenters.status import status_view
from kiosk_ui.presenters.verdict import present
from kiosk_ui.presenters.wedge import WedgeBuffer
from kiosk_ui.services import SyncStatus


class Names:
    """The names a device holds from its event bundle (same shape as Ledger.events())."""
    zones = {1: {"zone_id": 1, "name": "Floor", "message": ""},
             3: {"zone_id": 3, "name": "VIP lounge", "message": "VIP — hand out a wristband"}}
    cats = {2: {"category_id": 2, "name": "VIP", "message": "VIP — hand out a wristband"},
            3: {"category_id": 3, "name": "Child", "message": "Child: must come with an adult"}}

    def event(self, event_id):
        return {"event_id": 1, "name": "Festival — Friday"} if event_id == 1 else None

    def zone(self, event_id, zone_id):
        return self.zones.get(zone_id)

    def category(self, event_id, category_id):
        return self.cats.get(category_id)

    def ticket(self, key):
        return {"ticket_key": key, "buyer_name": "Hélène Dupont"} if key else None


@pytest.fixture(autouse=True)
def english():
    i18n.set_language("en")
    yield
    i18n.set_language("en")


def v(code, **kw):
    kw.setdefault("event_id", 1)
    kw.setdefault("ticket_key", "1001")
    return Verdict(code, **kw)


def test_accepted_green_with_messages_deduplicated():
    view = present(v(Code.ACCEPTED, direction="in", category=2, zones=(3,), seat="R3-12"), Names())
    assert (view.tone, view.colour, view.kind) == ("accepted", GREEN, "accept")
    assert view.title == "ACCEPTED — IN" and view.reason == ""
    assert view.details == ("Category: VIP", "Zone: VIP lounge", "Seat: R3-12", "Name: Hélène Dupont")
    assert view.message == "VIP — hand out a wristband"       # once, though category and zone both say it


def test_exit_and_hidden_buyer():
    view = present(v(Code.ACCEPTED, direction="out", category=3, zones=(1,)), Names(), show_buyer=False)
    assert view.title == "EXIT — OK"
    assert not any(d.startswith("Name") for d in view.details)
    assert view.message == "Child: must come with an adult"


def test_used_says_when_and_where():
    first = FirstUse(1_790_000_000, "handheld-3", "North")
    view = present(v(Code.ALREADY_USED, first_use=first), Names())
    assert view.colour == RED and view.kind == "reject"
    assert view.reason == "Used at 21/09 14:13 at gate North (handheld-3)."


def test_times_in_the_event_timezone():
    class Paris(Names):
        def event(self, event_id):
            return {"event_id": 1, "name": "Fri", "timezone": "Europe/Paris"}
    first = FirstUse(1_790_000_000, "handheld-3", "North")
    assert present(v(Code.ALREADY_USED, first_use=first), Paris()).reason == \
        "Used at 21/09 16:13 at gate North (handheld-3)."


def test_entry_exit_already_inside():
    first = FirstUse(1_790_000_000, "handheld-3", "North")
    view = present(v(Code.ALREADY_USED, first_use=first, reason=Reason.ALREADY_INSIDE), Names(), Mode.ENTRY_EXIT)
    assert view.reason == "Already inside since 14:13 (gate North)."
    # the detail text is for logs: the same words without the reason are a plain second use
    plain = present(v(Code.ALREADY_USED, first_use=first, detail="already inside"), Names(), Mode.ENTRY_EXIT)
    assert plain.reason == "Used at 21/09 14:13 at gate North (handheld-3)."


def test_wrong_zone_names_ticket_and_gate_zones():
    view = present(v(Code.WRONG_ZONE, zones=(7,)), Names(), gate_zones=frozenset({1, 3}))
    assert view.reason == "Ticket for zone 7. This gate: Floor, VIP lounge."


@pytest.mark.parametrize("code", [Code.FORGED, Code.UNKNOWN_KEY, Code.MALFORMED])
def test_untrusted_payload_shows_nothing_of_its_content(code):
    view = present(v(code, category=2, zones=(3,), seat="A1"), Names())
    assert view.details == () and view.message == ""


@pytest.mark.parametrize("code,tone", [(Code.FORGED, "refused"), (Code.REVOKED, "refused"), (Code.BLOCKED, "refused"),
                                       (Code.EXPIRED, "refused"), (Code.WRONG_EVENT, "refused"),
                                       (Code.UNKNOWN_PRODUCT, "refused"),
                                       (Code.UNPAID, "attention"), (Code.UNKNOWN_KEY, "attention"),
                                       (Code.MALFORMED, "attention")])
def test_every_refusal_has_a_title_and_plain_reason(code, tone):
    view = present(v(code, detail="order refunded", extra={"valid_until": 1_790_000_000}), Names())
    assert view.tone == tone and view.colour == (RED if tone == "refused" else ORANGE)
    assert view.title.isupper() and len(view.reason) > 15
    assert "not a ticket" not in view.reason or code is Code.MALFORMED


def test_quick_cancel_is_purple_not_a_door_colour():
    view = present(v(Code.CANCELLED, record="cancel"), Names(), Mode.QUICK_CANCEL)
    assert view.colour == PURPLE and view.title == "CANCELLED — BACK ON SALE"
    door = present(v(Code.CANCELLED, first_use=FirstUse(1_790_000_000, "d", "g")), Names(), Mode.NORMAL)
    assert door.colour == RED


def test_repeat_read_is_blue_and_never_a_first_entry():
    view = present(v(Code.ACCEPTED, direction="in", repeat=True, reason=Reason.REREAD, since_read=2.6), Names())
    assert (view.tone, view.colour, view.title) == ("repeat", BLUE, "ALREADY READ — 3 s ago")
    assert "Refuse" in view.reason and view.repeat and view.message == ""
    out = present(v(Code.ACCEPTED, direction="out", repeat=True, reason=Reason.REREAD, since_read=1), Names())
    assert out.colour == BLUE and "exit is already recorded" in out.reason
    i18n.set_language("fr")
    assert present(v(Code.ACCEPTED, direction="in", repeat=True, reason=Reason.REREAD, since_read=3),
                   Names()).title == "DÉJÀ LU — il y a 3 s"


def test_feedback_overrides_apply_and_never_turn_a_refusal_green():
    moved = present(v(Code.WRONG_ZONE, zones=(1,)), Names(), feedback=FeedbackConfig(overrides={"wrong_zone": "attention"}))
    assert (moved.tone, moved.colour, moved.kind) == ("attention", ORANGE, "attention")
    welcome = present(v(Code.UNPAID), Names(), feedback=FeedbackConfig(overrides={"unpaid": "accept"}))
    assert welcome.colour == ORANGE and welcome.title == "PAYMENT PENDING"


def test_wrong_event_names_the_event_and_its_date():
    class Days(Names):
        def event(self, event_id):
            return {2: {"event_id": 2, "name": "Festival — Saturday", "starts_at": 1_790_000_000,
                        "timezone": "Europe/Paris"}}.get(event_id)
    view = present(v(Code.WRONG_EVENT, event_id=2, reason=Reason.EVENT_NOT_SELECTED), Days())
    assert view.reason == "Ticket for Festival — Saturday (21/09 16:13), not selected on this device."
    unknown = present(v(Code.WRONG_EVENT, event_id=7, reason=Reason.EVENT_NOT_SELECTED), Days())
    assert unknown.reason == "Ticket for another event, not on this device." and "7" not in unknown.reason
    assert "pass" in present(v(Code.WRONG_EVENT, event_id=900, reason=Reason.PASS_NOT_SELECTED), Days()).reason


def test_french_verdict():
    i18n.set_language("fr")
    view = present(v(Code.FORGED), Names())
    assert view.title == "FAUX BILLET" and "responsable" in view.reason


def test_status_strip():
    off = status_view(10, 8, 5, SyncStatus(available=True, online=False, queue=12), Mode.NORMAL)
    assert off.badge == "OFFLINE · queue 12" and off.badge_colour == ORANGE
    assert off.counters == "Scanned 10 · Accepted 8 · Inside 5" and off.warning == ""
    on = status_view(0, 0, 0, SyncStatus(available=True, online=True, queue=0), Mode.QUICK_CANCEL)
    assert on.badge_colour == GREEN and "NOT FOR THE DOOR" in on.warning and on.idle_colour == PURPLE
    box = status_view(5, 0, 0, SyncStatus(), Mode.QUICK_CANCEL, back_on_sale=4)
    assert box.counters == "Scanned 5 · Back on sale 4"
    none = status_view(0, 0, 0, SyncStatus(queue=3), Mode.NORMAL)
    assert none.badge == "No sync on this build · queue 3"


def test_mode_choices_name_the_fixed_direction():
    from kiosk_ui.presenters.status import MODE_CHOICES, mode_label
    labels = [mode_label(m, d) for m, d in MODE_CHOICES]
    assert labels == ["Normal", "Entry / exit", "Entry / exit: entries only", "Entry / exit: exits only",
                      "Multiple entries", "Quick cancellation"]
    view = status_view(0, 0, 0, SyncStatus(), Mode.ENTRY_EXIT, "out")
    assert view.mode == "Entry / exit: exits only"


class Store(dict):
    def get_setting(self, key, default=None):
        return self.get(key, default)

    def set_setting(self, key, value):
        self[key] = value


def test_lock_pin_flow():
    t = [1000.0]
    lock = KioskLock(Store(), lambda: t[0])
    assert lock.unlocked and not lock.has_pin
    for not_a_pin in ("12", "\u00b2\u00b2\u00b2\u00b2", "\u0661\u0662\u0663\u0664"):   # '²', Arabic-Indic digits
        with pytest.raises(ValueError, match="4 to 8 digits"):
            lock.set_pin(not_a_pin)
    lock.set_pin("4321")
    lock.lock()
    assert not lock.unlocked
    assert lock.unlock("0000") == "wrong"
    assert lock.unlock("4321") == "ok" and lock.unlocked
    t[0] += 121
    assert not lock.unlocked                          # relocks by itself
    with pytest.raises(PermissionError):
        lock.set_pin("1111")                          # changing the PIN needs the old one
    stored = lock.store.get_setting("ui_pin")          # only a salted hash is stored: the PIN is nowhere else
    assert set(stored) == {"salt", "hash"} and len(bytes.fromhex(stored["salt"])) == 16
    assert "4321" not in str(lock.store).replace(stored["hash"], "").replace(stored["salt"], "")   # random hex may hold it


def test_lock_out_after_five_wrong_pins():
    t = [0.0]
    lock = KioskLock(Store(), lambda: t[0])
    lock.set_pin("4321")
    lock.lock()
    assert [lock.unlock("1") for _ in range(5)][-1] == "locked_out"
    assert lock.unlock("4321") == "locked_out"
    t[0] += 61
    assert lock.unlock("4321") == "ok"


def test_wedge_buffer():
    w = WedgeBuffer(max_length=10)
    assert w.feed("TG1:AB") == []
    assert w.feed("C\r\nXY\n\n") == ["TG1:ABC", "XY"]
    assert w.feed("0123456789ABCDEF\n") == ["0123456789"]     # bounded


def test_selection_dates_events_zones():
    day = 86400
    events = [{"event_id": 1, "name": "Fri", "starts_at": 1_790_000_000, "timezone": "Europe/Paris",
               "zones": [{"zone_id": 1, "name": "Floor"}, {"zone_id": 2, "name": "Balcony"}]},
              {"event_id": 2, "name": "Sat", "starts_at": 1_790_000_000 + day, "timezone": "Europe/Paris",
               "zones": [{"zone_id": 2, "name": "Balcony"}]},
              {"event_id": 3, "name": "Bad tz", "starts_at": 1_790_000_000 + 2 * day, "timezone": "Nowhere/Land", "zones": []}]
    s = Selection.from_policy(events, frozenset({2}), None)
    assert s.dates() == ["2026-09-21", "2026-09-22", "2026-09-23"] and s.date == "2026-09-22"
    assert [e["name"] for e in s.visible_events()] == ["Sat"]
    s.pick_date("2026-09-21")
    s.toggle_event(1)
    assert [z["zone_id"] for z in s.zones()] == [1, 2]
    s.toggle_zone(1)
    assert s.result() == (frozenset({1, 2}), frozenset({1}))
    s.toggle_event(1)
    assert s.result() == (frozenset({2}), None)       # zone 1 went with event 1
    s.toggle_event(2)
    assert not s.can_apply


def test_rows():
    rows = [{"ticket_key": "1", "buyer_name": "Bob", "order_number": "A-1", "state": "used"},
            {"ticket_key": "2", "buyer_name": "Bob", "order_number": "A-1", "state": "inside"},
            {"ticket_key": "3", "buyer_name": "Ann", "order_number": "A-2", "state": "revoked"},
            {"ticket_key": "482910374650192", "buyer_name": "Ann", "order_number": "A-2", "state": "valid",
             "event_id": 1, "category": 2, "zone": 3}]
    out = ticket_rows(rows, show_buyer=False, names=Names())
    assert [r.can_checkin for r in out] == [False, False, False, True]
    assert out[0].title.startswith("(name hidden)") and out[2].subtitle == "cancelled / refunded · ticket 3"
    # buyer and order lead; a 15-digit id is cut to what tells an order's tickets apart
    assert ticket_rows(rows, names=Names())[3].title == "Ann — order A-2"
    assert out[3].subtitle == "valid · VIP, VIP lounge · ticket …650192"
    assert orders_of(rows) == [("A-1", "Bob", 2), ("A-2", "Ann", 2)]


def test_stats_lines_agree_in_number():
    assert stats_lines([("North", 1, 0), ("South", 2, 1)]) == ["North: 1 in, 0 out", "South: 2 in, 1 out"]
    i18n.set_language("fr")
    assert stats_lines([("North", 1, 0), ("South", 2, 3)]) == ["North : 1 entrée, 0 sortie",
                                                                "South : 2 entrées, 3 sorties"]


def test_sync_lines():
    lines = sync_lines(SyncStatus(True, True, 4, "17", 1000.0, 2), now=1000.0 + 360)
    assert lines == ["Server: online", "Messages waiting: 4", "Event data version: 17",
                     "Last upload: 00:16:40 UTC (6 min ago)", "Conflicts: 2"]
    assert sync_lines(SyncStatus(queue=3), 0)[0] == "Sync: not available on this build."


def test_selection_lists_an_event_under_every_day_it_runs_and_opens_on_today():
    """A show from 20:00 to 02:00 in Paris is listed under both days; at 00:30 (23:30 UTC, the device's clock) the
    screen opens on the second day with the show; an end at midnight sharp adds no day; a season longer than a month
    is listed under its first, last and current day only."""
    from datetime import datetime
    from zoneinfo import ZoneInfo
    paris = ZoneInfo("Europe/Paris")
    at = lambda text: datetime.fromisoformat(text).replace(tzinfo=paris).timestamp()  # noqa: E731
    show = {"event_id": 1, "name": "Late show", "starts_at": at("2026-12-04 20:00"), "ends_at": at("2026-12-05 02:00"),
            "timezone": "Europe/Paris", "zones": []}
    dinner = {"event_id": 2, "name": "Dinner", "starts_at": at("2026-12-06 19:00"), "ends_at": at("2026-12-07 00:00"),
              "timezone": "Europe/Paris", "zones": []}
    season = {"event_id": 3, "name": "Season", "starts_at": at("2026-09-01 10:00"), "ends_at": at("2027-06-30 23:00"),
              "timezone": "Europe/Paris", "zones": []}
    s = Selection.from_policy([show, dinner], None, None, now=at("2026-12-05 00:30"))
    assert s.dates() == ["2026-12-04", "2026-12-05", "2026-12-06"] and s.date == "2026-12-05"
    assert [e["name"] for e in s.visible_events()] == ["Late show"]
    assert Selection.from_policy([show, dinner], None, None, now=at("2026-12-05 12:00")).date == "2026-12-06"
    assert Selection.from_policy([show, dinner], {2}, None, now=at("2026-12-05 00:30")).date == "2026-12-06"
    assert Selection.from_policy([show, dinner], None, None, now=at("2026-12-09 12:00")).date == "2026-12-06"
    s = Selection.from_policy([season], None, None, now=at("2026-12-05 12:00"))
    assert s.dates() == ["2026-09-01", "2026-12-05", "2027-06-30"] and s.date == "2026-12-05"
    assert [e["name"] for e in s.visible_events()] == ["Season"]
