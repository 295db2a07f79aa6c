"""The SQLite store's tables, indexes and migrations, and how its connections are opened."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from bot.errors import StoreError

SCHEMA_VERSION = 5

# Version 1 tables. Columns added later are added by _COLUMNS (so old files upgrade in place),
# and indexes over them are created only after that, by _INDEXES.
_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS raw_payloads (id TEXT PRIMARY KEY, received_at TEXT, doc TEXT);
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY, dedup_key TEXT NOT NULL UNIQUE, incident_id TEXT,
    received_at TEXT, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS alerts_incident ON alerts (incident_id, received_at);
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY, status TEXT NOT NULL, group_key TEXT, updated_at TEXT NOT NULL,
    version INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS incidents_open_group
    ON incidents (group_key) WHERE status = 'open' AND group_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS incidents_recent ON incidents (status, updated_at);
CREATE INDEX IF NOT EXISTS incidents_group ON incidents (group_key, updated_at);
CREATE TABLE IF NOT EXISTS triages (
    id TEXT PRIMARY KEY, incident_id TEXT NOT NULL, created_at TEXT, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS triages_incident ON triages (incident_id, created_at);
CREATE TABLE IF NOT EXISTS action_requests (
    id TEXT PRIMARY KEY, incident_id TEXT NOT NULL, state TEXT NOT NULL,
    created_at TEXT, version INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS action_requests_state ON action_requests (state, created_at);
CREATE INDEX IF NOT EXISTS action_requests_incident ON action_requests (incident_id);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
    incident_id TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_incident ON events (incident_id, seq);
CREATE TABLE IF NOT EXISTS feedback (
    id TEXT PRIMARY KEY, incident_id TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at TEXT);
CREATE TABLE IF NOT EXISTS token_usage (day TEXT PRIMARY KEY, tokens INTEGER NOT NULL);
-- storm mode's shared counts per time bucket (IF NOT EXISTS adds it to older files as well)
CREATE TABLE IF NOT EXISTS window_counts (
    name TEXT NOT NULL, bucket INTEGER NOT NULL, value INTEGER NOT NULL,
    PRIMARY KEY (name, bucket));
-- monotonic sequences (incident numbers, INC-42)
CREATE TABLE IF NOT EXISTS sequences (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

# Version 4: the durable outbox. Sortable UTC instants (``instant``) in the columns; an empty
# claimed_until means unclaimed. The partial indexes hold only what the sweeps look for.
_DELIVERIES = """
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY, state TEXT NOT NULL, card TEXT NOT NULL, seq TEXT NOT NULL,
    next_attempt_at TEXT NOT NULL, claimed_until TEXT NOT NULL, reported INTEGER NOT NULL,
    created_at TEXT NOT NULL, version INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS deliveries_pending_age ON deliveries (created_at)
    WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS deliveries_card ON deliveries (card, seq);
CREATE INDEX IF NOT EXISTS deliveries_unreported ON deliveries (created_at) WHERE reported = 0;
"""

# Version 2: incidents.created_at (a sortable UTC instant) and incidents.triaged (set when a
# triage is stored), for the oldest-first list of untriaged incidents.
# Version 3: triages.retriage (0 for an incident's first triage, 1 for an explicit re-triage),
# so the store accepts one first triage per incident (exactly-once triage).
_COLUMNS = (
    ("incidents", "created_at", "TEXT NOT NULL DEFAULT ''"),
    ("incidents", "triaged", "INTEGER NOT NULL DEFAULT 0"),
    ("triages", "retriage", "INTEGER NOT NULL DEFAULT 0"),
)

# The partial index holds only open, untriaged incidents, so the untriaged sweep reads a
# handful of rows however many incidents the file has seen.
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS incidents_untriaged"
    " ON incidents (created_at, id) WHERE status = 'open' AND triaged = 0",
    # list_incidents without a status filter: newest first without sorting the whole table
    # (found by benchmarks/growth.py; incidents_recent leads with status).
    "CREATE INDEX IF NOT EXISTS incidents_updated ON incidents (updated_at)",
    # A second first triage of one incident is refused (add_triage raises Conflict).
    "CREATE UNIQUE INDEX IF NOT EXISTS triages_first ON triages (incident_id) WHERE retriage = 0",
    # Version 5, retention: the oldest raw payloads, and the oldest finished deliveries whose
    # outcome is recorded, are what the prune sweep deletes, a bounded batch at a time.
    "CREATE INDEX IF NOT EXISTS raw_payloads_received ON raw_payloads (received_at)",
    "CREATE INDEX IF NOT EXISTS deliveries_finished ON deliveries (created_at)"
    " WHERE state IN ('delivered', 'superseded') AND reported = 1",
    # Every request since a time, in filing order (``policy replay`` pages through them).
    "CREATE INDEX IF NOT EXISTS action_requests_created ON action_requests (created_at)",
)


def instant(value: datetime) -> str:
    """A UTC timestamp string that sorts in time order (naive values are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def connect(path: str, busy_timeout_seconds: float) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, short busy timeout."""
    db = sqlite3.connect(
        path, timeout=busy_timeout_seconds, isolation_level=None, check_same_thread=False
    )
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    # 32 MiB of page cache per connection (default 2 MiB): at 100k incidents the indexes an
    # alert insert touches no longer fit in 2 MiB (benchmarks/growth.py: ingest 0.35x of 1k).
    db.execute("PRAGMA cache_size=-32768")
    db.execute(f"PRAGMA busy_timeout={int(busy_timeout_seconds * 1000)}")
    return db


def migrate(db: sqlite3.Connection, path: str) -> None:
    """Create or upgrade the schema; refuses a file written by a newer incident-bot."""
    db.executescript(_TABLES)  # commits on its own, so it runs before our transaction
    db.executescript(_DELIVERIES)
    db.execute("BEGIN IMMEDIATE")
    try:
        row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        found = int(row[0]) if row else 0
        if found > SCHEMA_VERSION:
            raise StoreError(
                f"store {path} has schema version {found}, newer than this "
                f"incident-bot understands ({SCHEMA_VERSION}); upgrade incident-bot"
            )
        added = _add_columns(db)
        if "created_at" in added or found < 2:
            _backfill_incidents(db)
        if "retriage" in added or found < 3:
            _backfill_retriages(db)
        for statement in _INDEXES:
            db.execute(statement)
        db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
            (str(SCHEMA_VERSION),),
        )
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _add_columns(db: sqlite3.Connection) -> set[str]:
    added: set[str] = set()
    for table, column, decl in _COLUMNS:
        present = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
            added.add(column)
    return added


def _backfill_incidents(db: sqlite3.Connection) -> None:
    """Fill the version 2 columns of incidents written by version 1."""
    rows = db.execute(
        "SELECT id, json_extract(doc, '$.created_at') FROM incidents WHERE created_at = ''"
    ).fetchall()
    db.executemany(
        "UPDATE incidents SET created_at = ? WHERE id = ?",
        [(instant(datetime.fromisoformat(created)), key) for key, created in rows],
    )
    db.execute(
        "UPDATE incidents SET triaged = 1"
        " WHERE EXISTS (SELECT 1 FROM triages t WHERE t.incident_id = incidents.id)"
    )


def _backfill_retriages(db: sqlite3.Connection) -> None:
    """Mark every triage but an incident's oldest as a re-triage (files from before version 3
    could hold two first triages of one incident, which the unique index would refuse)."""
    db.execute(
        "UPDATE triages SET retriage = 1 WHERE retriage = 0 AND rowid NOT IN"
        " (SELECT rowid FROM triages t WHERE t.incident_id = triages.incident_id"
        "  ORDER BY created_at, rowid LIMIT 1)"
    )
