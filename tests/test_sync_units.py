"""The pure parts of the sync: topics, clock offset, replay guard, signed envelopes, bundle checks, uploader."""
from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from agent.ledger import Ledger
from agent.sync import bundle, topics
from agent.sync.clock import Check, Freshness, ReplayGuard, offset
from agent.sync.messages import Ack, ItemRefusal
from agent.sync.signed import Rejected, Verifier, seal
from agent.sync.uploader import UploadOptions, Uploader


def test_topics_build_and_parse():
    assert topics.up("demo", "gate-a") == "tg/demo/dev/gate-a/up"
    assert topics.shared_up() == "$share/ingest/tg/+/dev/+/up"
    assert topics.parse("tg/demo/ev/12/live") == topics.Parsed("demo", "live", event_id=12)
    assert topics.parse("tg/demo/dev/gate-a/cmd").device == "gate-a"
    for bad in ("tg/demo/dev/a/b/up", "xx/demo/server/status", "tg/demo/ev/x/live", "tg/de mo/server/status",
                "tg/demo/ev/²/live", "tg/demo/ev/" + "9" * 5000 + "/live"):    # a rogue broker's topics: not ours,
        assert topics.parse(bad) is None                                       # (int() raised on both before)
    with pytest.raises(ValueError):
        topics.up("demo", "gate/+")


def test_clock_offset_and_replay_guard():
    off, rtt = offset(t0=100.0, t1=10_150.0, t2=10_150.2, t3=100.4)   # device 3 h behind, 0.2 s round trip
    assert abs(off - 10_049.9) < 1e-6 and abs(rtt - 0.2) < 1e-6
    g = ReplayGuard(max_age=60)
    assert g.check("a", 1000.0, 1010.0).fresh
    assert g.check("c", 1000.0, None).fresh             # offset unknown yet: only the id is checked


def test_replay_guard_outcomes_are_typed():
    """The device decides on the kind (a late live update is counted, not refused), never on the words; the words
    shown to users stay the same."""
    g = ReplayGuard(max_age=60)
    fresh = g.check("a", 1000.0, 1010.0)
    assert fresh == Check(Freshness.FRESH, msg_id="a") and fresh.reason is None
    again = g.check("a", 1000.0, 1010.0)
    assert again.kind is Freshness.REPLAYED and again.reason == "replayed message a"
    old = g.check("b", 1000.0, 2000.0)
    assert (old.kind, old.age, old.reason) == (Freshness.STALE, 1000.0, "stale message (1000 s old)")
    ahead = g.check("c", 3000.0, 2000.0)              # from the future: a clock is wrong, it did not wait anywhere
    assert (ahead.kind, ahead.age, ahead.reason) == (Freshness.FUTURE, -1000.0, "stale message (-1000 s old)")
    assert g.check("b", 1000.0, 2000.0, max_age=7200).fresh      # its own window; not remembered while refused
    for msg_id, ts in ((None, 1.0), ("", 1.0), ("d", "1"), ("e", True)):
        bad = g.check(msg_id, ts, None)
        assert bad.kind is Freshness.MALFORMED and bad.reason == "message without id/ts" and not bad.fresh


def _pair():
    key = Ed25519PrivateKey.generate()
    return key, Verifier(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def test_signed_envelope_refuses_tampering():
    key, v = _pair()
    data = seal({"type": "ack", "ids": [1]}, key.sign)
    assert v.open(data)["ids"] == [1]
    outer = json.loads(data)
    outer["body"] = outer["body"].replace("[1]", "[2]")
    with pytest.raises(Rejected, match="bad signature"):
        v.open(json.dumps(outer).encode())
    with pytest.raises(Rejected, match="unsigned"):
        v.open(b'{"type": "ack"}')
    with pytest.raises(Rejected, match="oversized"):
        v.open(data, limit=10)
    with pytest.raises(Rejected, match="bad signature"):
        v.open(seal({"type": "ack"}, Ed25519PrivateKey.generate().sign))


def test_a_section_too_big_is_split_into_chunks_under_the_limit_each_deflated_once(monkeypatch):
    import os
    rows = [{"ticket_key": str(i), "buyer_name": os.urandom(12).hex()} for i in range(400)]    # barely compressible
    deflated: list[int] = []
    deflate = bundle._deflate
    monkeypatch.setattr(bundle, "_deflate", lambda s, level: deflated.append(1) or deflate(s, level))
    chunks = bundle.encode_chunks([{"events": []}, bundle.ticket_section(rows)], b"\x02" * 16, limit=3000)
    assert len(chunks) >= 5 and all(len(c) <= 3000 for c in chunks)
    back = [bundle.section(c, i) for i, c in enumerate(chunks)]
    assert back[0] == {"events": []}
    assert [r[0] for s in back[1:] for r in s["tickets"]["rows"]] == [str(i) for i in range(400)]
    halved = len(chunks) - 2          # each split of a part too big: one more part, one more encoding
    assert len(deflated) == len(chunks) + halved, "a part deflated twice (once to measure, once to send)"


def test_bundle_chunks_bound_to_manifest_and_versions_checked():
    key, v = _pair()
    manifest, chunks = bundle.build(org="o", device="d", version=5, base_version=0, events=[1],
                                    sections=[{"events": []}, bundle.ticket_section([{"ticket_key": "1"}])],
                                    keyring={}, sign=key.sign, bundle_id=b"\x01" * 16)
    m = v.open(manifest)
    bundle.check_manifest(m, "o", "d", 4, [1])
    for have, why in ((5, "again: the device holds it"), (9, "stale")):     # the same version: a duplicate
        with pytest.raises(Rejected, match=why):
            bundle.check_manifest(m, "o", "d", have, [1])
    with pytest.raises(bundle.AlreadyHeld):
        bundle.check_manifest(m, "o", "d", 5, [1])
    with pytest.raises(Rejected, match="not for"):
        bundle.check_manifest(m, "o", "other", 0, [])
    delta = dict(m, base_version=3)
    with pytest.raises(Rejected, match="does not fit"):
        bundle.check_manifest(delta, "o", "d", 4, [1])
    asm = bundle.Assembler()
    asm.start(m)
    with pytest.raises(Rejected, match="does not match"):
        asm.add(chunks[0][:-1] + b"\x00")
    assert asm.add(chunks[0]) is None
    done = asm.add(chunks[1])
    assert [s for s in bundle.sections(done)][1]["tickets"]["rows"][0][0] == "1"


def _uploader(tmp_path, rows: int, options: UploadOptions) -> tuple[Ledger, Uploader, list[dict], list[float]]:
    """A ledger with `rows` outbox rows and its uploader: (ledger, uploader, the batches it sent, its clock)."""
    ledger = Ledger.open(tmp_path / "l.sqlite")
    for i in range(rows):
        ledger.enqueue("action", {"type": "action", "n": i})
    sent: list[dict] = []
    now = [0.0]
    return ledger, Uploader(ledger, "o", "d", lambda m: sent.append(json.loads(m)) or True, options,
                            clock=lambda: now[0]), sent, now


def test_uploader_retries_oldest_batch_with_backoff_and_acks_only_named_rows(tmp_path):
    ledger, up, sent, now = _uploader(tmp_path, 5, UploadOptions(batch_size=2, window=2, ack_timeout=1.0,
                                                                  max_backoff=4.0))
    assert up.tick() == 4 and len(sent) == 2                  # window of two batches
    now[0] = 1.5
    assert up.tick() == 2 and sent[-1]["batch"] == sent[0]["batch"]   # the oldest again, same ids
    assert up.timeout == 2.0
    up.acked(Ack("d", sent[0]["batch"], tuple(i["id"] for i in sent[0]["items"])))
    assert ledger.outbox_size() == 3 and up.timeout == 1.0
    up.tick()
    assert [i["body"]["n"] for i in sent[-1]["items"]] == [4]
    up.restart()                                             # reconnect: everything unacknowledged again
    up.tick()
    assert [i["body"]["n"] for b in sent[-2:] for i in b["items"]] == [2, 3, 4]
    ledger.close()


def test_uploader_sends_again_a_batch_in_flight_before_a_deferred_one(tmp_path):
    """A batch the server did not take (its queue full for this device: never acknowledged), then a later one deferred
    by the rate limit: after the pause both go again. Before: the deferral cleared what was in flight and sent again
    only from the deferred batch on, so the first batch's rows waited for the next reconnection."""
    ledger, up, sent, now = _uploader(tmp_path, 6, UploadOptions(batch_size=2, window=3, ack_timeout=60.0))
    assert up.tick() == 6 and len(sent) == 3
    first, second, third = ([i["id"] for i in b["items"]] for b in sent)
    up.acked(Ack("d", sent[1]["batch"], (), deferred=tuple(second), retry_after=1.0))   # the first: no answer
    now[0] = 1.5
    assert up.tick() == 6
    assert [i["id"] for b in sent[3:] for i in b["items"]] == first + second + third
    ledger.close()


def test_uploader_sends_nothing_again_while_the_server_is_offline_and_counts_distinct_rows(tmp_path):
    """A batch the broker took waits there for the server: while the server's presence says offline it is not sent
    again (copies piled up in the server's queue); once the server is back, what it has not acknowledged `back_wait`
    later goes again once. An ack of a copy counts no row twice."""
    ledger, up, sent, now = _uploader(tmp_path, 3, UploadOptions(batch_size=2, window=2, ack_timeout=1.0,
                                                                  max_backoff=4.0, back_wait=0.5))
    up.server_gone()
    assert up.tick() == 3 and len(sent) == 2
    for t in range(1, 100):                                  # 99 s with the server down: nothing sent again
        now[0] = float(t)
        assert up.tick() == 0
    up.acked(Ack("d", sent[0]["batch"], tuple(i["id"] for i in sent[0]["items"])))    # a worker was up after all
    up.server_back()
    now[0] = 99.4
    assert up.tick() == 0                                    # the server gets time to answer what it holds
    now[0] = 99.6
    assert up.tick() == 1 and sent[-1]["batch"] == sent[1]["batch"] and len(sent) == 3    # once, the unacked one
    assert up.tick() == 0
    up.acked(Ack("d", sent[1]["batch"], tuple(i["id"] for i in sent[1]["items"])))
    up.acked(Ack("d", sent[2]["batch"], tuple(i["id"] for i in sent[2]["items"])))      # the copy's ack
    assert up.acked_rows == 3 and up.sent_rows == 4 and ledger.outbox_size() == 0
    ledger.close()


def test_uploader_keeps_refused_rows_and_waits_on_deferred_ones(tmp_path):
    ledger, up, sent, now = _uploader(tmp_path, 4, UploadOptions(batch_size=4, window=1, ack_timeout=1.0,
                                                                  max_backoff=30.0))
    ids = [row[0] for row in ledger.outbox_after(0, 10)]
    up.tick()
    batch = sent[0]["batch"]
    up.acked(Ack("d", batch, (ids[0],), (ItemRefusal(ids[1], "not allowed: event 2 is not an event of d"),),
                 deferred=(ids[2], ids[3]), retry_after=5.0))
    assert ledger.outbox_size() == 2                                  # the deferred ones wait, nothing lost
    assert [r["id"] for r in ledger.outbox_refused()] == [ids[1]]     # refused: kept, marked, out of the queue
    assert ledger.outbox_refused()[0]["refused"].startswith("not allowed")
    now[0] = 4.0
    assert up.tick() == 0                                             # the server asked for 5 s
    now[0] = 5.5
    assert up.tick() == 2 and [i["id"] for i in sent[-1]["items"]] == ids[2:]
    ledger.close()


def test_greeter_hello_timing_and_probe_answers():
    from agent.sync.hello import Greeter
    now = [0.0]
    g = Greeter(retry=1.0, presence_wait=2.0, max_retry=4.0, monotonic=lambda: now[0])
    g.connected()
    assert not g.due(False)
    now[0] = 2.5
    assert g.due(False)                                   # no presence seen: hello anyway
    p1 = g.probe(100.0)
    assert not g.due(False)
    now[0] = 4.0
    assert not g.due(True)                                # a bundle is arriving: do not ask again
    assert g.due(False) and g.retry == 2.0                # unanswered: again, backing off
    p2 = g.probe(101.0)
    assert g.answer(p2) == 101.0 and g.retry == 1.0
    assert g.answer(p1) is None                           # late answer to a repeated hello: ignored
    assert g.answer("an-earlier-run") is None              # to a hello of an earlier run: dropped, changes nothing
    with pytest.raises(Rejected):
        g.answer(None)
    assert g.server_online("s1") and not g.server_online("s1") and g.server_online("s2")


def test_device_rate_limit_defers_over_the_bucket_and_refuses_over_the_burst():
    from server_stub.sync.ratelimit import DeviceLimiter, Limits
    now = [0.0]
    lim = DeviceLimiter(Limits(items_per_s=100, items_burst=500, bytes_per_s=1 << 20, bytes_burst=4 << 20),
                        clock=lambda: now[0])
    assert lim.take("d", 500, 1000) == 0.0            # a full batch from a full bucket
    assert lim.take("d", 200, 1000) == 2.0             # 200 more: wait until 200 tokens came back
    assert lim.take("other", 500, 1000) == 0.0         # per device
    now[0] = 2.0
    assert lim.take("d", 200, 1000) == 0.0
    assert lim.too_big(501, 10) and lim.too_big(1, 5 << 20) and not lim.too_big(500, 4 << 20)
    assert lim.take("d", 1, 4 << 20) > 0               # bytes count too


def test_uploader_keeps_batches_under_the_broker_limit_and_never_blocks_on_a_huge_row(tmp_path):
    ledger = Ledger.open(tmp_path / "l.sqlite")
    small = [ledger.enqueue("action", {"type": "action", "n": i, "pad": "x" * 300}) for i in range(6)]
    huge = ledger.enqueue("cmd_result", {"type": "cmd_result", "pad": "y" * 5000})
    after = ledger.enqueue("action", {"type": "action", "n": 99})
    sent: list[bytes] = []
    up = Uploader(ledger, "o", "d", lambda m: sent.append(m) or True, UploadOptions(batch_size=10, window=8))
    up.max_message = 1500
    up.tick()
    assert all(len(m) <= 1500 for m in sent)
    ids = [i["id"] for m in sent for i in json.loads(m)["items"]]
    assert ids == small + [after]                                  # every row sent once, the huge one skipped
    [refused] = ledger.outbox_refused()
    assert refused["id"] == huge and refused["refused"].startswith("too large to upload")
    ledger.close()


def test_stopping_a_paho_thread_that_ended_meanwhile_is_no_traceback():
    """paho 2.x `loop_stop` checks its thread, then joins it; the thread, ending after `disconnect()`, clears the
    attribute in between (`agent sync` under load: AttributeError on None, exit 1). The interleaving is played
    exactly: the thread clears it while loop_stop compares it with the current thread."""
    import paho.mqtt.client as mqtt

    from agent.sync.transport import loop_stop

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, "ended")

    class Ending:
        def __ne__(self, other: object) -> bool:
            client._thread = None          # what paho's _thread_main does in its `finally`
            return True

    client._thread = Ending()
    with pytest.raises(AttributeError):
        client.loop_stop()                 # paho alone
    client._thread = Ending()
    loop_stop(client)                      # ours: the thread has ended, as asked
    assert client._thread is None


def test_uploader_halves_a_batch_over_the_message_limit_and_refuses_only_a_row_too_big_alone(tmp_path):
    """Held: a batch bigger than the broker takes (`max_message`, below mosquitto's max_packet_size) is sent in
    halves, each under it; a row too big on its own is kept on the device, marked refused 'too large to upload'
    (`agent status`, `agent sync` list it), and the rows after it still go: nothing retried forever unsaid."""
    ledger = Ledger.open(tmp_path / "l.sqlite")
    for i in range(8):
        ledger.enqueue("action", {"type": "action", "n": i, "pad": "x" * (6000 if i == 5 else 300)})
    sent: list[bytes] = []
    up = Uploader(ledger, "o", "d", lambda m: sent.append(m) or True, UploadOptions(batch_size=8, window=8))
    up.max_message = 2000
    up.tick()
    assert sent and all(len(m) <= 2000 for m in sent), [len(m) for m in sent]
    items = [i["body"]["n"] for m in sent for i in json.loads(m)["items"]]
    assert items == [0, 1, 2, 3, 4, 6, 7], items
    refused = ledger.outbox_refused()
    assert len(refused) == 1 and refused[0]["refused"].startswith("too large to upload ("), refused
    assert up.refused_rows == 1
    ledger.close()
