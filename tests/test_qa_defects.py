"""QA defects of the door and server commands, each walked through the public commands (`ticketgate …` in
subprocesses, fresh HOME, real broker): each test fails on the defect it names."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.broker import mosquitto_binary
from tests.qa_organiser import Organiser
from tests.test_qa_user_paths import organiser, tg  # noqa: F401 (organiser: fixture)

needs_broker = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def _utc(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(t))


class Door(Organiser):
    """`provision serve` (broker, enrollment) and `server serve` running for one organiser HOME, whose own device is
    the door."""

    def __init__(self, home: Path):
        super().__init__(home, seconds=180)
        self.start_serve()

    def enroll_door(self, events: str, sync: bool = True) -> str:
        """A door enrolled with a fresh one-time code (this HOME's device), synced unless told; its device id."""
        self.enroll(self.home, "north", events)
        if sync:
            tg(self.home, "server", "push")
            self.sync()
        return json.loads((self.home / "device" / "credentials.json").read_text())["device_id"]

    def sync(self) -> None:
        tg(self.home, "agent", "sync", "--until-idle", "--for", "30")


@pytest.fixture
def door(organiser):
    d = Door(organiser)
    try:
        yield d
    finally:
        d.close()


def _order(home: Path, event: int, quantity: int = 1) -> list[str]:
    order = json.loads(tg(home, "server", "order", "add", "--event", str(event), "--buyer", "Ann Martin", "--quantity",
                          str(quantity), "--ticket", "category=Adult,zone=Floor", "--json").stdout)
    return [t["ticket_key"] for t in order["tickets"]]


def _payload(home: Path, key: str) -> str:
    return json.loads(tg(home, "server", "ticket", "show", key, "--json").stdout)["payload"]


@needs_broker
def test_checkin_by_key_judges_the_validity_window_like_a_scan(door):
    """`agent checkin KEY` admitted a ticket whose QR the same door refused as expired: a check-in by key has no QR to
    carry the window, so it now comes from the event's dates and the server's margin (6 h) in the bundle."""
    home, now = door.home, time.time()
    tg(home, "server", "event", "create", "--name", "Last night", "--start", _utc(now - 12 * 3600), "--end",
       _utc(now - 7 * 3600), "--zone", "1=Floor", "--category", "1=Adult")          # event 2: closed 1 h ago
    tg(home, "server", "event", "create", "--name", "This afternoon", "--start", _utc(now - 9 * 3600), "--end",
       _utc(now - 5 * 3600), "--zone", "1=Floor", "--category", "1=Adult")          # event 3: open 1 h more
    closed, still_open = _order(home, 2, 2), _order(home, 3, 2)
    door.enroll_door("2,3")
    verdicts = {}
    for name, keys in (("closed", closed), ("open", still_open)):
        scanned = tg(home, "agent", "scan", "--json", _payload(home, keys[0]), ok=False).stdout
        by_key = tg(home, "agent", "checkin", keys[1], "--reason", "phone dead", "--json", ok=False).stdout
        verdicts[name] = (json.loads(scanned)["verdict"], json.loads(by_key)["verdict"])
    assert verdicts == {"closed": ("expired", "expired"), "open": ("accepted", "accepted")}, verdicts


@needs_broker
def test_a_pass_checked_in_by_key_is_judged_like_its_scan(door):
    """`agent checkin KEY` judged a pass ticket (a weekend: Saturday, closed since yesterday, and Sunday, open now) on
    one of its events' window, whichever the device's index row named: "expired" on Sunday where its QR admits. Now
    the row names the pass (`pass_id`) and a check-in by key is judged like the QR: the pass, its window from the
    first event's start to the last's end, counted for the event open now."""
    home, now = door.home, time.time()
    tg(home, "server", "event", "create", "--name", "Sunday", "--start", _utc(now - 3600), "--end",
       _utc(now + 5 * 3600), "--zone", "1=Floor", "--category", "1=Adult")           # event 2: open now
    tg(home, "server", "event", "create", "--name", "Saturday", "--start", _utc(now - 30 * 3600), "--end",
       _utc(now - 20 * 3600), "--zone", "1=Floor", "--category", "1=Adult")          # event 3: closed 14 h ago
    assert "pass 4 created" in tg(home, "server", "pass", "create", "--name", "Weekend", "--events", "2,3").stdout
    keys = _order(home, 4, 3)
    saturday_only = _order(home, 3, 1)
    door.enroll_door("2,3")
    scanned = json.loads(tg(home, "agent", "scan", "--json", _payload(home, keys[0]), ok=False).stdout)
    by_key = json.loads(tg(home, "agent", "checkin", keys[1], "--reason", "phone dead", "--json", ok=False).stdout)
    assert (scanned["verdict"], by_key["verdict"]) == ("accepted", "accepted"), (scanned, by_key)
    assert by_key["event_id"] == scanned["event_id"] == 2                   # counted for Sunday, like the scan
    again = json.loads(tg(home, "agent", "checkin", keys[1], "--reason", "phone dead", "--json", ok=False).stdout)
    assert again["verdict"] == "already_used"
    closed = json.loads(tg(home, "agent", "checkin", saturday_only[0], "--reason", "phone dead", "--json",
                           ok=False).stdout)
    assert closed["verdict"] == "expired"                                   # an event's own ticket: its window


def _tonight(home: Path) -> int:
    now = time.time()
    tg(home, "server", "event", "create", "--name", "Tonight", "--start", _utc(now - 3600), "--end", _utc(now + 6 * 3600),
       "--zone", "1=Floor", "--category", "1=Adult")
    return 2


@needs_broker
def test_checkins_queued_before_a_technicians_wipe_are_counted_after_re_enrollment(door):
    """A door admits two people offline, the technician wipes it (`provision wipe --yes`) and enrolls it again: the
    check-ins stayed on the device under its old enrollment, and the server refused them ("cannot upload for
    device …"): kept, listed, never counted. The wipe now says it keeps them, and they are uploaded as the
    re-enrolled device's own."""
    home = door.home
    event = _tonight(home)
    keys = _order(home, event, 2)
    first = door.enroll_door(str(event))
    assert json.loads(tg(home, "agent", "scan", "--json", _payload(home, keys[0])).stdout)["verdict"] == "accepted"
    assert json.loads(tg(home, "agent", "checkin", keys[1], "--reason", "phone dead", "--json").stdout)["verdict"] \
        == "accepted"
    asked = tg(home, "provision", "wipe", ok=False)
    assert asked.returncode != 0 and "2 check-in(s)" in asked.stderr and "enrolled again" in asked.stderr
    said = tg(home, "provision", "wipe", "--yes").stdout
    assert "2 check-in(s)" in said
    second = door.enroll_door(str(event))
    assert second != first
    status = json.loads(tg(home, "agent", "status", "--json").stdout)
    assert status["refused_uploads"] == [] and status["counts"]["outbox_refused"] == 0, status
    assert "no refused" in tg(home, "server", "refusals").stdout.lower() or \
        first not in tg(home, "server", "refusals").stdout
    uploads = json.loads(tg(home, "server", "device", "uploads", second, "--json").stdout)
    assert sorted(u["ticket_key"] for u in uploads if u.get("kind") == "entry") == sorted(keys), uploads


@pytest.mark.parametrize("carry_over,counted", [(True, True), (False, False)])
def test_only_a_technicians_wipe_carries_unsent_checkins_over(tmp_path, carry_over, counted):
    """A revocation (signed wipe: lost or stolen device) never turns what the device recorded into the next
    enrollment's uploads; a technician's wipe does."""
    import uuid
    from agent.history import Action
    from agent.home import Identity, store_identity
    from agent.ledger import Ledger
    from agent.stored_policy import load_policy, save_policy
    from agent.policy import DevicePolicy
    from provisioning.device.wipe import wipe_ledger
    path = tmp_path / "ledger.sqlite"
    led = Ledger.open(path)
    save_policy(led, DevicePolicy(device_id="dev-old"))
    led.record("11", Action(str(uuid.uuid4()), "entry", time.time(), "dev-old", "north", 1, "in"),
               outbox={"type": "action", "device_id": "dev-old"})
    led.close()
    assert wipe_ledger(path, "why", carry_over=carry_over)
    led = Ledger.open(path)
    try:
        store_identity(led, load_policy(led), Identity("acme", "dev-new", "north", "door", (1,), ""))
        [(_, _, body)] = led.outbox_pending()
        assert (body["device_id"] == "dev-new") is counted
        assert led.actions("11")[0].device_id == ("dev-new" if counted else "dev-old")
    finally:
        led.close()


def test_quota_and_sales_window_read_as_the_organiser_typed_them(organiser):
    """`server quota set 1 --capacity 800` said "event 0: 800" (the quota's internal ref) and `sales-window set`
    printed raw unix timestamps; now the target is named and times are in the event's time zone."""
    home = organiser
    said = tg(home, "server", "quota", "set", "1", "--capacity", "800").stdout
    assert said.startswith("event 1: 800 (2 sold") and "event 0" not in said, said
    said = tg(home, "server", "quota", "set", "1", "--capacity", "300", "--category", "1").stdout
    assert said.startswith("event 1 category 1: 300"), said
    listed = tg(home, "server", "quota", "list", "1").stdout.splitlines()
    assert sorted(line.split(":")[0] for line in listed) == ["event 1", "event 1 category 1"], listed
    opens, closes = 2095891200, 2098483200     # 2036-06-01 and 2036-07-01 00:00 UTC (CEST: +2 h)
    said = tg(home, "server", "sales-window", "set", "1", "--opens", str(opens), "--closes", str(closes),
              "--max-per-order", "6").stdout.strip()
    assert said == ("event 1: on sale from 2036-06-01 02:00 CEST until 2036-07-01 02:00 CEST, at the door and online, "
                    "at most 6 per order"), said
    assert tg(home, "server", "sales-window", "show", "1").stdout.strip() == said
    import json
    assert json.loads(tg(home, "server", "sales-window", "show", "1", "--json").stdout)["opens_at"] == opens


@needs_broker
def test_resend_refused_restamps_what_an_older_version_left_refused_after_a_wipe(door):
    """A door updated from a version that let the server refuse its pre-wipe check-ins ("cannot upload for device
    …"): `agent resend-refused` puts them back under the re-enrolled id, and the server counts them."""
    from agent.ledger import Ledger
    home = door.home
    event = _tonight(home)
    keys = _order(home, event, 1)
    first = door.enroll_door(str(event))
    tg(home, "agent", "checkin", keys[0], "--reason", "phone dead")
    tg(home, "provision", "wipe", "--yes")
    second = door.enroll_door(str(event), sync=False)
    led = Ledger.open(home / "device" / "ledger.sqlite")
    try:      # as an older version left it: sent under the old id, refused by the server
        led.conn.execute("UPDATE outbox SET acked=1, refused='not allowed: cannot upload for device' "
                         "WHERE kind='action' AND json_extract(body, '$.device_id')=?", (first,))
        assert led.outbox_refused_count() == 1
    finally:
        led.close()
    said = json.loads(tg(home, "agent", "resend-refused", "--json").stdout)
    assert said["requeued"] == 1 and said["restamped"] >= 1, said
    tg(home, "server", "push")
    door.sync()
    uploads = json.loads(tg(home, "server", "device", "uploads", second, "--json").stdout)
    assert [u["ticket_key"] for u in uploads if u.get("kind") == "entry"] == keys, uploads
    assert json.loads(tg(home, "agent", "status", "--json").stdout)["counts"]["outbox_refused"] == 0
