"""A stolen door's uploads at the edges of JSON (through `provision serve`'s broker and `server serve`, the door's
own broker login): every such upload is refused alone, with its reason, and another gate's upload is still taken."""
from __future__ import annotations

import json
import time
import uuid

import pytest

from agent.sync import topics
from agent.sync.messages import ActionItem, Batch
from tests.helpers import wait_for
from tests.test_qa_attacks import StolenLogin, field, tg, the_other_gate_is_still_counted  # noqa: F401  (`field`: the fixture)


def _batch(device: str, rows: list[tuple[int | str, dict]]) -> bytes:
    """A batch whose row ids are written as given (an int of any size, or raw JSON text)."""
    return Batch.encode("acme", device, uuid.uuid4().hex, time.time(), [(i, "action", json.dumps(b)) for i, b in rows])  # type: ignore[misc]


def test_attack_row_ids_no_database_column_holds_are_refused_not_a_failed_drain(field):  # noqa: F811
    """Row ids of 2**64 and 10**30 (any JSON integer parsed; SQLite and PostgreSQL hold 64 bits): on an entry of a real
    ticket and on a refused `reset`. Before: the store's insert raised OverflowError, 'ingestion failed', the whole
    drain dropped (another gate's upload in it too), nothing listed for the organiser. Then what held already, each
    refused with its reason: `sent` 1e400 (Infinity), 100,000 items, `at` NaN, a ticket key as a number, a body
    naming its kind twice (the last one, a reset, is what is judged)."""
    thief = StolenLogin(field.door)
    try:
        entry = ActionItem(str(uuid.uuid4()), "entry", field.ticket, 1, "in", time.time(), thief.device, "north")
        reset = ActionItem(str(uuid.uuid4()), "reset", field.ticket, 1, None, time.time(), thief.device, "north")
        thief.publish(topics.up("acme", thief.device), _batch(thief.device, [(2**64, entry.to_wire())]))
        thief.publish(topics.up("acme", thief.device), _batch(thief.device, [(10**30, reset.to_wire())]))
        up = topics.up("acme", thief.device)
        head = f'{{"type":"batch","org":"acme","device":"{thief.device}","batch":"{uuid.uuid4().hex}"'
        body = json.dumps(dict(entry.to_wire(), scan_uuid=str(uuid.uuid4())))
        for raw in (head + ',"sent":1e400,"items":[]}',                                   # Infinity
                    head + ',"sent":1,"items":[' + ",".join(['{"id":1}'] * 100_000) + "]}",  # 100,000 items
                    head + ',"sent":1,"items":[{"id":1,"kind":"action","body":'           # NaN, a number as text
                    + body.replace('"at": ', '"at": NaN, "x": ') + '},{"id":2,"kind":"action","body":'
                    + body.replace(f'"ticket_key": "{field.ticket}"', f'"ticket_key": {field.ticket}') + "}]}",
                    head + ',"sent":1,"items":[{"id":3,"kind":"action","body":'            # duplicate keys
                    + body.replace('"kind": "entry"', '"kind": "entry", "kind": "reset"') + "}]}"):
            thief.publish(up, raw.encode())
        expected = ("row id 18446744073709551616 out of range", "row id 100000000000000000000000… out of range",
                    "bad sent: inf", "malformed batch (items)", "bad at: nan", "bad ticket_key",
                    "comes only from the organiser")
        assert wait_for(lambda: all(w in tg(field.org, "server", "refusals").stdout for w in expected), 60), \
            tg(field.org, "server", "refusals").stdout + field.serve_log.read_text()[-3000:]
    finally:
        thief.close()
    the_other_gate_is_still_counted(field)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_attack_text_no_store_holds_is_refused_not_a_failed_drain(tmp_path, backend, request):
    """A stolen door's entry naming its gate `no\\u0000rth` (PostgreSQL's text columns refuse a NUL), a batch naming
    organiser `acme\\ud800` (a lone surrogate quoted in the refusal's reason: no UTF-8 text holds it), and a desk
    request holding a NUL. Before: the store's insert raised (psycopg DataError / UnicodeEncodeError), 'ingestion
    failed', the drain dropped with other gates' uploads in it, nothing listed for the organiser."""
    from tests.qa_organiser import organiser_running
    from tests.qa_organiser import tg as run
    org, thief_home, gate_home = (tmp_path / name for name in ("org", "thief", "gate"))
    for home in (org, thief_home, gate_home):
        home.mkdir()
    now = time.time()
    start, end = (time.strftime("%Y-%m-%d", time.gmtime(now + d * 86400)) for d in (-1, 2))
    run(org, "server", "init", "--org", "acme", "--name", "Acme")
    run(org, "server", "event", "create", "--name", "Week", "--start", f"{start} 10:00", "--end", f"{end} 23:00",
        "--zone", "1=Floor", "--category", "1=Adult")
    order = json.loads(run(org, "server", "order", "add", "--event", "1", "--buyer", "Ann", "--ticket",
                           "category=Adult,zone=Floor", "--json").stdout)
    db: list[str] = []
    if backend == "postgresql":
        db = ["--db", request.getfixturevalue("pg_url")]
        run(org, "server", "copy-to", *db)
    ticket = order["tickets"][0]["ticket_key"]
    payload = json.loads(run(org, "server", *db, "ticket", "show", ticket, "--json").stdout)["payload"]
    with organiser_running(org, *db, seconds=200) as running:
        for home, gate in ((thief_home, "north"), (gate_home, "south")):
            running.enroll(home, gate, "1")
            run(home, "agent", "sync", "--until-idle", "--for", "60")
        thief = StolenLogin(thief_home)
        try:
            up = topics.up("acme", thief.device)
            entry = ActionItem(str(uuid.uuid4()), "entry", ticket, 1, "in", time.time(), thief.device, "no\x00rth")
            thief.publish(up, _batch(thief.device, [(1, entry.to_wire())]))
            other = json.loads(_batch(thief.device, [(2, dict(entry.to_wire(), gate="north"))]))
            thief.publish(up, json.dumps(dict(other, org="acme\ud800")).encode("utf-8", "surrogatepass"))
            thief.publish(up, json.dumps({"type": "send_etickets", "org": "acme", "device": thief.device,
                                          "request_id": "r\x00", "order_number": order["number"],
                                          "deadline": time.time() + 60}).encode())
            said = lambda: run(org, "server", *db, "refusals").stdout  # noqa: E731
            assert wait_for(lambda: said().count("malformed: text holding a NUL character") == 2      # the entry,
                            and "upload names acme\\ud800/" in said(), 60), said()        # the desk request
            assert "row 1 " in said()
        finally:
            thief.close()
        run(gate_home, "agent", "scan", payload)
        run(gate_home, "agent", "sync", "--until-idle", "--for", "60")     # the other gate's entry is taken
        assert json.loads(run(org, "server", *db, "stats", "--json").stdout)["entries"] == 1
        running.stop_serve()
