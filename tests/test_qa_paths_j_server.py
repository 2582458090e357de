"""Gaps on the server side a QA walk of trust left open (session J): uploads the server must refuse and list for the
organiser, and what `server order show` / `server ticket show` say. Store-level tests run on both backends (SQLite
file, PostgreSQL); the walks use the public commands with real mosquitto and `server serve`. Each test fails on the
defect it names."""
from __future__ import annotations

import json
import time
import uuid

import pytest

from agent.sync import topics
from agent.sync.messages import ActionItem, Batch
from tests.broker import mosquitto_binary
from tests.helpers import wait_for
from tests.test_qa_attacks import StolenLogin, field, tg   # noqa: F401  (`field`: the fixture)

NOW = time.time()
mosquitto = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def _events_and_tickets(store):
    """fest: nights 1, 2, 3, a weekend pass (1 + 2), one ticket of each; gala: another organiser's night."""
    cats = [{"category_id": 1, "name": "A"}]
    e1, e2, e3 = (store.create_event("fest", f"Night {i}", NOW - 3600, NOW + 3600, "UTC", [], cats) for i in (1, 2, 3))
    weekend = store.create_pass("fest", "Weekend", [e1, e2])
    key = {t: store.add_order("fest", t, f"Buyer {t}", positions=[{"category": 1}])["tickets"][0]["ticket_key"]
           for t in (e1, e2, weekend)}
    return e1, e2, e3, weekend, key


def test_a_door_action_naming_a_ticket_of_another_event_is_refused(store):
    """A door holding nights 1 and 2 uploads an entry under night 1 for night 2's ticket (a stolen or buggy door:
    the gate itself refuses such a ticket as `wrong_event`). Before: stored, counted in night 1's statistics and
    relayed to its gates. Now refused with the ticket and the event named; a weekend pass is taken at both nights
    and refused at night 3; a ticket the server did not issue (pretix, an offline sale not reconciled yet) is
    taken as the gate saw it, an id of the allotments' space only within an allotment for that night
    (test_attack_scope.py); a quick cancellation and an annulment are checked the same way."""
    from server_stub.sync.ingest import Scope, store_lookups
    e1, e2, e3, weekend, key = _events_and_tickets(store)
    store.set_quota("fest", e1, 10)
    store.register_device("fest", "kiosk-1", role="kiosk")
    store.set_allotment_size("fest", "kiosk-1", [e1], 4, hours=2)
    first = store.grant_allotment("fest", "kiosk-1", bytes(32)).first_id
    lookups = list(store_lookups(store))
    asked: list[set[str]] = []
    lookups[5] = lambda keys: asked.append(set(keys)) or store.ticket_targets(keys)
    scope = Scope({"device_id": "gate-a", "org": "fest"}, lambda: {e1, e2, e3}, *lookups)
    items = {"wrong": ActionItem("a1", "entry", key[e2], e1, "in", NOW, "gate-a"),
             "right": ActionItem("a2", "entry", key[e1], e1, "in", NOW, "gate-a"),
             "pass1": ActionItem("a3", "entry", key[weekend], e1, "in", NOW, "gate-a"),
             "pass2": ActionItem("a4", "entry", key[weekend], e2, "in", NOW, "gate-a"),
             "pass3": ActionItem("a5", "entry", key[weekend], e3, "in", NOW, "gate-a"),
             "pretix": ActionItem("a6", "entry", "pretix:Xk2J9qLm", e1, "in", NOW, "gate-a"),
             "offline": ActionItem("a7", "entry", str(first + 1), e1, "in", NOW, "gate-a"),
             "offline2": ActionItem("a7b", "entry", str(first + 1), e2, "in", NOW, "gate-a"),
             "guessed": ActionItem("a7c", "entry", str(first + 4), e1, "in", NOW, "gate-a"),
             "cancel": ActionItem("a8", "cancel", key[e1], e3, None, NOW, "gate-a")}
    scope.learn_tickets({i.ticket_key for i in items.values()})
    said = {name: scope.refusal(item) for name, item in items.items()}
    assert asked == [{i.ticket_key for i in items.values()}]          # one lookup for the whole batch
    assert said["wrong"] == f"not allowed: ticket {key[e2]} is not a ticket of event {e1}"
    assert said["wrong"].code == "ticket_other_event" and said["wrong"].params == {"ticket": key[e2], "event": str(e1)}
    assert said["pass3"] == f"not allowed: ticket {key[weekend]} is not a ticket of event {e3}"
    assert said["cancel"] == f"not allowed: ticket {key[e1]} is not a ticket of event {e3}"
    assert said["offline2"] == f"not allowed: ticket {first + 1} is not a ticket of event {e2}"
    assert said["guessed"] == f"unknown ticket {first + 4} (in no offline allotment)"
    assert {n for n, why in said.items() if why is None} == {"right", "pass1", "pass2", "pretix", "offline"}
    # an annulment of an accepted entry, naming another event's ticket, is refused too (it would release that ticket)
    assert "is not a ticket of event" in scope.refusal(ActionItem("a9", "annul", key[e2], e1, None, NOW, "gate-a",
                                                                  ref_uuid="a2"))
    assert scope.refusal(ActionItem("a10", "annul", key[e1], e1, None, NOW, "gate-a", ref_uuid="a2")) is None
    assert store.ticket_targets({key[e1], key[weekend], "pretix:x", "99999999"}) == {key[e1]: e1, key[weekend]: weekend}


def test_a_ticket_of_another_organiser_is_refused(store):
    """The same ticket number under another organiser's event (one server, two organisers): refused."""
    from server_stub.sync.ingest import Scope, store_lookups
    e1, _e2, _e3, _weekend, key = _events_and_tickets(store)
    store.create_organiser("gala", "Gala")
    other = store.create_event("gala", "Gala", NOW - 3600, NOW + 3600, "UTC", [], [{"category_id": 1, "name": "A"}])
    scope = Scope({"device_id": "gate-g", "org": "gala"}, lambda: {other}, *store_lookups(store))
    assert scope.refusal(ActionItem("g1", "entry", key[e1], other, "in", NOW, "gate-g")) == (
        f"not allowed: ticket {key[e1]} is not a ticket of event {other}")


@mosquitto
def test_walk_a_stolen_door_uploads_an_entry_for_another_events_ticket(field):
    """Through `server serve`: the door holds event 1; a thief with its broker login uploads an entry under event 1
    for event 2's ticket, and a genuine entry. The first is listed by `server refusals` (ticket and event named),
    not counted; the genuine one is."""
    fmt = "%Y-%m-%d %H:%M"
    tg(field.org, "server", "event", "create", "--name", "Tomorrow", "--tz", "UTC", "--zone", "1=Floor",
       "--category", "1=Adult", "--start", time.strftime(fmt, time.gmtime(NOW + 86400)),
       "--end", time.strftime(fmt, time.gmtime(NOW + 90000)))
    tg(field.org, "server", "order", "add", "--event", "2", "--buyer", "Bob", "--email", "bob@example.org",
       "--ticket", "category=Adult,zone=Floor")
    other = json.loads(tg(field.org, "server", "order", "find", "Bob", "--json").stdout)[0]["tickets"][0]["ticket_key"]
    thief = StolenLogin(field.door)
    try:
        thief.upload([ActionItem(str(uuid.uuid4()), "entry", other, 1, "in", time.time(), thief.device,
                                 "north").to_wire(),
                      ActionItem(str(uuid.uuid4()), "entry", field.ticket, 1, "in", time.time(), thief.device,
                                 "north").to_wire()])
        assert wait_for(lambda: "row 100" in tg(field.org, "server", "refusals").stdout, 60)
    finally:
        thief.close()
    refused = tg(field.org, "server", "refusals").stdout
    assert f"ticket {other} is not a ticket of event 1" in refused and "row 101" not in refused, refused
    assert wait_for(lambda: json.loads(tg(field.org, "server", "stats", "--json").stdout)["entries"] == 1, 30)


@mosquitto
def test_walk_an_upload_that_does_not_parse_is_listed_with_its_device(field):
    """A stolen door publishes on its upload topic a message that is not JSON, one that is not an object, and a batch
    naming another device in its body. Before: each appeared only in the `server serve` log; the organiser's
    `server refusals` said "no refused uploads". Now each is listed with the device (its topic) and why."""
    thief = StolenLogin(field.door)
    up = topics.up("acme", thief.device)
    try:
        thief.publish(up, b"\x00not json at all")
        thief.publish(up, b"[1, 2, 3]")
        thief.publish(up, Batch.encode("acme", "dev-someone-else", "b1", time.time(), []))
        assert wait_for(lambda: tg(field.org, "server", "refusals").stdout.count(f"message on {up}") == 3, 60)
    finally:
        thief.close()
    said = tg(field.org, "server", "refusals").stdout
    assert "malformed JSON" in said and f"upload names acme/dev-someone-else on the topic of acme/{thief.device}" in said
    assert said.count(thief.device) >= 3, said
    listed = json.loads(tg(field.org, "server", "refusals", "--json").stdout)
    assert {r["body"]["excerpt"] for r in listed} >= {"\x00not json at all", "[1, 2, 3]"}


def test_order_and_ticket_show_say_a_ticket_was_quick_cancelled(store):
    """A door quick-cancels one ticket of a two-ticket order (back on sale). Before: `server order show` and `server
    ticket show` said nothing of it (only a fully cancelled order's status did). Now the ticket says when and at which
    gate; annulled, it says nothing again."""
    from server_stub.orders import order_text
    from server_stub.sync.contract import Upload
    cats = [{"category_id": 1, "name": "A"}]
    event = store.create_event("fest", "Night", NOW - 3600, NOW + 3600, "UTC", [], cats)
    store.register_device("fest", "door-b", gate="box", events=[event])
    order = store.add_order("fest", event, "Ann", positions=[{"category": 1}] * 2)
    first, second = (t["ticket_key"] for t in order["tickets"])
    cancel = ActionItem("c1", "cancel", first, event, None, NOW, "door-b", "box")
    store.ingest_uploads([Upload("fest", "door-b", 1, cancel)])
    shown = store.order(order["number"])
    assert [t["quick_cancelled"] for t in shown["tickets"]] == [{"at": NOW, "gate": "box", "device_id": "door-b"}, None]
    assert shown["status"] == "paid"                     # one ticket of two: the order itself is unchanged
    text = order_text(shown)
    line = next(r for r in text.splitlines() if first in r)
    assert "quick-cancelled at box" in line and "back on sale" in line, text
    assert "quick-cancelled" not in next(r for r in text.splitlines() if second in r)
    assert store.ticket(first)["quick_cancelled"]["gate"] == "box" and store.ticket(second)["quick_cancelled"] is None
    store.ingest_uploads([Upload("fest", "door-b", 2, ActionItem("c2", "annul", first, event, None, NOW + 1, "door-b",
                                                                 "box", ref_uuid="c1"))])
    assert store.ticket(first)["quick_cancelled"] is None
    assert [t["quick_cancelled"] for t in store.order(order["number"])["tickets"]] == [None, None]


def test_a_pretix_ticket_is_revoked_per_event_and_lifted(store):
    """docs/pretix.md: revoked pretix secrets go in the revocation list under `pretix:<seed>`. The store keeps them per
    event, in the event's revocations (bundles and the announcer read those), newest version first; lifted, the
    revocation comes back inactive in a delta and is gone from a full bundle."""
    from agent.errors import TicketgateError
    cats = [{"category_id": 1, "name": "A"}]
    e1, e2 = (store.create_event("fest", f"Night {i}", NOW - 3600, NOW + 3600, "UTC", [], cats) for i in (1, 2))
    before = store.version("fest")
    store.revoke_key("fest", e1, "pretix:Jz9mPq3sA", "refunded in pretix")
    assert [(r["ticket_key"], r["reason"], r["active"]) for r in store.revocations_for_event(e1, before)] == [
        ("pretix:Jz9mPq3sA", "refunded in pretix", True)]
    assert store.revocations_for_event(e2) == [] and store.version("fest") > before
    lifted_at = store.version("fest")
    store.revoke_key("fest", e1, "pretix:Jz9mPq3sA", "sold again", active=False)
    assert [(r["ticket_key"], r["active"]) for r in store.revocations_for_event(e1, lifted_at)] == [
        ("pretix:Jz9mPq3sA", False)]
    assert store.revocations_for_event(e1) == []
    for bad in ("12345", "pretix:"):
        with pytest.raises(TicketgateError, match="not a pretix ticket key"):
            store.revoke_key("fest", e1, bad, "x")
    store.create_organiser("gala", "Gala")
    with pytest.raises(TicketgateError, match=f"no event {e1} for organiser 'gala'"):
        store.revoke_key("gala", e1, "pretix:Jz9mPq3sA", "x")


@mosquitto
def test_walk_a_revoked_pretix_secret_reaches_the_door(field):
    """The door trusts a pretix event (the published test vectors) mapped onto event 1 . Before: `server ticket block pretix:…` answered "ticket keys are numbers" and no public command put a
    pretix secret in the revocation list docs/pretix.md points to. Now `server ticket revoke SECRET --event 1` (the
    secret as pretix lists it, or `pretix:SEED`) reaches the door with its next sync: the secret scans `revoked`;
    lifted, it is admitted."""
    from tests.qa_organiser import ROOT, tg as run
    vectors = json.loads((ROOT / "tests" / "vectors" / "pretix-sig1.json").read_text())
    event_json = field.door / "pretix-event.json"
    event_json.write_text(json.dumps(vectors["event_resource"]))
    tg(field.door, "agent", "trust-pretix", str(event_json), "--event-id", "1", "--item", "21=1:1",
       "--subevent", "301=1")
    secret = next(v["secret"] for v in vectors["vectors"] if v["name"] == "item and subevent")
    refused = run(field.org, "server", "ticket", "block", "pretix:Jz9mPq3sA", "--reason", "x", ok=False)
    assert "server ticket revoke pretix:SEED --event N" in refused.stderr, refused
    said = tg(field.org, "server", "ticket", "revoke", secret, "--event", "1", "--reason", "refunded in pretix").stdout
    assert "ticket pretix:Jz9mPq3sA revoked (refunded in pretix) at event 1" in said, said
    tg(field.door, "agent", "sync", "--until-idle", "--for", "60")
    verdict = json.loads(tg(field.door, "agent", "scan", "--json", secret).stdout)
    assert verdict["verdict"] == "revoked", verdict
    tg(field.org, "server", "ticket", "revoke", "pretix:Jz9mPq3sA", "--event", "1", "--reason", "sold again", "--lift")
    tg(field.door, "agent", "sync", "--until-idle", "--for", "60")
    verdict = json.loads(tg(field.door, "agent", "scan", "--json", secret).stdout)
    assert verdict["verdict"] == "accepted", verdict
