"""The embedded store: one SQLite file in WAL mode, documents as JSON with indexed columns."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from bot.errors import Conflict, NotFound, StoreError
from bot.models import (
    ActionRequest,
    ActionState,
    Alert,
    Event,
    Feedback,
    Incident,
    IncidentStatus,
    RawPayload,
    Triage,
)

SCHEMA_VERSION = 1

_SCHEMA = """
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
"""

M = TypeVar("M", bound=BaseModel)


def _load(model: type[M], doc: str) -> M:
    return model.model_validate_json(doc)


def _dump(value: BaseModel) -> str:
    return value.model_dump_json()


class SQLiteStore:
    """Store on one SQLite file; safe for threads in one process and for several processes."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=30000")
            self._migrate()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite store at {self.path}: {exc}") from exc

    def _migrate(self) -> None:
        # executescript commits on its own, so it runs outside our transaction helper.
        with self._lock:
            self._db.executescript(_SCHEMA)
        with self._tx() as db:
            row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            found = int(row[0]) if row else 0
            if found > SCHEMA_VERSION:
                raise StoreError(
                    f"store {self.path} has schema version {found}, newer than this "
                    f"incident-bot understands ({SCHEMA_VERSION}); upgrade incident-bot"
                )
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken immediately so concurrent writers queue, not deadlock."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"SQLite error: {exc}") from exc

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"SQLite error: {exc}") from exc

    def _one(self, model: type[M], table: str, key: str) -> M:
        rows = self._query(f"SELECT doc FROM {table} WHERE id = ?", (key,))
        if not rows:
            raise NotFound(f"{table} {key!r} not found")
        return _load(model, rows[0][0])

    async def ping(self) -> None:
        self._query("SELECT 1")

    async def close(self) -> None:
        with self._lock:
            self._db.close()

    # raw payloads and alerts
    async def add_raw(self, raw: RawPayload) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO raw_payloads (id, received_at, doc) VALUES (?, ?, ?)",
                (raw.id, raw.received_at.isoformat(), _dump(raw)),
            )

    async def get_raw(self, raw_id: str) -> RawPayload:
        return self._one(RawPayload, "raw_payloads", raw_id)

    async def add_alert(self, alert: Alert) -> bool:
        with self._tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO alerts (id, dedup_key, incident_id, received_at, doc)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    alert.id,
                    alert.dedup_key,
                    alert.incident_id,
                    alert.received_at.isoformat(),
                    _dump(alert),
                ),
            )
            return cur.rowcount == 1

    async def get_alert(self, alert_id: str) -> Alert:
        return self._one(Alert, "alerts", alert_id)

    async def list_alerts(self, incident_id: str, limit: int = 100) -> list[Alert]:
        rows = self._query(
            "SELECT doc FROM alerts WHERE incident_id = ? ORDER BY received_at, rowid LIMIT ?",
            (incident_id, limit),
        )
        return [_load(Alert, r[0]) for r in rows]

    # incidents
    def _insert_incident(self, db: sqlite3.Connection, incident: Incident) -> None:
        db.execute(
            "INSERT INTO incidents (id, status, group_key, updated_at, version, doc)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                incident.id,
                incident.status.value,
                incident.group_key,
                incident.updated_at.isoformat(),
                incident.version,
                _dump(incident),
            ),
        )

    async def open_incident_for_group(self, candidate: Incident) -> tuple[Incident, bool]:
        with self._tx() as db:
            if candidate.group_key is not None:
                row = db.execute(
                    "SELECT doc FROM incidents WHERE group_key = ? AND status = 'open'",
                    (candidate.group_key,),
                ).fetchone()
                if row:
                    return _load(Incident, row[0]), False
            self._insert_incident(db, candidate)
            return candidate, True

    async def create_incident(self, incident: Incident) -> None:
        try:
            with self._tx() as db:
                self._insert_incident(db, incident)
        except StoreError as exc:
            if "UNIQUE" in str(exc):
                raise Conflict(f"incident {incident.id} or its open group already exists") from exc
            raise

    async def latest_incident_for_group(self, group_key: str) -> Incident | None:
        rows = self._query(
            "SELECT doc FROM incidents WHERE group_key = ? ORDER BY updated_at DESC LIMIT 1",
            (group_key,),
        )
        return _load(Incident, rows[0][0]) if rows else None

    async def get_incident(self, incident_id: str) -> Incident:
        return self._one(Incident, "incidents", incident_id)

    async def update_incident(self, incident: Incident) -> Incident:
        stored = incident.model_copy(update={"version": incident.version + 1})
        with self._tx() as db:
            cur = db.execute(
                "UPDATE incidents SET status = ?, group_key = ?, updated_at = ?, version = ?,"
                " doc = ? WHERE id = ? AND version = ?",
                (
                    stored.status.value,
                    stored.group_key,
                    stored.updated_at.isoformat(),
                    stored.version,
                    _dump(stored),
                    incident.id,
                    incident.version,
                ),
            )
            if cur.rowcount != 1:
                exists = db.execute("SELECT 1 FROM incidents WHERE id = ?", (incident.id,))
                if exists.fetchone() is None:
                    raise NotFound(f"incident {incident.id!r} not found")
                raise Conflict(f"incident {incident.id} changed since version {incident.version}")
        return stored

    async def list_incidents(
        self, status: IncidentStatus | None = None, limit: int = 50
    ) -> list[Incident]:
        if status is None:
            rows = self._query(
                "SELECT doc FROM incidents ORDER BY updated_at DESC, rowid DESC LIMIT ?", (limit,)
            )
        else:
            rows = self._query(
                "SELECT doc FROM incidents WHERE status = ?"
                " ORDER BY updated_at DESC, rowid DESC LIMIT ?",
                (status.value, limit),
            )
        return [_load(Incident, r[0]) for r in rows]

    # triage
    async def add_triage(self, triage: Triage) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO triages (id, incident_id, created_at, doc) VALUES (?, ?, ?, ?)",
                (triage.id, triage.incident_id, triage.created_at.isoformat(), _dump(triage)),
            )

    async def list_triages(self, incident_id: str) -> list[Triage]:
        rows = self._query(
            "SELECT doc FROM triages WHERE incident_id = ? ORDER BY created_at, rowid",
            (incident_id,),
        )
        return [_load(Triage, r[0]) for r in rows]

    # action requests
    async def add_action_request(self, request: ActionRequest) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO action_requests (id, incident_id, state, created_at, version, doc)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    request.id,
                    request.incident_id,
                    request.state.value,
                    request.created_at.isoformat(),
                    request.version,
                    _dump(request),
                ),
            )

    async def get_action_request(self, request_id: str) -> ActionRequest:
        return self._one(ActionRequest, "action_requests", request_id)

    async def update_action_request(self, request: ActionRequest) -> ActionRequest:
        stored = request.model_copy(update={"version": request.version + 1})
        with self._tx() as db:
            cur = db.execute(
                "UPDATE action_requests SET state = ?, version = ?, doc = ?"
                " WHERE id = ? AND version = ?",
                (stored.state.value, stored.version, _dump(stored), request.id, request.version),
            )
            if cur.rowcount != 1:
                exists = db.execute("SELECT 1 FROM action_requests WHERE id = ?", (request.id,))
                if exists.fetchone() is None:
                    raise NotFound(f"action request {request.id!r} not found")
                raise Conflict(
                    f"action request {request.id} changed since version {request.version}"
                )
        return stored

    async def list_action_requests(
        self,
        incident_id: str | None = None,
        states: list[ActionState] | None = None,
        limit: int = 500,
    ) -> list[ActionRequest]:
        clauses: list[str] = []
        params: list[Any] = []
        if incident_id is not None:
            clauses.append("incident_id = ?")
            params.append(incident_id)
        if states:
            clauses.append(f"state IN ({','.join('?' for _ in states)})")
            params.extend(s.value for s in states)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._query(
            f"SELECT doc FROM action_requests {where} ORDER BY created_at, rowid LIMIT ?",
            (*params, limit),
        )
        return [_load(ActionRequest, r[0]) for r in rows]

    # timeline and feedback
    async def append_event(self, event: Event) -> Event:
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO events (id, incident_id, doc) VALUES (?, ?, ?)",
                (event.id, event.incident_id, _dump(event)),
            )
            seq = int(cur.lastrowid or 0)
            stored = event.model_copy(update={"seq": seq})
            db.execute("UPDATE events SET doc = ? WHERE seq = ?", (_dump(stored), seq))
        return stored

    async def list_events(self, incident_id: str) -> list[Event]:
        rows = self._query(
            "SELECT doc FROM events WHERE incident_id = ? ORDER BY seq", (incident_id,)
        )
        return [_load(Event, r[0]) for r in rows]

    async def add_feedback(self, feedback: Feedback) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO feedback (id, incident_id, doc) VALUES (?, ?, ?)",
                (feedback.id, feedback.incident_id, _dump(feedback)),
            )

    async def list_feedback(self, incident_id: str) -> list[Feedback]:
        rows = self._query(
            "SELECT doc FROM feedback WHERE incident_id = ? ORDER BY rowid", (incident_id,)
        )
        return [_load(Feedback, r[0]) for r in rows]

    # coordination
    async def acquire_lease(self, name: str, owner: str, now: datetime, ttl_seconds: float) -> bool:
        expires = (now + timedelta(seconds=ttl_seconds)).isoformat()
        with self._tx() as db:
            row = db.execute("SELECT owner, expires_at FROM leases WHERE name = ?", (name,))
            current = row.fetchone()
            if current and current[0] != owner and current[1] > now.isoformat():
                return False
            db.execute(
                "INSERT OR REPLACE INTO leases (name, owner, expires_at) VALUES (?, ?, ?)",
                (name, owner, expires),
            )
            return True

    async def add_token_usage(self, day: str, tokens: int) -> int:
        with self._tx() as db:
            db.execute(
                "INSERT INTO token_usage (day, tokens) VALUES (?, ?)"
                " ON CONFLICT(day) DO UPDATE SET tokens = tokens + excluded.tokens",
                (day, tokens),
            )
            row = db.execute("SELECT tokens FROM token_usage WHERE day = ?", (day,)).fetchone()
            return int(row[0])

    async def get_token_usage(self, day: str) -> int:
        rows = self._query("SELECT tokens FROM token_usage WHERE day = ?", (day,))
        return int(rows[0][0]) if rows else 0
