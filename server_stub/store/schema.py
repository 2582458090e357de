"""Server store schema (SQLite) and its migrations. Append a migration; never edit a shipped one.

Versioning: each organiser has one change counter (`organisers.version`). Every change to an event,
a ticket row (order status included), a revocation, a block or a server action bumps it once per
transaction and stamps the rows it touched, so a device holding version N gets exactly the rows
with version > N (incremental bundles). Private keys are files, never rows: `signing_keys` only
holds public keys and metadata.
"""

APPLICATION_ID = 0x54475331  # "TGS1"

# device ids folded (SQLite 21, PostgreSQL 20: the same SQL on both)
DEVICE_IDS_FOLDED = """
    ALTER TABLE devices ADD COLUMN id_folded TEXT;
    UPDATE devices SET id_folded = lower(device_id) WHERE NOT EXISTS (SELECT 1 FROM devices o
        WHERE lower(o.device_id) = lower(devices.device_id) AND (o.registered_at < devices.registered_at
            OR (o.registered_at = devices.registered_at AND o.device_id < devices.device_id)));
    UPDATE devices SET id_folded = lower(device_id) || '/' || device_id WHERE id_folded IS NULL;
    CREATE UNIQUE INDEX devices_id_folded ON devices(id_folded);
"""

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE organisers (org TEXT PRIMARY KEY, name TEXT NOT NULL, created_at REAL NOT NULL,
        version INTEGER NOT NULL DEFAULT 0);
    -- event ids and pass ids come from one sequence: the ticket's u32 event field holds either
    CREATE TABLE catalogue (id INTEGER PRIMARY KEY AUTOINCREMENT, org TEXT NOT NULL REFERENCES organisers(org),
        kind TEXT NOT NULL CHECK (kind IN ('event', 'pass')));
    CREATE TABLE events (event_id INTEGER PRIMARY KEY REFERENCES catalogue(id), org TEXT NOT NULL, name TEXT NOT NULL,
        starts_at REAL NOT NULL, ends_at REAL NOT NULL, timezone TEXT NOT NULL, zones TEXT NOT NULL DEFAULT '[]',
        categories TEXT NOT NULL DEFAULT '[]', version INTEGER NOT NULL);
    CREATE INDEX events_org ON events(org, starts_at);
    CREATE TABLE passes (pass_id INTEGER PRIMARY KEY REFERENCES catalogue(id), org TEXT NOT NULL, name TEXT NOT NULL,
        version INTEGER NOT NULL);
    CREATE TABLE pass_events (pass_id INTEGER NOT NULL, event_id INTEGER NOT NULL, PRIMARY KEY (pass_id, event_id))
        WITHOUT ROWID;
    CREATE INDEX pass_events_event ON pass_events(event_id);
    CREATE TABLE orders (order_id INTEGER PRIMARY KEY, number TEXT NOT NULL UNIQUE, org TEXT NOT NULL,
        target_id INTEGER NOT NULL REFERENCES catalogue(id), buyer_name TEXT NOT NULL, email TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', created_at REAL NOT NULL, updated_at REAL NOT NULL);
    CREATE INDEX orders_org ON orders(org, created_at);
    CREATE VIRTUAL TABLE orders_fts USING fts5(number, buyer_name, email, content='orders', content_rowid='order_id',
        tokenize='unicode61 remove_diacritics 2', detail='none', columnsize=0);
    CREATE TRIGGER orders_ai AFTER INSERT ON orders BEGIN
        INSERT INTO orders_fts(rowid, number, buyer_name, email) VALUES (new.order_id, new.number, new.buyer_name, new.email);
    END;
    CREATE TRIGGER orders_au AFTER UPDATE OF number, buyer_name, email ON orders BEGIN
        INSERT INTO orders_fts(orders_fts, rowid, number, buyer_name, email)
        VALUES ('delete', old.order_id, old.number, old.buyer_name, old.email);
        INSERT INTO orders_fts(rowid, number, buyer_name, email) VALUES (new.order_id, new.number, new.buyer_name, new.email);
    END;
    -- one row per position; target_id denormalised from the order for the (target, version) delta index
    CREATE TABLE tickets (ticket_id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES orders(order_id),
        position INTEGER NOT NULL DEFAULT 0, target_id INTEGER NOT NULL, category INTEGER NOT NULL DEFAULT 0, zone INTEGER, seat TEXT,
        version INTEGER NOT NULL);
    CREATE INDEX tickets_target_version ON tickets(target_id, version);
    CREATE INDEX tickets_order ON tickets(order_id);
    -- active=0 rows are lifted revocations/blocks, kept so a delta carries the lifting
    CREATE TABLE revocations (ticket_id INTEGER PRIMARY KEY, reason TEXT NOT NULL, at REAL NOT NULL,
        active INTEGER NOT NULL DEFAULT 1, version INTEGER NOT NULL);
    CREATE TABLE blocks (ticket_id INTEGER PRIMARY KEY, reason TEXT NOT NULL, at REAL NOT NULL,
        active INTEGER NOT NULL DEFAULT 1, version INTEGER NOT NULL);
    CREATE TABLE signing_keys (key_id INTEGER PRIMARY KEY AUTOINCREMENT, org TEXT NOT NULL,
        purpose TEXT NOT NULL CHECK (purpose IN ('ticket', 'server')), public_key BLOB NOT NULL, file TEXT NOT NULL,
        created_at REAL NOT NULL, valid_from INTEGER, valid_until INTEGER, current INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE devices (device_id TEXT PRIMARY KEY, org TEXT NOT NULL, name TEXT NOT NULL DEFAULT '',
        gate TEXT NOT NULL DEFAULT '', events TEXT NOT NULL DEFAULT '[]', public_key BLOB, registered_at REAL NOT NULL,
        revoked_at REAL, last_seen REAL, status TEXT NOT NULL DEFAULT '');
    -- what devices uploaded (actions and refusals) plus server actions (resets, version-stamped)
    CREATE TABLE scans (seq INTEGER PRIMARY KEY, scan_uuid TEXT NOT NULL UNIQUE, type TEXT NOT NULL, kind TEXT,
        verdict TEXT, ticket_key TEXT, event_id INTEGER, direction TEXT, at REAL NOT NULL,
        clock_offset REAL NOT NULL DEFAULT 0, device_id TEXT NOT NULL DEFAULT '', gate TEXT NOT NULL DEFAULT '',
        device_seq INTEGER, ref_uuid TEXT, reason TEXT NOT NULL DEFAULT '', mode TEXT, org TEXT,
        received_at REAL NOT NULL, version INTEGER);
    CREATE INDEX scans_org_event ON scans(org, event_id);
    CREATE INDEX scans_ticket ON scans(ticket_key);
    CREATE INDEX scans_server ON scans(event_id, version) WHERE version IS NOT NULL;
    """,
    # 2: other device messages (kiosk actions: payment validated, exchange, prints) kept whole
    """
    ALTER TABLE scans ADD COLUMN body TEXT;
    CREATE INDEX scans_type ON scans(org, type) WHERE type NOT IN ('action', 'refusal');
    """,
    # 3: scans are looked up by (org, event), never by ticket: one random-order index less on the ingest path
    """
    DROP INDEX IF EXISTS scans_ticket;
    """,
    # 4: device role: 'door' (scans) or 'kiosk' (prints: its bundles carry the signed QR payloads)
    """
    ALTER TABLE devices ADD COLUMN role TEXT NOT NULL DEFAULT 'door';
    """,
    # 5: the event's language (en | fr): printed tickets, badges and e-tickets are worded in it
    """
    ALTER TABLE events ADD COLUMN language TEXT NOT NULL DEFAULT 'en';
    """,
    # 6: uploads refused by the sync server (authorization, malformed, kiosk effect impossible): kept for the
    #    organiser (`ticketgate server refusals`, `server devices`); the device keeps its copy marked refused
    """
    CREATE TABLE refused_uploads (id INTEGER PRIMARY KEY, org TEXT NOT NULL, device_id TEXT NOT NULL,
        outbox_id INTEGER NOT NULL, reason TEXT NOT NULL, body TEXT NOT NULL, digest TEXT NOT NULL,
        received_at REAL NOT NULL, UNIQUE (device_id, outbox_id, digest));
    CREATE INDEX refused_uploads_org ON refused_uploads(org, device_id);
    """,
    # 7: the desk: prices, quotas (stock), sales windows, promotions, priced order lines, answered desk requests
    #    (idempotent by request id), offline sales allotments and their sizing; a ticket quick-cancelled at a door
    #    is `released` (back on sale)
    """
    ALTER TABLE events ADD COLUMN currency TEXT NOT NULL DEFAULT 'EUR';
    ALTER TABLE tickets ADD COLUMN released INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE prices (target_id INTEGER NOT NULL, category INTEGER NOT NULL, cents INTEGER NOT NULL,
        PRIMARY KEY (target_id, category));
    CREATE TABLE quotas (target_id INTEGER NOT NULL, scope TEXT NOT NULL, ref INTEGER NOT NULL, capacity INTEGER NOT NULL,
        sold INTEGER NOT NULL DEFAULT 0, held INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (target_id, scope, ref));
    CREATE TABLE sales_windows (target_id INTEGER PRIMARY KEY, opens_at REAL, closes_at REAL,
        door_only INTEGER NOT NULL DEFAULT 0, max_per_order INTEGER);
    CREATE TABLE promotions (promo_id INTEGER PRIMARY KEY, org TEXT NOT NULL, target_id INTEGER, kind TEXT NOT NULL,
        category INTEGER, x INTEGER NOT NULL DEFAULT 0, y INTEGER NOT NULL DEFAULT 0, percent INTEGER NOT NULL DEFAULT 0,
        amount_cents INTEGER NOT NULL DEFAULT 0, code TEXT, max_uses INTEGER, uses INTEGER NOT NULL DEFAULT 0,
        valid_from REAL, valid_until REAL, UNIQUE (org, code));
    CREATE TABLE order_lines (order_id INTEGER NOT NULL, line INTEGER NOT NULL, category INTEGER NOT NULL, zone INTEGER,
        quantity INTEGER NOT NULL, unit_cents INTEGER NOT NULL, discount_cents INTEGER NOT NULL,
        total_cents INTEGER NOT NULL, promotion TEXT, promo_id INTEGER, PRIMARY KEY (order_id, line));
    CREATE TABLE desk_requests (request_id TEXT PRIMARY KEY, org TEXT NOT NULL, device_id TEXT NOT NULL,
        kind TEXT NOT NULL, answer TEXT NOT NULL, at REAL NOT NULL);
    CREATE TABLE allotment_sizes (device_id TEXT PRIMARY KEY, org TEXT NOT NULL, events TEXT NOT NULL,
        categories TEXT NOT NULL, size INTEGER NOT NULL, hours REAL NOT NULL);
    CREATE TABLE allotments (allotment_id INTEGER PRIMARY KEY, org TEXT NOT NULL, device_id TEXT NOT NULL,
        public_key BLOB NOT NULL, events TEXT NOT NULL, categories TEXT NOT NULL, first_id INTEGER NOT NULL,
        last_id INTEGER NOT NULL, max_count INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0,
        valid_from INTEGER NOT NULL, valid_until INTEGER NOT NULL, certificate TEXT NOT NULL, created_at REAL NOT NULL,
        revoked_at REAL, reason TEXT NOT NULL DEFAULT '', version INTEGER NOT NULL);
    CREATE INDEX allotments_device ON allotments(device_id);
    """,
    # 8: the organiser's staff (role, scrypt PIN hash, badge serial, active); who did each uploaded action
    """
    CREATE TABLE staff (staff_id INTEGER PRIMARY KEY AUTOINCREMENT, org TEXT NOT NULL, name TEXT NOT NULL,
        role TEXT NOT NULL, pin TEXT, badge_serial INTEGER NOT NULL DEFAULT 0, active INTEGER NOT NULL DEFAULT 1,
        created_at REAL NOT NULL, updated_at REAL NOT NULL, version INTEGER NOT NULL);
    CREATE INDEX staff_org ON staff(org);
    ALTER TABLE scans ADD COLUMN staff TEXT NOT NULL DEFAULT '';
    ALTER TABLE desk_requests ADD COLUMN staff TEXT NOT NULL DEFAULT '';
    """,
    # 9: an allotment replaced by the kiosk's next one (refill): its unsold rest is no longer held
    """
    ALTER TABLE allotments ADD COLUMN superseded_at REAL;
    """,
    # 10: the payment method of each desk sale (reports per method, the till); desk shifts (till: float, counted
    #     cash, the Z report kept at closing)
    """
    ALTER TABLE desk_requests ADD COLUMN payment TEXT NOT NULL DEFAULT '';
    CREATE TABLE till_shifts (shift_id INTEGER PRIMARY KEY AUTOINCREMENT, org TEXT NOT NULL, device_id TEXT NOT NULL,
        shift_uuid TEXT NOT NULL UNIQUE, staff TEXT NOT NULL DEFAULT '', currency TEXT NOT NULL,
        float_cents INTEGER NOT NULL, opened_at REAL NOT NULL, closed_at REAL, counted_cents INTEGER,
        closed_by TEXT NOT NULL DEFAULT '', report TEXT);
    CREATE INDEX till_shifts_device ON till_shifts(org, device_id, opened_at);
    """,
    # 11: e-tickets e-mailed to buyers: the last delivery of each order (sent, refused, failed) for the organiser
    #     and the kiosk
    """
    CREATE TABLE mail_status (order_number TEXT PRIMARY KEY, org TEXT NOT NULL, address TEXT NOT NULL,
        status TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '', attempts INTEGER NOT NULL DEFAULT 0, at REAL NOT NULL);
    """,
    # 12: revocations and blocks changed since a version are found by their version (the announcer's look and a
    #     delta), not by scanning the event's tickets (0.47 s per look at 1M tickets before)
    """
    CREATE INDEX revocations_version ON revocations(version);
    CREATE INDEX blocks_version ON blocks(version);
    """,
    # 13: an annulment is checked against annulments naming the same action (ingestion refuses a second one)
    """
    CREATE INDEX scans_annulled ON scans(ref_uuid) WHERE kind = 'annul';
    """,
    # 14: the signed commands the organiser sent to each device (`server device configure`); their results are
    #     the devices' cmd_result rows in scans (scan_uuid = command_id)
    """
    CREATE TABLE device_commands (command_id TEXT PRIMARY KEY, org TEXT NOT NULL, device_id TEXT NOT NULL,
        cmd TEXT NOT NULL, args TEXT NOT NULL, sent_at REAL NOT NULL);
    CREATE INDEX device_commands_device ON device_commands(device_id, sent_at);
    """,
    # 15: a door action by a staff member deactivated before it was done (the device offline, not told yet) is
    #     stored and flagged for the organiser (`flag`); when each member was deactivated
    """
    ALTER TABLE scans ADD COLUMN flag TEXT NOT NULL DEFAULT '';
    ALTER TABLE staff ADD COLUMN deactivated_at REAL;
    UPDATE staff SET deactivated_at = updated_at WHERE active = 0;
    """,
    # 16: an order line of another event or date than its order's (a ticket exchanged to it); NULL: the order's
    """
    ALTER TABLE order_lines ADD COLUMN target_id INTEGER;
    """,
    # 17: revoked tickets the server did not issue (pretix secrets, `pretix:<seed>`), per event (`server ticket revoke`)
    """
    CREATE TABLE key_revocations (event_id INTEGER NOT NULL, ticket_key TEXT NOT NULL, org TEXT NOT NULL,
        reason TEXT NOT NULL, at REAL NOT NULL, active INTEGER NOT NULL DEFAULT 1, version INTEGER NOT NULL,
        PRIMARY KEY (event_id, ticket_key));
    CREATE INDEX key_revocations_version ON key_revocations(version);
    """,
    # 18: a kiosk's sales made offline not received yet, as its last status counted them (the till warns of them)
    """
    ALTER TABLE devices ADD COLUMN unsent_sales INTEGER;
    ALTER TABLE devices ADD COLUMN unsent_at REAL;
    """,
    # 19: uploads from devices not registered here (or revoked, or another organiser's), for the organiser
    #     (`server refusals`): one row per device id (from the topic) and reason, counted, never one per message
    """
    CREATE TABLE unregistered_uploads (org TEXT NOT NULL, device_id TEXT NOT NULL, reason TEXT NOT NULL,
        count INTEGER NOT NULL, first_at REAL NOT NULL, last_at REAL NOT NULL, PRIMARY KEY (org, device_id, reason));
    """,
    # 20: order files imported (their content's digest): the same file again is refused unless asked for
    """
    CREATE TABLE order_imports (org TEXT NOT NULL, digest TEXT NOT NULL, file TEXT NOT NULL, orders INTEGER NOT NULL,
        tickets INTEGER NOT NULL, at REAL NOT NULL, PRIMARY KEY (org, digest));
    """,
    # 21: device ids are compared without case (`gate-1` and `GATE-1` are one name to people; MQTT logins and
    #     topics would tell them apart): `id_folded` is the id in lower case, unique. Ids registered before this
    #     that differ only by case are kept, both devices go on working (renaming one would end its login and
    #     change whose its scans are): the first registered keeps the plain folded id, a later one
    #     `folded/ID` ('/' is in no device id); `server devices` lists them so the organiser revokes one
    DEVICE_IDS_FOLDED,
    # 22: the ticket an exchange issued for a revoked one (`server conflicts`: a ticket exchanged after a door
    #     offline admitted it names its replacement); earlier exchanges: the order's ticket issued with the revocation
    """
    ALTER TABLE revocations ADD COLUMN replacement INTEGER;
    UPDATE revocations SET replacement = (SELECT t2.ticket_id FROM tickets t1 JOIN tickets t2 ON t2.order_id = t1.order_id
        AND t2.ticket_id <> t1.ticket_id AND t2.version = revocations.version WHERE t1.ticket_id = revocations.ticket_id
        ORDER BY t2.position DESC LIMIT 1) WHERE reason LIKE 'exchanged:%';
    """,
    # 23: a device id retired when its device enrolled again (wiped, or re-enrolled with a new id) names the id that
    #     replaced it (`server devices`: RETIRED, not REVOKED); earlier retirements stay revoked, nothing tells them apart
    """
    ALTER TABLE devices ADD COLUMN replaced_by TEXT;
    """,
    # 24: an event the organiser removed (`server event remove`): off the devices and the event list, kept for the
    #     reports, the Z reports and the uploads still on their way
    """
    ALTER TABLE events ADD COLUMN removed_at REAL;
    """,
    # 25: a pass the organiser removed (`server pass remove`): off the devices, the pass list and new orders, kept
    #     (with the events it opened) for its orders, the reports and the uploads still on their way; an event taken
    #     from a pass (`server pass edit`) stays as a link removed: entries recorded there before are still taken
    """
    ALTER TABLE passes ADD COLUMN removed_at REAL;
    ALTER TABLE pass_events ADD COLUMN removed_at REAL;
    """,
    # 26: a staff member's roles over time (`staff_role_at`): every role given (`server staff add`, `staff set --role`)
    #     from when; a device's act is judged by the role held when it was done. Members added before: their role
    #     now, since they were added (nothing recorded an earlier one)
    """
    CREATE TABLE staff_roles (staff_id INTEGER NOT NULL, role TEXT NOT NULL, since REAL NOT NULL);
    CREATE INDEX staff_roles_member ON staff_roles(staff_id, since);
    INSERT INTO staff_roles(staff_id, role, since) SELECT staff_id, role, created_at FROM staff;
    """,
    # 27: a device revoked as replaced by a spare (`server device revoke --replaced`, `provision revoke --replaced`),
    #     not lost or stolen: `provision serve` cuts it with the wipe that keeps its unsent uploads. Earlier
    #     revocations stay as they were (lost or stolen: nothing kept)
    """
    ALTER TABLE devices ADD COLUMN replaced_by_spare INTEGER NOT NULL DEFAULT 0;
    """,
)
