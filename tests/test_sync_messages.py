"""The typed wire messages (agent/sync/messages.py): round trips, one check per bad field, and the message tables of
docs/sync-protocol.md kept equal to the module."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.sync import messages as m
from agent.sync.signed import Rejected

ROOT = Path(__file__).resolve().parent.parent

SAMPLES = [
    m.ActionItem("u-1", "entry", "123", 1, "in", 1000.5, "gate-a", "north", 7, 2.5, None, "", "accepted", "normal"),
    m.RefusalItem("already_used", "123", 1, 1001.0, "gate-a", "north", "first used at 20:01", 0.0),
    m.PaymentValidated("AB12-CD", "kiosk-1", "Zoé", 1002.0),
    m.Exchange("123", "torn", "kiosk-1", category=2, zone=None, seat="B7", at=1003.0),
    m.Printed("AB12-CD", ("123", "124"), "kiosk-1", "badge", "zebra-1", reprint=True, at=1004.0),
    m.OfflineSale("s-1", 140737488355329, 1, (m.SoldTicket("140737488355330", 2, None, "TG2:…"),), 4500, "kiosk-1",
                  "EUR", "SPRING", "card", "T-889", "Zoé", "z@example.org", 1005.0),
    m.CmdResult("cmd-1", {"ok": True}, "gate-a"),
    m.ConfigChange({"zones": [None, [1, 2]]}, "gate-a", 1004.5, staff="7"),
    m.SaleRequest("demo", "kiosk-1", "r-1", 1, (m.SaleLine(2, 4), m.SaleLine(1, 1, 3)), "cash", "", "SPRING", "Zoé",
                  "", 4500, 1006.0),
    m.RefundRequest("demo", "kiosk-1", "r-2", "AB12-CD", "buyer ill", "refund", 1007.0),
    m.ExchangeRequest("demo", "kiosk-1", "r-3", "123", "date change", 5, 2, None, 1008.0, "card"),
    m.AllotmentRequest("demo", "kiosk-1", "r-4", "A" * 43 + "="),
    m.TillRequest("demo", "kiosk-1", "r-5", "close", 12345, staff="3"),
    m.ETicketsRequest("demo", "kiosk-1", "r-6", "K7Q2-9XDM"),
    m.DeskAnswer("kiosk-1", "r-1", "sale", True, "", "AB12-CD", "paid", "EUR", 4500, 0,
                 ({"category": 2, "quantity": 4, "total_cents": 4500, "promotion": "4 for 3"},),
                 (m.SoldTicket("123", 2, None, "TG1:…"),)),
    m.Hello("demo", "gate-a", "p1", 1000.0, 412, (1, 2)),
    m.Ack("gate-a", "b1", (1, 2), (m.ItemRefusal(3, "not allowed: event 2 is not an event of gate-a"),), (4,), 1.5),
    m.Clock("gate-a", "p1", 1000.0, 1000.2, 1000.3),
    m.Resync("kiosk-1"),
    m.BundleManifest("demo", "gate-a", "ab" * 16, 412, 0, (1,), {"keys": []}, ("0" * 64,)),
    m.RelayedAction("u-1", "entry", "123", 1, "in", 1000.5, "gate-a", "north", 7, None, "", 2.5, "normal"),
    m.Checkins(1, (m.RelayedAction("u-1", "entry", "123", 1, "in", 1000.5),)),
    m.Update(1, revocations=({"ticket_key": "9", "reason": "refunded", "at": 5.0},), unblocked=("8",)),
    m.UpdateV2(1, revoked=(("9", "refunded", 5.0), ("A-1", "refunded", 5.0)), unblocked=("8",),
               states=(("9", "refunded"),)),
    m.Command("config", "gate-a", {"config": {"mode": "multiple"}}),
    m.ServerStatus("online", "server-1", 1000.0),
    m.Flag("123", "refunded", 1000.0),
]


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda x: type(x).__name__)
def test_round_trip(msg):
    wire = msg.to_wire()
    if isinstance(msg, (m.ActionItem, m.RefusalItem, m.PaymentValidated, m.Exchange, m.Printed, m.OfflineSale,
                        m.CmdResult, m.ConfigChange)):
        assert m.item_from_wire(wire) == msg
    else:
        assert type(msg).from_wire(wire) == msg


def test_every_message_has_a_sample_and_a_unique_row():
    assert {type(s) for s in SAMPLES} | {m.Batch, m.DeviceStatus} == set(m.MESSAGES)


@pytest.mark.parametrize("field,value,reason", [
    ("scan_uuid", "", "bad scan_uuid"), ("scan_uuid", "x" * 65, "bad scan_uuid"), ("kind", "teleport", "bad kind"),
    ("ticket_key", None, "bad ticket_key"), ("event_id", "1", "bad event_id"), ("event_id", True, "bad event_id"),
    ("direction", "up", "bad direction"), ("at", "yesterday", "bad at"), ("at", float("nan"), "bad at"),
    ("reason", "r" * 501, "bad reason"), ("gate", 5, "bad gate")])
def test_a_bad_action_field_is_named(field, value, reason):
    wire = dict(SAMPLES[0].to_wire(), **{field: value})
    with pytest.raises(Rejected, match=reason):
        m.item_from_wire(wire)


def test_optional_text_fields_may_be_null():
    wire = dict(SAMPLES[0].to_wire(), gate=None, reason=None, clock_offset=None)
    item = m.item_from_wire(wire)
    assert (item.gate, item.reason, item.clock_offset) == ("", "", 0.0)


def test_batch_keeps_good_items_and_lists_bad_ones_with_their_row():
    raw = m.Batch.encode("demo", "gate-a", "b1", 1.0, [(1, "action", '{"type":"action"}'),
                                                      (2, "kiosk", '{"type":"kiosk","action":"teleport"}'),
                                                      (3, "refusal", '{"type":"refusal","verdict":"forged","at":1}')])
    import json
    batch = m.Batch.from_wire(json.loads(raw))
    assert [u.id for u in batch.items] == [3] and isinstance(batch.items[0].body, m.RefusalItem)
    assert [(r.id, r.reason) for r in batch.invalid] == [(1, "malformed: missing scan_uuid"),
                                                         (2, "malformed: unknown kiosk action 'teleport'")]
    with pytest.raises(Rejected, match="twice"):
        m.Batch.from_wire(json.loads(m.Batch.encode("demo", "d", "b", 1.0, [(1, "x", "{}"), (1, "x", "{}")])))
    with pytest.raises(Rejected, match="items"):
        m.Batch.from_wire({"type": "batch", "org": "demo", "device": "d", "batch": "b", "items": [{}] * 5001})


def test_chunk_header_packs_and_refuses_what_is_not_a_chunk():
    head = m.ChunkHeader(b"\x01" * 16, 7)
    data = head.pack() + b"zlib..."
    assert m.ChunkHeader.unpack(data) == head and m.ChunkHeader.is_chunk(data)
    with pytest.raises(Rejected):
        m.ChunkHeader.unpack(b"TGB1short")


def _doc_rows() -> dict[str, tuple[str, str, list[str]]]:
    text = (ROOT / "docs" / "sync-protocol.md").read_text()
    table = text.split("<!-- messages:begin -->")[1].split("<!-- messages:end -->")[0]
    rows = {}
    for line in table.strip().splitlines()[2:]:
        name, type_, topic, fields = [c.strip() for c in line.strip("|").split("|")]
        rows[name.strip("`")] = (type_, topic, [f.strip() for f in fields.split(",")])
    return rows


def test_docs_message_table_matches_the_module():
    rows = _doc_rows()
    assert set(rows) == {c.__name__ for c in m.MESSAGES}, "a message is missing from docs/sync-protocol.md or extra"
    for cls in m.MESSAGES:
        type_, topic, fields = rows[cls.__name__]
        assert topic == cls.TOPIC, cls.__name__
        assert fields == cls.wire_fields(), cls.__name__
        wire_type = re.match(r"`([a-z_0-9]+)`", type_)
        assert (wire_type.group(1) if wire_type else None) == (cls.TYPE if cls.TYPED else None), cls.__name__
        if cls.ACTION:
            assert f"`{cls.ACTION}`" in type_, cls.__name__


def test_relayed_rows_that_do_not_parse_are_reported_and_the_others_kept():
    good = m.RelayedAction("u-1", "entry", "123", 1, "in", 1000.5, "gate-b", None, None, None, None).to_wire()
    good["gate"] = None                                                # null gate/reason: stored empty, not dropped
    bad = dict(good, scan_uuid="u-2", ticket_key=None)
    checkins = m.Checkins.from_wire({"type": "checkins", "event": 1, "actions": [good, bad, "junk"]})
    assert [a.scan_uuid for a in checkins.actions] == ["u-1"] and checkins.actions[0].gate == ""
    assert checkins.invalid == ("bad ticket_key: None", "relayed action is not a JSON object")


def test_update_rows_are_checked_each_by_its_type():
    ok = {"type": "update", "event": 1, "revocations": [{"ticket_key": "9", "reason": "refunded", "at": 5.0}],
          "unblocked": ["8"], "resets": [{"scan_uuid": "r1", "kind": "reset", "ticket_key": "9", "event_id": 1,
                                          "direction": None, "at": 6.0, "device_id": "server"}]}
    assert m.Update.from_wire(ok).revocations[0]["ticket_key"] == "9"
    for bad, reason in ((dict(ok, revocations=[{"reason": "x"}]), "missing ticket_key"),
                        (dict(ok, blocks=[{"ticket_key": 9, "reason": "x", "at": 1.0}]), "bad ticket_key"),
                        (dict(ok, resets=[{"scan_uuid": "r2", "kind": "teleport", "ticket_key": "9", "at": 1.0}]),
                         "bad kind"),
                        (dict(ok, unrevoked=[None]), "bad unrevoked")):
        with pytest.raises(Rejected, match=reason):
            m.Update.from_wire(bad)
