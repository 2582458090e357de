"""Server store: catalogue, orders, versioned deltas, revocations, keys, devices, ingest, conflicts, stats."""
from __future__ import annotations

import os
import stat
import time

import pytest

from agent.ledger import Ledger
from agent.payload import read_payload
from server_stub.keys import KeyFileError
from server_stub.model import ORDER_NUMBER, OrderInput, Position, new_order_number, normalize_order_number
from server_stub.store import NotFound, ServerStore, StoreError, open_store

NOW = time.time()


def make_event(store, name="Night 1", zones=((1, "Floor"), (2, "Balcony"))) -> int:
    return store.create_event("fest", name, NOW - 3600, NOW + 3600, "Europe/Paris",
                              [{"zone_id": z, "name": n, "message": ""} for z, n in zones],
                              [{"category_id": 1, "name": "Adult", "message": ""}])


def test_store_implements_the_interface(store):
    assert isinstance(store, ServerStore)


def test_event_dict_feeds_the_device_ledger(store, tmp_path):
    ev = make_event(store)
    pass_id = store.create_pass("fest", "Weekend", [ev])
    assert pass_id != ev
    event = store.event(ev)
    assert event["passes"] == [{"pass_id": pass_id, "name": "Weekend"}]
    ledger = Ledger.open(tmp_path / "dev.sqlite")
    ledger.upsert_events([event])
    assert ledger.events()[0]["zones"][1]["name"] == "Balcony"
    assert ledger.pass_events() == {pass_id: frozenset({ev})}
    assert [e["event_id"] for e in store.events("fest")] == [ev]


def test_order_numbers_are_short_and_typable():
    drawn = [new_order_number() for _ in range(2000)]
    numbers = set(drawn)
    # 392 million numbers: 2,000 draws repeat one with probability ~0.5 % (the store draws a taken one again, below),
    # more than 5 repeats would mean a far smaller space than announced
    assert len(numbers) >= 1995 and all(ORDER_NUMBER.match(n) for n in drawn)
    assert not any(c in "".join(numbers) for c in "01OILU")
    assert normalize_order_number(" k7m2 q9 ") == "K7M2-Q9" and normalize_order_number("k7m2-q9") == "K7M2-Q9"


def test_bad_catalogue_input(store):
    with pytest.raises(ValueError):
        store.create_event("fest", "x", NOW, NOW - 1, "UTC", [], [])
    with pytest.raises(ValueError):
        store.create_event("fest", "x", NOW, NOW + 1, "Mars/Olympus", [], [])
    with pytest.raises(ValueError):
        store.create_event("fest", "x", NOW, NOW + 1, "UTC", [{"zone_id": 300, "name": "z"}], [])
    with pytest.raises(NotFound):
        store.create_event("nobody", "x", NOW, NOW + 1, "UTC", [], [])
    with pytest.raises(NotFound):
        store.create_pass("fest", "p", [999])
    with pytest.raises(StoreError):
        store.create_organiser("fest", "again")
    with pytest.raises(ValueError):
        store.create_organiser("Bad/Slug", "x")


def test_orders_versions_and_deltas(store):
    ev = make_event(store)
    v0 = store.version("fest")
    a = store.add_order("fest", ev, "Hélène Dupont", "helene@example.org",
                        positions=[{"category": 1, "zone": 1}, {"category": 1, "zone": 2, "seat": "B12"}])
    assert len(a["tickets"]) == 2 and a["status"] == "paid"
    assert ORDER_NUMBER.match(a["number"])
    v1 = store.version("fest")
    assert v1 > v0
    rows = list(store.tickets_for_event(ev))
    assert {r["ticket_key"] for r in rows} == {t["ticket_key"] for t in a["tickets"]}
    assert rows[0].keys() == {"ticket_key", "event_id", "order_number", "buyer_name", "email", "category", "zone", "seat",
                              "order_status", "pass_id"}
    assert rows[0]["pass_id"] is None                       # an event's ticket (a pass's: its pass id)
    b = store.add_order("fest", ev, "Bob Martin", status="pending")
    delta = list(store.tickets_for_event(ev, since_version=v1))
    assert [r["order_number"] for r in delta] == [b["number"]]
    v2 = store.version("fest")
    store.validate_payment(b["number"])
    delta = list(store.tickets_for_event(ev, since_version=v2))
    assert [(r["order_number"], r["order_status"]) for r in delta] == [(b["number"], "paid")]
    assert list(store.tickets_for_event(ev, since_version=store.version("fest"))) == []


def test_cancel_and_refund_revoke_every_ticket(store):
    ev = make_event(store)
    a = store.add_order("fest", ev, "Ann", positions=[{}, {}, {}])
    b = store.add_order("fest", ev, "Ben")
    v = store.version("fest")
    store.cancel_order(a["number"], "chargeback")
    revs = store.revocations_for_event(ev, since_version=v)
    assert {r["ticket_key"] for r in revs} == {t["ticket_key"] for t in a["tickets"]}
    assert all(r["active"] and r["reason"] == "chargeback" for r in revs)
    assert {r["order_status"] for r in store.tickets_for_event(ev, v)} == {"cancelled"}
    assert store.order(a["number"])["tickets"][0]["revoked"] == "chargeback"
    store.refund_order(b["number"])
    assert len(store.revocations_for_event(ev)) == 4
    with pytest.raises(StoreError):
        store.validate_payment(b["number"])          # refunded cannot become paid
    with pytest.raises(StoreError):
        store.cancel_order(b["number"])
    with pytest.raises(NotFound):
        store.cancel_order("ZZZZ-ZZ")


def test_cancelling_an_order_keeps_an_earlier_revocation_of_its_tickets(store):
    """A ticket exchanged before its order is refunded keeps "exchanged: …" and the exchange's time (both backends)."""
    ev = make_event(store)
    a = store.add_order("fest", ev, "Ann", positions=[{}, {}])
    old = a["tickets"][0]["ticket_key"]
    new = store.exchange_ticket(old, "torn")["ticket_key"]
    exchanged = {r["ticket_key"]: r for r in store.revocations_for_event(ev)}[old]
    store.refund_order(a["number"])
    revs = {r["ticket_key"]: r for r in store.revocations_for_event(ev)}
    assert (revs[old]["reason"], revs[old]["at"], revs[old]["version"]) == ("exchanged: torn", exchanged["at"],
                                                                           exchanged["version"])
    assert {k: r["reason"] for k, r in revs.items() if k != old} == {a["tickets"][1]["ticket_key"]: "order refunded",
                                                                   new: "order refunded"}


def test_blocks_unblocks_and_resets_are_versioned(store):
    ev = make_event(store)
    key = store.add_order("fest", ev, "Ann")["tickets"][0]["ticket_key"]
    v = store.version("fest")
    store.block_ticket(key, "lost, reprinted")
    assert [(b["ticket_key"], b["active"]) for b in store.blocks_for_event(ev, v)] == [(key, True)]
    v2 = store.version("fest")
    store.unblock_ticket(key)
    assert [(b["ticket_key"], b["active"]) for b in store.blocks_for_event(ev, v2)] == [(key, False)]
    assert store.blocks_for_event(ev) == []            # a full bundle carries only active blocks
    reset = store.reset_ticket(key, "wristband torn")
    assert reset["kind"] == "reset" and reset["event_ids"] == [ev] and reset["device_id"] == "server"
    assert [r["scan_uuid"] for r in store.resets_for_event(ev, v2)] == [reset["scan_uuid"]]
    with pytest.raises(NotFound):
        store.block_ticket("123", "x")
    with pytest.raises(NotFound):
        store.block_ticket("not-a-number", "x")


def test_pass_tickets_belong_to_every_event_of_the_pass(store):
    e1, e2, e3 = make_event(store, "Fri"), make_event(store, "Sat"), make_event(store, "Sun")
    weekend = store.create_pass("fest", "Weekend", [e1, e2])
    t = store.add_order("fest", weekend, "Pat")["tickets"][0]["ticket_key"]
    assert [r["event_id"] for r in store.tickets_for_event(e1)] == [e1]
    assert [r["ticket_key"] for r in store.tickets_for_event(e2)] == [t]
    assert list(store.tickets_for_event(e3)) == []
    ring = store.keyring("fest")
    decoded = read_payload(store.issue_ticket_payload(t), ring, NOW)
    assert decoded.status == "ok" and decoded.ticket.is_pass and decoded.ticket.event_id == weekend


def test_issued_payload_verifies_and_carries_the_ticket(store):
    ev = make_event(store)
    order = store.add_order("fest", ev, "Ann", positions=[{"category": 1, "zone": 2, "seat": "R3-14"}])
    t = order["tickets"][0]
    decoded = read_payload(store.issue_ticket_payload(t["ticket_key"]), store.keyring("fest"), NOW)
    assert decoded.status == "ok"
    tk = decoded.ticket
    assert (tk.ticket_id, tk.event_id, tk.category, tk.zones, tk.seat, tk.is_pass) == (t["ticket_id"], ev, 1, (2,), "R3-14", False)
    margin = store.validity_margin_hours * 3600
    assert tk.valid_from == int(NOW - 3600 - margin) and tk.valid_until >= NOW + 3600 + margin


def test_key_rotation_keeps_old_tickets_valid(store, tmp_path):
    ev = make_event(store)
    t = store.add_order("fest", ev, "Ann")["tickets"][0]["ticket_key"]
    old_payload = store.issue_ticket_payload(t)
    first = store.current_key("fest")
    new = store.rotate_key("fest")
    assert new.key_id != first.key_id and store.current_key("fest").key_id == new.key_id
    assert [k.key_id for k in store.signing_keys("fest")] == [first.key_id, new.key_id]
    ring = store.keyring("fest")
    assert read_payload(old_payload, ring, NOW).status == "ok"
    new_payload = store.issue_ticket_payload(t)
    assert new_payload != old_payload and read_payload(new_payload, ring, NOW).ticket.key_id == new.key_id
    store.rotate_key("fest", retire_old_at=NOW - 1)     # retire the second key: its tickets stop scanning
    assert read_payload(new_payload, store.keyring("fest"), NOW).status == "unknown_key"
    # private keys: files 0600 in a 0700 folder, never in the database
    keys_dir = tmp_path / "server" / "keys" / "fest"
    assert stat.S_IMODE(os.stat(keys_dir).st_mode) == 0o700
    pems = list(keys_dir.glob("*.pem"))
    assert len(pems) == 3 and all(stat.S_IMODE(os.stat(p).st_mode) == 0o600 for p in pems)
    rows = store.q("SELECT public_key, file FROM signing_keys")       # the database holds public halves only
    assert len(rows) == 3 and all(len(bytes(pub)) == 32 and not file.startswith("/") for pub, file in rows)
    if store.backend == "sqlite":
        assert b"PRIVATE KEY" not in (tmp_path / "server" / "server.sqlite").read_bytes()


def test_server_key_is_separate_and_stable(store):
    server = store.server_key("fest")
    assert server.key_id != store.current_key("fest").key_id
    assert store.server_key("fest").public_raw == server.public_raw == store.server_public_key("fest")
    assert server.key_id not in store.keyring("fest").keys


def test_missing_private_key_file_is_a_clear_error(store, tmp_path):
    store.current_key("fest")
    for p in (tmp_path / "server" / "keys" / "fest").glob("ticket-*.pem"):
        p.unlink()
    with pytest.raises(KeyFileError, match="missing"):
        store.current_key("fest")


def test_devices(store):
    ev = make_event(store)
    d = store.register_device("fest", "tablet-1", "North tablet", "north", [ev], b"\x01" * 32)
    assert d["events"] == [ev] and not d["revoked"]
    store.touch_device("tablet-1", 1000.0, "online")
    store.touch_device("unknown-device", 1000.0, "online")       # ignored
    assert store.device("tablet-1")["status"] == "online" and store.device("tablet-1")["last_seen"] == 1000.0
    assert store.revoke_device("tablet-1")["revoked"]
    assert store.register_device("fest", "tablet-1", gate="south")["revoked"] is False   # re-enrolment
    assert [x["device_id"] for x in store.devices("fest")] == ["tablet-1"]
    assert store.device("nope") is None
    with pytest.raises(ValueError):
        store.register_device("fest", "bad/id")
    with pytest.raises(NotFound):
        store.revoke_device("nope")


def test_a_device_revoked_as_replaced_by_a_spare_says_so(store):
    """`--replaced` (a spare took its place, not lost or stolen) is kept with the revocation, marked on a device revoked
    already, never on a retired id; registered again, the device is in service with neither."""
    store.register_device("fest", "gate-1")
    store.register_device("fest", "gate-2")
    store.register_device("fest", "gate-3")
    assert store.revoke_device("gate-1", spare=True)["replaced_by_spare"] is True
    assert store.revoke_device("gate-2")["replaced_by_spare"] is False
    revoked_at = store.device("gate-2")["revoked_at"]
    again = store.revoke_device("gate-2", spare=True)            # marked afterwards: when stays as it was
    assert again["replaced_by_spare"] is True and again["revoked_at"] == revoked_at
    store.revoke_device("gate-3", replaced_by="gate-9")
    assert store.revoke_device("gate-3", spare=True)["replaced_by_spare"] is False    # retired: its device works on
    assert store.register_device("fest", "gate-1")["replaced_by_spare"] is False


def test_find_orders(store):
    ev = make_event(store)
    a = store.add_order("fest", ev, "Hélène Dupont", "helene@example.org")
    store.add_order("fest", ev, "Bob Martin", "bob@example.org")
    assert [o["number"] for o in store.find_orders("helene")] == [a["number"]]
    assert [o["number"] for o in store.find_orders(a["number"].lower().replace("-", ""))] == [a["number"]]
    assert [o["buyer_name"] for o in store.find_orders("bob@example")] == ["Bob Martin"]
    assert store.find_orders("nobody") == []


def test_corrupt_or_foreign_sqlite_file_is_left_untouched(tmp_path):
    folder = tmp_path / "server"
    folder.mkdir()
    db = folder / "server.sqlite"
    db.write_bytes(b"this is not a database" * 100)
    before = db.read_bytes()
    with pytest.raises(StoreError, match="left untouched"):
        open_store(folder)
    assert db.read_bytes() == before
    import sqlite3
    db.unlink()
    other = sqlite3.connect(db)
    other.execute("CREATE TABLE x (y)")
    other.commit()
    other.close()
    with pytest.raises(StoreError, match="another application"):
        open_store(folder)
    with pytest.raises(StoreError, match="init"):
        open_store(tmp_path / "missing", create=False)


def test_store_reopens_with_its_data(open_backend, tmp_path):
    s = open_backend(tmp_path / "srv")
    s.create_organiser("fest", "Fest")
    ev = s.create_event("fest", "E", NOW, NOW + 10, "UTC", [], [])
    n = s.add_order("fest", ev, "Ann")["number"]
    key = s.current_key("fest").public_raw
    s.close()
    s = open_backend(tmp_path / "srv", create=False)
    assert s.order(n)["buyer_name"] == "Ann" and s.current_key("fest").public_raw == key


def test_search_folds_accents_and_case_the_same_on_both_backends(store):
    ev = make_event(store)
    names = ["Łukasz Żółć", "ÉLODIE Núñez-García", "Ana_Brandão", "O'Neil Dvořák", "Zoë Saldaña"]
    numbers = {n: store.add_order("fest", ev, n, f"{n.split()[0].lower()}@mail.example")["number"] for n in names}
    for typed, expected in [("elodie nunez", "ÉLODIE Núñez-García"), ("GARC", "ÉLODIE Núñez-García"),
                            ("brandao", "Ana_Brandão"), ("neil dvor", "O'Neil Dvořák"), ("zoe sal", "Zoë Saldaña"),
                            ("łuk", "Łukasz Żółć"), ("zolc", None), ("elodie@mail", "ÉLODIE Núñez-García")]:
        found = [o["number"] for o in store.find_orders(typed, org="fest")]
        assert found == ([numbers[expected]] if expected else []), typed
    assert store.find_orders("   ") == [] and store.find_orders("%_'\\?") == []


def test_schema_upgrade_from_version_1(tmp_path):
    """A store created by the first schema opens and gains the new column, data intact."""
    import sqlite3
    from agent.sqlite_file import split_sql
    from server_stub.store.schema import APPLICATION_ID, MIGRATIONS
    folder = tmp_path / "old"
    folder.mkdir()
    conn = sqlite3.connect(folder / "server.sqlite")
    for statement in split_sql(MIGRATIONS[0]):
        conn.execute(statement)
    conn.execute("INSERT INTO organisers(org, name, created_at) VALUES ('fest', 'Fest', 0)")
    conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()
    s = open_store(folder, create=False)
    assert s.organiser("fest")["name"] == "Fest" and s.q1("PRAGMA user_version")[0] == len(MIGRATIONS)
    s.close()


def test_postgres_database_of_another_application_or_newer_schema_is_refused(pg_server, tmp_path):
    import psycopg
    url = pg_server.create_database()
    try:
        with pytest.raises(StoreError, match="init"):
            open_store(tmp_path / "k", create=False, db=url)          # an empty database is not a store
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE accounts (id int)")
        with pytest.raises(StoreError, match="another application") as err:
            open_store(tmp_path / "k", db=url)
        assert pg_server.password not in str(err.value)                # the URL is shown without its password
        with psycopg.connect(url, autocommit=True) as conn:         # left untouched
            assert conn.execute("SELECT count(*) FROM information_schema.tables "
                                "WHERE table_schema='public'").fetchone()[0] == 1
            conn.execute("DROP TABLE accounts")
        open_store(tmp_path / "k", db=url).close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("UPDATE tg_schema SET version = version + 1")
        with pytest.raises(StoreError, match="newer than this ticketgate"):
            open_store(tmp_path / "k", db=url)
        with pytest.raises(StoreError, match="cannot connect") as err:
            open_store(tmp_path / "k", db=url.replace(pg_server.password, "wrong-password"))
        assert "wrong-password" not in str(err.value)
        with pytest.raises(StoreError, match="postgresql://"):
            open_store(tmp_path / "k", db="mysql://x/y")
    finally:
        pg_server.drop_database(url)


def test_postgres_migrations_run_once_when_workers_open_together(pg_server, tmp_path):
    """Four workers opening an empty database at the same moment: one migrates (advisory lock), all work."""
    import threading
    from server_stub.store.schema_pg import MIGRATIONS as PG_MIGRATIONS
    url = pg_server.create_database()
    stores, errors = [], []

    def open_one():
        try:
            stores.append(open_store(tmp_path / "k", db=url))
        except Exception as exc:       # noqa: BLE001 - collected and asserted below
            errors.append(exc)
    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert errors == [] and len(stores) == 4
        assert stores[0].q("SELECT version FROM tg_schema") == [(len(PG_MIGRATIONS),)]
        stores[0].create_organiser("fest", "Fest")
        assert [o["org"] for o in stores[3].organisers()] == ["fest"]
    finally:
        for s in stores:
            s.close()
        pg_server.drop_database(url)


def test_both_backends_have_the_same_columns(pg_server, tmp_path):
    """A column added to one schema must be added to the other (a new SQLite migration needs its PostgreSQL one)."""
    url = pg_server.create_database()
    lite, pg = open_store(tmp_path / "a"), open_store(tmp_path / "b", db=url)
    try:
        lite_cols = {(t, c) for (t,) in lite.q("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE "
                                               "'sqlite_%' AND name NOT LIKE 'orders_fts%'")
                     for c in [r[1] for r in lite.q(f"PRAGMA table_info({t})")]}
        pg_cols = set(pg.q("SELECT table_name, column_name FROM information_schema.columns "
                           "WHERE table_schema='public' AND table_name != 'tg_schema'"))
        assert pg_cols - lite_cols == {("orders", "search")}        # the search vector (FTS5 table on SQLite)
        assert lite_cols - pg_cols == set()
    finally:
        lite.close()
        pg.close()
        pg_server.drop_database(url)


def test_a_drawn_order_number_or_ticket_id_already_taken_is_drawn_again(store, monkeypatch):
    """Random numbers and ids collide sometimes: the taken one inserts nothing and a new one is drawn, in the same
    transaction (on PostgreSQL a failed INSERT would abort it), for single orders and for chunks."""
    import server_stub.store.order_store as order_store
    ev = make_event(store)
    first = store.add_order("fest", ev, "Ann")
    taken_number, taken_id = first["number"], first["tickets"][0]["ticket_id"]
    numbers = iter([taken_number, taken_number, "ZZZZ-ZZ", "YYYY-YY", "XXXX-XX"])
    ids = iter([taken_id, 777, 778, taken_id, 779, 780])
    monkeypatch.setattr(order_store, "new_order_number", lambda: next(numbers))
    monkeypatch.setattr(order_store, "new_ticket_id", lambda: next(ids))
    second = store.add_order("fest", ev, "Ben", positions=[{}, {}])
    assert second["number"] == "ZZZZ-ZZ" and sorted(t["ticket_id"] for t in second["tickets"]) == [777, 778]
    third = store.add_orders("fest", [OrderInput(ev, "Cy", "", "paid", (Position(),)),
                                      OrderInput(ev, "Di", "", "paid", (Position(),))])
    assert third == ["YYYY-YY", "XXXX-XX"]
    assert sorted(t["ticket_id"] for n in third for t in store.order(n)["tickets"]) == [779, 780]
    assert store.order(taken_number)["buyer_name"] == "Ann" and store.count_tickets(ev) == 5


def test_the_shared_store_sql_uses_no_sqlite_only_constructs():
    """The mixins' queries run on both backends: SQLite-only SQL belongs in sqlite_store.py / schema.py only
    (docs/server.md, "One definition of each query")."""
    import re
    from pathlib import Path
    folder = Path(__file__).resolve().parent.parent / "server_stub" / "store"
    sqlite_only = re.compile(r"INSERT\s+OR\s+|\.lastrowid|total_changes|PRAGMA|import sqlite3|\bGLOB\b|strftime\(|"
                             r"julianday\(|ifnull\(|printf\(|\bMATCH \?|x''")
    # backend-specific files; copy_to_pg.py reads a SQLite file to write PostgreSQL (a bridge, not shared SQL)
    shared = [p for p in folder.glob("*.py") if p.name not in ("sqlite_store.py", "schema.py", "schema_pg.py",
                                                                  "postgres.py", "copy_to_pg.py")]
    assert len(shared) >= 8
    found = [(p.name, m.group()) for p in shared for m in sqlite_only.finditer(p.read_text())]
    assert found == []
