"""A staff member's act is judged by the role she held when she did it (server time: `at + clock_offset`), not by her
role when the door syncs: Sam, a supervisor, undoes an entry at a door offline, then the organiser makes her door
staff; the undo is taken (before: refused, "Sam Okafor (1) (door) cannot undo a check-in", `server stats` counting
one inside while the door said none). An undo she makes after the change, at a door that had not heard of it (it
still holds her as a supervisor), is refused. Real `provision serve`, mosquitto and `server serve`, both stores."""
from __future__ import annotations

import json
import time

import pytest

from tests.broker import mosquitto_binary
from tests.qa_organiser import organiser_running, tg
from tests.test_qa_walks import _sync

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")
DAY = 86400


@pytest.fixture(params=["sqlite", "postgresql"])
def store_opts(request, tmp_path) -> tuple[str, ...]:
    if request.param == "sqlite":
        return ()
    return ("--data", str(tmp_path / "server"), "--db", request.getfixturevalue("pg_url"))


def _event_with_tickets(srv, count: int) -> list[str]:
    """An event open from yesterday for a week, one paid order of `count` tickets: their signed QR payloads."""
    now = time.time()
    start, end = (time.strftime("%Y-%m-%d", time.gmtime(now + d * DAY)) for d in (-1, 7))
    srv("init", "--org", "acme", "--name", "Acme Festival")
    srv("event", "create", "--name", "Week", "--start", f"{start} 10:00", "--end", f"{end} 23:00",
        "--zone", "1=Floor", "--category", "1=Adult")
    order = json.loads(srv("order", "add", "--event", "1", "--buyer", "Ann Martin", "--quantity", str(count),
                           "--ticket", "category=Adult,zone=Floor", "--json").stdout)
    return [json.loads(srv("ticket", "show", t["ticket_key"], "--json").stdout)["payload"] for t in order["tickets"]]


def _in_and_undone(home, payload: str) -> None:
    assert json.loads(tg(home, "agent", "scan", "--json", payload).stdout)["verdict"] == "accepted"
    tg(home, "agent", "annul", "--reason", "wrong ticket")


def test_an_undo_is_judged_by_the_role_held_when_it_was_done(tmp_path, store_opts):
    home = tmp_path / "home"
    home.mkdir()

    def srv(*args: str, ok: bool = True, stdin: str = ""):
        return tg(home, "server", *store_opts, *args, ok=ok, stdin=stdin)
    before, after = _event_with_tickets(srv, 2)
    sam = json.loads(srv("staff", "add", "--name", "Sam Okafor", "--role", "supervisor", "--pin", "--json",
                         stdin="4321\n").stdout)["staff_id"]
    with organiser_running(home, *store_opts) as running:
        running.enroll(home, "north")
        srv("push")
        assert _sync(home)["rejected"] == []
        tg(home, "agent", "login", "--staff", "Sam Okafor", "--pin", stdin="4321\n")
        _in_and_undone(home, before)                     # a supervisor's undo, the door offline
        time.sleep(1.0)
        srv("staff", "set", sam, "--role", "door")       # the door does not sync: it still holds her as a supervisor
        time.sleep(1.0)
        _in_and_undone(home, after)                      # done as door staff: a stale promotion
        assert _sync(home)["outbox_pending"] == 0
        refused = json.loads(tg(home, "agent", "status", "--json").stdout)["refused_uploads"]
        assert len(refused) == 1, refused
        assert f"not allowed: Sam Okafor ({sam}) (door) cannot undo a check-in" in json.dumps(refused), refused
        stats = json.loads(srv("stats", "--json").stdout)
        assert (stats["entries"], stats["inside_now"]) == (1, {"1": 1}), stats   # `after` in (its undo refused)
        actions = json.loads(srv("staff", "actions", "--json").stdout)
        assert sorted(a["kind"] for a in actions if a["staff"] == sam) == ["annul", "entry", "entry"], actions


def test_the_role_history_is_kept_by_both_stores_and_a_promotion_counts_from_when_it_was_made(store, open_backend,
                                                                                            tmp_path):
    """`staff add` and each `staff set --role` that changes the role record it with its time (a name change records
    nothing); the server judges a desk act (a payment validated: supervisors only) by the role held at its time:
    done before the clerk's promotion, refused; after it, taken; after her demotion again, refused. A store migrated
    to 26 holds each member's role since they were added."""
    from agent.sync.messages import PaymentValidated
    from server_stub.sync.ingest import Scope, held_events, store_lookups
    e1 = store.create_event("fest", "Night", time.time(), time.time() + 3600, "UTC")
    scope = Scope({"device_id": "k", "org": "fest", "role": "kiosk"}, lambda: held_events(store, "fest", [e1]),
                  *store_lookups(store))
    ann = store.add_staff("fest", "Ann Clerk", "desk", pin="1234")["staff_id"]
    store.set_staff("fest", ann, name="Ann Desk")                   # no role change: nothing recorded
    as_desk = time.time()
    time.sleep(0.05)
    store.set_staff("fest", ann, role="supervisor")
    time.sleep(0.05)
    as_supervisor = time.time()
    time.sleep(0.05)
    store.set_staff("fest", ann, role="desk")
    history = store.staff_roles("fest")[ann]
    assert [role for _, role in history] == ["desk", "supervisor", "desk"], history
    assert history[0][1] == "desk" and as_desk < history[1][0] < as_supervisor < history[2][0]

    def validated(at: float) -> str | None:
        return Scope({"device_id": "k", "org": "fest", "role": "kiosk"}, lambda: {e1},
                     *store_lookups(store)).staff_refusal(PaymentValidated("O-1", "k", at=at, staff=ann))
    assert "Ann Desk" in (validated(as_desk) or "") and "(desk) cannot validate a payment" in (validated(as_desk) or "")
    assert validated(as_supervisor) is None
    assert "(desk) cannot validate a payment" in (validated(time.time()) or "")
    assert scope.staff_refusal(PaymentValidated("O-1", "k", at=as_supervisor, staff=ann)) is None

    # a store from before migration 26, holding Ann: migrated, she holds her role since she was added
    from server_stub.store import schema, schema_pg
    added = store.staff_member(ann)["created_at"]
    folder = tmp_path / "server"
    url = open_backend.url(folder)
    store.close()
    if url is None:
        import sqlite3
        from server_stub.store.sqlite_store import DB_NAME
        conn = sqlite3.connect(folder / DB_NAME, isolation_level=None)
        conn.execute("DROP TABLE staff_roles")
        conn.execute("ALTER TABLE devices DROP COLUMN replaced_by_spare")   # migration 27
        conn.execute(f"PRAGMA user_version={_before_26(schema.MIGRATIONS)}")
        conn.close()
    else:
        import psycopg
        with psycopg.connect(url, autocommit=True) as pg:
            pg.execute("DROP TABLE staff_roles")
            pg.execute("ALTER TABLE devices DROP COLUMN replaced_by_spare")   # migration 27
            pg.execute("UPDATE tg_schema SET version = %s", (_before_26(schema_pg.MIGRATIONS),))
    assert open_backend(folder, create=False).staff_roles("fest") == {ann: [(added, "desk")]}


def _before_26(migrations: tuple[str, ...]) -> int:
    """The schema version before migration 26 (staff_roles); a later migration is undone here too (as in
    tests/test_device_id_case.py)."""
    return next(i for i, m in enumerate(migrations) if "CREATE TABLE staff_roles" in m)
