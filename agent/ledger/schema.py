"""Ledger schema and its migrations. Append a migration; never edit a shipped one.

`PRAGMA application_id` marks the file as ours so a foreign SQLite file is refused, not altered;
`PRAGMA user_version` is the index of the last migration applied.
"""

APPLICATION_ID = 0x54474C31  # "TGL1"

MIGRATIONS: tuple[str, ...] = (
    # 1: initial schema
    """
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE events (
        event_id INTEGER PRIMARY KEY, name TEXT NOT NULL, starts_at REAL, ends_at REAL,
        timezone TEXT NOT NULL DEFAULT 'UTC', organiser TEXT NOT NULL DEFAULT '', data TEXT NOT NULL DEFAULT '{}');
    CREATE TABLE zones (event_id INTEGER NOT NULL, zone_id INTEGER NOT NULL, name TEXT NOT NULL,
        message TEXT NOT NULL DEFAULT '', PRIMARY KEY (event_id, zone_id)) WITHOUT ROWID;
    CREATE TABLE categories (event_id INTEGER NOT NULL, category_id INTEGER NOT NULL, name TEXT NOT NULL,
        message TEXT NOT NULL DEFAULT '', PRIMARY KEY (event_id, category_id)) WITHOUT ROWID;
    CREATE TABLE passes (pass_id INTEGER NOT NULL, event_id INTEGER NOT NULL, name TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (pass_id, event_id)) WITHOUT ROWID;
    -- search index and order state of every ticket the device knows (from the event bundle)
    CREATE TABLE tickets (
        id INTEGER PRIMARY KEY, ticket_key TEXT NOT NULL UNIQUE, event_id INTEGER, order_number TEXT NOT NULL DEFAULT '',
        buyer_name TEXT NOT NULL DEFAULT '', email TEXT NOT NULL DEFAULT '', category INTEGER, zone INTEGER,
        seat TEXT, order_status TEXT NOT NULL DEFAULT 'paid');
    CREATE VIRTUAL TABLE tickets_fts USING fts5(
        buyer_name, email, order_number, ticket_key, content='tickets', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2', detail='none', columnsize=0);
    CREATE TRIGGER tickets_ai AFTER INSERT ON tickets BEGIN
        INSERT INTO tickets_fts(rowid, buyer_name, email, order_number, ticket_key)
        VALUES (new.id, new.buyer_name, new.email, new.order_number, new.ticket_key);
    END;
    CREATE TRIGGER tickets_ad AFTER DELETE ON tickets BEGIN
        INSERT INTO tickets_fts(tickets_fts, rowid, buyer_name, email, order_number, ticket_key)
        VALUES ('delete', old.id, old.buyer_name, old.email, old.order_number, old.ticket_key);
    END;
    CREATE TRIGGER tickets_au AFTER UPDATE OF buyer_name, email, order_number, ticket_key ON tickets BEGIN
        INSERT INTO tickets_fts(tickets_fts, rowid, buyer_name, email, order_number, ticket_key)
        VALUES ('delete', old.id, old.buyer_name, old.email, old.order_number, old.ticket_key);
        INSERT INTO tickets_fts(rowid, buyer_name, email, order_number, ticket_key)
        VALUES (new.id, new.buyer_name, new.email, new.order_number, new.ticket_key);
    END;
    -- append-only action log: entries, quick cancellations, annulments, resets; local and from other gates
    CREATE TABLE checkins (
        seq INTEGER PRIMARY KEY, scan_uuid TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, ticket_key TEXT NOT NULL,
        event_id INTEGER, direction TEXT, at REAL NOT NULL, device_id TEXT NOT NULL, gate TEXT NOT NULL DEFAULT '',
        device_seq INTEGER, clock_offset REAL NOT NULL DEFAULT 0, ref_uuid TEXT, reason TEXT NOT NULL DEFAULT '',
        origin TEXT NOT NULL DEFAULT 'local');
    CREATE INDEX checkins_ticket ON checkins(ticket_key);
    CREATE TABLE revocations (ticket_key TEXT PRIMARY KEY, reason TEXT NOT NULL, at REAL NOT NULL) WITHOUT ROWID;
    CREATE TABLE blocked (ticket_key TEXT PRIMARY KEY, reason TEXT NOT NULL, at REAL NOT NULL) WITHOUT ROWID;
    -- messages waiting for the server; a row leaves only when the server acknowledged it
    CREATE TABLE outbox (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, body TEXT NOT NULL, created REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, acked REAL);
    CREATE INDEX outbox_pending ON outbox(id) WHERE acked IS NULL;
    """,
    # 2: indexes for annulments (NOT EXISTS on ref_uuid) and the device sequence read at open; both partial, small
    """
    CREATE INDEX checkins_ref ON checkins(ref_uuid) WHERE ref_uuid IS NOT NULL;
    CREATE INDEX checkins_local_seq ON checkins(device_seq) WHERE origin = 'local';
    """,
    # 3: prefix indexes for 2- and 3-character prefixes: search-as-you-type stays fast on 1M tickets (+~15 MB).
    #    The triggers of migration 1 keep feeding the table by name. Rebuilding takes ~20 s at 1M tickets.
    """
    DROP TABLE tickets_fts;
    CREATE VIRTUAL TABLE tickets_fts USING fts5(
        buyer_name, email, order_number, ticket_key, content='tickets', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2', detail='none', columnsize=0, prefix='2 3');
    INSERT INTO tickets_fts(tickets_fts) VALUES ('rebuild');
    """,
    # 4: the signed QR payload of a ticket, only on kiosk devices (they print it; door devices never hold one).
    #    Not in the FTS index: a bearer secret is never searchable.
    """
    ALTER TABLE tickets ADD COLUMN payload TEXT;
    """,
    # 5: an upload the server refused for good stays in the outbox, answered (acked) and marked with the reason
    #    (shown by `ticketgate agent status` and the app's Sync screen; never deleted)
    """
    ALTER TABLE outbox ADD COLUMN refused TEXT;
    CREATE INDEX outbox_refused ON outbox(id) WHERE refused IS NOT NULL;
    """,
    # 6: signed server messages already applied (replay protection that survives a restart; pruned once older
    #    than the freshness window), and the gate's mode of each action (the conflict rule skips multiple-entry).
    """
    CREATE TABLE seen_messages (id TEXT PRIMARY KEY, ts REAL NOT NULL) WITHOUT ROWID;
    CREATE INDEX seen_messages_ts ON seen_messages(ts);
    ALTER TABLE checkins ADD COLUMN mode TEXT;
    """,
    # 7: a refused upload's reason code and parameters (agent.reasons, from the server's ack): the Sync screen says
    #    it in the device's language; rows refused before carry none and show the server's text
    """
    ALTER TABLE outbox ADD COLUMN refused_code TEXT NOT NULL DEFAULT '';
    ALTER TABLE outbox ADD COLUMN refused_params TEXT NOT NULL DEFAULT '{}';
    """,
    # 8: order statuses changed live (`update2`, `update`), read over the ticket index's own (catalogue.py): a change
    #    of 1,000 tickets writes a few pages of this small table in the ledger file, not a page of the 1M-row index
    #    per ticket in the index file (a second file to commit and fsync). Cleared when a full bundle or a delta row
    #    brings the ticket's status again.
    """
    CREATE TABLE status_changes (ticket_key TEXT PRIMARY KEY, order_status TEXT NOT NULL) WITHOUT ROWID;
    """,
    # 9: kiosk devices: the amount due of each pending (invoice) order, from the server's bundles (`dues`) and this
    #    kiosk's own sales on invoice; the desk shows what to collect and refuses another amount
    """
    CREATE TABLE order_dues (order_number TEXT PRIMARY KEY, cents INTEGER NOT NULL, currency TEXT NOT NULL)
        WITHOUT ROWID;
    """,
)
