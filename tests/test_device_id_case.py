"""Device ids that differ only by case (`gate-1`, `GATE-1`): people read them as one name, the broker's logins and
topics as two. `server device register GATE-1` beside `gate-1` registered a second device; it is refused now, on both
store backends (the contract suite). Ids registered before are kept by the migration, both devices still working, and
`server devices` names them so the organiser revokes one."""
from __future__ import annotations

import sqlite3

from agent.cli import main as ticketgate
from server_stub.store.sqlite_store import DB_NAME


def _server(open_backend, folder, capsys):
    db = ["--db", open_backend.url(folder)] if open_backend.url(folder) else []

    def server(*argv: str) -> tuple[int, str, str]:
        code = ticketgate(["server", "--data", str(folder), *db, "--org", "fest", *argv])
        said = capsys.readouterr()
        return code, said.out, said.err
    return server


def test_a_device_id_differing_only_by_case_is_refused(store, open_backend, tmp_path, capsys):
    server = _server(open_backend, tmp_path / "server", capsys)
    assert server("device", "register", "gate-1", "--gate", "north")[0] == 0
    for twin in ("GATE-1", "Gate-1"):
        code, out, err = server("device", "register", twin, "--gate", "south")
        assert code == 1 and out == "", out
        assert (f"device id {twin!r} differs only by case from 'gate-1' (registered here): device ids are compared "
                "without case; re-register 'gate-1' as it is written or pick another id") in err, err
    code, out, _ = server("devices")
    assert code == 0 and "gate-1" in out and "GATE-1" not in out and "Gate-1" not in out
    assert server("device", "register", "gate-1", "--gate", "east")[0] == 0      # the same id again: re-registered
    assert store.device("gate-1")["gate"] == "east" and store.device("GATE-1") is None

    store.create_organiser("other", "Other")                  # ids are unique across organisers, case included
    db = ["--db", open_backend.url(tmp_path / "server")] if open_backend.url(tmp_path / "server") else []
    code = ticketgate(["server", "--data", str(tmp_path / "server"), *db, "--org", "other", "device", "register",
                       "GATE-1"])
    err = capsys.readouterr().err
    assert code == 1 and "differs only by case from 'gate-1' (of another organiser)" in err, err


def _as_before_the_migration(store, open_backend, folder) -> None:
    """The store's database as a version before migration 21 (PostgreSQL 20) left it, holding `gate-1` and `GATE-1`;
    the later migrations undone too (SQLite 22 and PostgreSQL 21 add revocations.replacement, PostgreSQL 22 the
    catch-up's index on scans, both 23 devices.replaced_by, 24 events.removed_at, 25 passes.removed_at and
    pass_events.removed_at, 26 the table staff_roles, 27 devices.replaced_by_spare)."""
    from server_stub.store import schema, schema_pg
    url = open_backend.url(folder)
    before = next(i for i, m in enumerate(schema_pg.MIGRATIONS if url else schema.MIGRATIONS) if "id_folded" in m)
    store.register_device("fest", "gate-1", gate="north")
    store.close()
    if url is None:
        conn = sqlite3.connect(folder / DB_NAME, isolation_level=None)
        conn.execute("DROP INDEX devices_id_folded")
        conn.execute("ALTER TABLE devices DROP COLUMN replaced_by_spare")   # migration 27
        conn.execute("DROP TABLE staff_roles")                              # migration 26, its index with it
        conn.execute("ALTER TABLE passes DROP COLUMN removed_at")
        conn.execute("ALTER TABLE pass_events DROP COLUMN removed_at")
        conn.execute("ALTER TABLE events DROP COLUMN removed_at")
        conn.execute("ALTER TABLE devices DROP COLUMN replaced_by")
        conn.execute("ALTER TABLE revocations DROP COLUMN replacement")
        conn.execute("ALTER TABLE devices DROP COLUMN id_folded")
        conn.execute("INSERT INTO devices(device_id, org, name, gate, events, registered_at, role) "
                     "SELECT 'GATE-1', org, name, 'south', events, registered_at + 60, role FROM devices")
        conn.execute(f"PRAGMA user_version={before}")
        conn.close()
        return
    import psycopg
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE devices DROP COLUMN id_folded")           # its index with it
        conn.execute("ALTER TABLE devices DROP COLUMN replaced_by_spare")   # migration 27
        conn.execute("DROP TABLE staff_roles")                              # migration 26, its index with it
        conn.execute("ALTER TABLE passes DROP COLUMN removed_at")
        conn.execute("ALTER TABLE pass_events DROP COLUMN removed_at")
        conn.execute("ALTER TABLE events DROP COLUMN removed_at")
        conn.execute("ALTER TABLE devices DROP COLUMN replaced_by")
        conn.execute("ALTER TABLE revocations DROP COLUMN replacement")
        conn.execute("DROP INDEX scans_org_event_seq")                      # migration 22, the catch-up's index
        conn.execute("CREATE INDEX scans_org_event ON scans(org, event_id)")
        conn.execute("INSERT INTO devices(device_id, org, name, gate, events, registered_at, role) "
                     "SELECT 'GATE-1', org, name, 'south', events, registered_at + 60, role FROM devices")
        conn.execute("UPDATE tg_schema SET version = %s", (before,))


def test_ids_already_differing_by_case_are_kept_and_listed(store, open_backend, tmp_path, capsys):
    folder = tmp_path / "server"
    _as_before_the_migration(store, open_backend, folder)
    server = _server(open_backend, folder, capsys)
    code, out, _ = server("devices")                          # the migration runs on opening
    assert code == 0, out
    assert "gate-1" in out and "GATE-1" in out                # both kept, both still registered
    assert ("NOTE: GATE-1, gate-1 differ only by case (registered before such ids were refused; both still work): "
            "revoke the one not in use (`ticketgate server device revoke ID`)") in out
    assert server("device", "register", "Gate-1")[0] == 1     # no third one
    assert server("device", "register", "GATE-1", "--gate", "west")[0] == 0      # the kept one re-registers
    assert server("device", "revoke", "GATE-1")[0] == 0
    code, out, _ = server("devices")
    assert "NOTE" not in out and "REVOKED" in out
