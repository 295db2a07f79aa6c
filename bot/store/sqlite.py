"""The embedded store: one SQLite file in WAL mode, documents as JSON with indexed columns.

Every SQLite call runs on one of two threads (bot/store/sqlite_threads.py): a writer that
group-commits queued writes and a reader with its own connection. The event loop only queues
jobs and awaits their futures, so a write lock held by another process stalls the writer
thread for at most ``busy_timeout_seconds`` and then fails that write with ``StoreError``.
"""

from __future__ import annotations

import functools
import sqlite3
import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from bot import audit
from bot.errors import Conflict, NotFound, StoreError
from bot.models import (
    INCIDENT_SEQUENCE,
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
from bot.store import sqlite_rows as rows
from bot.store import sqlite_schema as schema
from bot.store.sqlite_deliveries import SQLiteDeliveries
from bot.store.sqlite_rows import dump, load
from bot.store.sqlite_threads import ConnectionThread

SCHEMA_VERSION = schema.SCHEMA_VERSION
DEFAULT_BUSY_TIMEOUT_SECONDS = 5.0

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
Db = sqlite3.Connection


def translate_error(path: str, busy_timeout_seconds: float, exc: sqlite3.Error) -> StoreError:
    """The bot.errors equivalent of a sqlite3 error (a held lock becomes "store busy")."""
    message = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in message or "busy" in message):
        error = StoreError(
            f"store busy: {path} stayed locked by another writer for more than "
            f"{busy_timeout_seconds:g} s ({message})"
        )
    else:
        error = StoreError(f"SQLite error on {path}: {message}")
    error.__cause__ = exc
    return error


def _stop(*threads: ConnectionThread) -> None:
    for thread in threads:
        thread.stop()


class SQLiteStore(SQLiteDeliveries):
    """Store on one SQLite file; safe for many tasks, threads and processes at once.

    ``busy_timeout_seconds`` bounds how long a write waits for a lock another connection
    holds before failing with ``StoreError("store busy ...")``. Opening migrates the file
    synchronously (start-up work); after that no method touches SQLite on the caller's thread.
    """

    def __init__(
        self, path: Path | str, *, busy_timeout_seconds: float = DEFAULT_BUSY_TIMEOUT_SECONDS
    ) -> None:
        self.path = str(path)
        self.busy_timeout_seconds = busy_timeout_seconds
        in_memory = self.path == ":memory:"
        if not in_memory:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        translate = functools.partial(translate_error, self.path, busy_timeout_seconds)
        try:
            write_db = schema.connect(self.path, busy_timeout_seconds)
            schema.migrate(write_db, self.path)
            read_db = None if in_memory else schema.connect(self.path, busy_timeout_seconds)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite store: {translate(exc)}") from exc
        self._writer = ConnectionThread(
            write_db, name="sqlite-writer", writes=True, translate=translate
        )
        # An in-memory database exists only on its one connection: reads share the writer.
        self._reader = self._writer
        if read_db is not None:
            self._reader = ConnectionThread(
                read_db, name="sqlite-reader", writes=False, translate=translate
            )
        # A store dropped without close() still ends its threads (they hold no reference to it).
        weakref.finalize(self, _stop, self._writer, self._reader)

    async def _write(self, job: Callable[[Db], T]) -> T:
        return await self._writer.run(job)

    async def _read(self, job: Callable[[Db], T]) -> T:
        return await self._reader.run(job)

    async def _docs(self, model: type[M], sql: str, params: tuple[Any, ...] = ()) -> list[M]:
        def job(db: Db) -> list[M]:
            return [load(model, r[0]) for r in db.execute(sql, params)]

        return await self._read(job)

    async def _one(self, model: type[M], table: str, key: str) -> M:
        found = await self._docs(model, f"SELECT doc FROM {table} WHERE id = ?", (key,))
        if not found:
            raise NotFound(f"{table} {key!r} not found")
        return found[0]

    async def ping(self) -> None:
        await self._read(lambda db: db.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        if self._reader is not self._writer:
            await self._reader.close()
        await self._writer.close()

    # raw payloads and alerts
    async def add_raw(self, raw: RawPayload) -> None:
        row = (raw.id, raw.received_at.isoformat(), dump(raw))
        await self._write(
            lambda db: db.execute(
                "INSERT INTO raw_payloads (id, received_at, doc) VALUES (?, ?, ?)", row
            )
        )

    async def get_raw(self, raw_id: str) -> RawPayload:
        return await self._one(RawPayload, "raw_payloads", raw_id)

    async def prune_raw(self, before: datetime, limit: int = 1000) -> int:
        # received_at holds isoformat() of UTC instants, which sort in time order.
        cutoff = before.astimezone(UTC).isoformat()

        def job(db: Db) -> int:
            cur = db.execute(
                "DELETE FROM raw_payloads WHERE rowid IN (SELECT rowid FROM raw_payloads"
                " INDEXED BY raw_payloads_received WHERE received_at < ?"
                " ORDER BY received_at LIMIT ?)",
                (cutoff, limit),
            )
            return int(cur.rowcount)

        return await self._write(job)

    async def add_alert(self, alert: Alert) -> bool:
        return await self._write(lambda db: rows.insert_alert(db, alert))

    async def add_alerts(
        self,
        alerts: Sequence[Alert],
        counts: Mapping[str, int] | None = None,
        *,
        raw: RawPayload | None = None,
    ) -> list[bool]:
        """Store one payload's alerts in one transaction; True for each one stored.

        An alert whose ``dedup_key`` is already stored (before or earlier in this batch) is
        skipped and gets False; the list is in input order. When ``counts`` is given, each
        incident id in it gets, in the same transaction, ``alert_count`` raised by the number
        of firing alerts actually stored with that ``incident_id`` (the mapping's values are the
        caller's tally and are not trusted), ``updated_at`` moved forward to the newest
        ``received_at`` among them, and ``version`` bumped, so a CAS writer holding the old
        version gets Conflict. Severity and status are left to the caller. If a counted
        incident does not exist, NotFound is raised and nothing of the batch is written.
        """
        batch = list(alerts)
        wanted = list(counts or ())

        raw_row = (raw.id, raw.received_at.isoformat(), dump(raw)) if raw is not None else None

        def job(db: Db) -> list[bool]:
            if raw_row is not None:
                db.execute(
                    "INSERT INTO raw_payloads (id, received_at, doc) VALUES (?, ?, ?)", raw_row
                )
            stored = [rows.insert_alert(db, alert) for alert in batch]
            if wanted:
                rows.count_alerts(
                    db, [a for a, ok in zip(batch, stored, strict=True) if ok], wanted
                )
            return stored

        return await self._write(job)

    async def get_alert(self, alert_id: str) -> Alert:
        return await self._one(Alert, "alerts", alert_id)

    async def list_alerts(self, incident_id: str, limit: int = 100) -> list[Alert]:
        return await self._docs(
            Alert,
            "SELECT doc FROM alerts WHERE incident_id = ? ORDER BY received_at, rowid LIMIT ?",
            (incident_id, limit),
        )

    # incidents
    async def open_incident_for_group(self, candidate: Incident) -> tuple[Incident, bool]:
        if candidate.group_key is not None:
            # Most alerts join an open incident: find it on the reader, off the write queue.
            # The write below re-checks, so a race with a resolve or a create stays atomic.
            found = await self._docs(
                Incident,
                "SELECT doc FROM incidents WHERE group_key = ? AND status = 'open'",
                (candidate.group_key,),
            )
            if found:
                return found[0], False

        def job(db: Db) -> tuple[Incident, bool]:
            if candidate.group_key is not None:
                row = db.execute(
                    "SELECT doc FROM incidents WHERE group_key = ? AND status = 'open'",
                    (candidate.group_key,),
                ).fetchone()
                if row:
                    return load(Incident, row[0]), False
            _number(db, candidate)
            rows.insert_incident(db, candidate)
            return candidate, True

        return await self._write(job)

    async def create_incident(self, incident: Incident) -> None:
        def job(db: Db) -> None:
            try:
                _number(db, incident)
                rows.insert_incident(db, incident)
            except sqlite3.IntegrityError as exc:
                raise Conflict(f"incident {incident.id} or its open group already exists") from exc

        await self._write(job)

    async def latest_incident_for_group(self, group_key: str) -> Incident | None:
        found = await self._docs(
            Incident,
            "SELECT doc FROM incidents WHERE group_key = ? ORDER BY updated_at DESC LIMIT 1",
            (group_key,),
        )
        return found[0] if found else None

    async def get_incident(self, incident_id: str) -> Incident:
        return await self._one(Incident, "incidents", incident_id)

    async def get_incident_by_number(self, number: int) -> Incident:
        found = await self._docs(
            Incident,
            "SELECT doc FROM incidents WHERE json_extract(doc, '$.number') = ? LIMIT 1",
            (number,),
        )
        if not found:
            raise NotFound(f"incident INC-{number}")
        return found[0]

    async def update_incident(self, incident: Incident) -> Incident:
        stored = incident.model_copy(update={"version": incident.version + 1})
        await self._write(lambda db: rows.replace_incident(db, stored, incident.version))
        return stored

    async def list_incidents(
        self, status: IncidentStatus | None = None, limit: int = 50
    ) -> list[Incident]:
        if status is None:
            return await self._docs(
                Incident,
                "SELECT doc FROM incidents ORDER BY updated_at DESC, rowid DESC LIMIT ?",
                (limit,),
            )
        return await self._docs(
            Incident,
            "SELECT doc FROM incidents WHERE status = ? ORDER BY updated_at DESC, rowid DESC"
            " LIMIT ?",
            (status.value, limit),
        )

    async def list_untriaged_incidents(
        self, limit: int = 100, after: str | None = None
    ) -> list[Incident]:
        """Open incidents with alerts (stored, or counted) and no triage, oldest first.

        Ordered by ``created_at`` then id. ``after`` is the id of the last incident of the
        previous page (NotFound if no such incident); the next page starts after it. Backed by
        a partial index over open, untriaged incidents.
        """

        def job(db: Db) -> list[Incident]:
            cursor = ("", "")
            if after is not None:
                row = db.execute("SELECT created_at FROM incidents WHERE id = ?", (after,))
                found = row.fetchone()
                if found is None:
                    raise NotFound(f"incident {after!r} not found")
                cursor = (found[0], after)
            found_rows = db.execute(
                "SELECT doc FROM incidents INDEXED BY incidents_untriaged"
                " WHERE status = 'open' AND triaged = 0 AND (created_at, id) > (?, ?)"
                " AND (json_extract(doc, '$.alert_count') > 0"
                "      OR EXISTS (SELECT 1 FROM alerts a WHERE a.incident_id = incidents.id))"
                " ORDER BY created_at, id LIMIT ?",
                (*cursor, limit),
            )
            return [load(Incident, r[0]) for r in found_rows]

        return await self._read(job)

    # triage
    async def add_triage(self, triage: Triage) -> None:
        """Store a triage; Conflict for a second first triage (not ``retriage``) of an incident."""
        row = (
            triage.id,
            triage.incident_id,
            triage.created_at.isoformat(),
            dump(triage),
            int(triage.retriage),
        )

        def job(db: Db) -> None:
            try:
                db.execute(
                    "INSERT INTO triages (id, incident_id, created_at, doc, retriage)"
                    " VALUES (?, ?, ?, ?, ?)",
                    row,
                )
            except sqlite3.IntegrityError as exc:
                raise Conflict(
                    f"incident {triage.incident_id} already has its first triage"
                    if not triage.retriage
                    else f"triage {triage.id} already exists"
                ) from exc
            db.execute(
                "UPDATE incidents SET triaged = 1 WHERE id = ? AND triaged = 0",
                (triage.incident_id,),
            )

        await self._write(job)

    async def list_triages(self, incident_id: str) -> list[Triage]:
        return await self._docs(
            Triage,
            "SELECT doc FROM triages WHERE incident_id = ? ORDER BY created_at, rowid",
            (incident_id,),
        )

    # action requests
    async def add_action_request(self, request: ActionRequest) -> None:
        row = (
            request.id,
            request.incident_id,
            request.state.value,
            request.created_at.isoformat(),
            request.version,
            dump(request),
        )
        await self._write(
            lambda db: db.execute(
                "INSERT INTO action_requests (id, incident_id, state, created_at, version, doc)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                row,
            )
        )

    async def get_action_request(self, request_id: str) -> ActionRequest:
        return await self._one(ActionRequest, "action_requests", request_id)

    async def update_action_request(self, request: ActionRequest) -> ActionRequest:
        stored = request.model_copy(update={"version": request.version + 1})
        row = (stored.state.value, stored.version, dump(stored), request.id, request.version)

        def job(db: Db) -> None:
            cur = db.execute(
                "UPDATE action_requests SET state = ?, version = ?, doc = ?"
                " WHERE id = ? AND version = ?",
                row,
            )
            if cur.rowcount != 1:
                exists = db.execute("SELECT 1 FROM action_requests WHERE id = ?", (request.id,))
                if exists.fetchone() is None:
                    raise NotFound(f"action request {request.id!r} not found")
                raise Conflict(
                    f"action request {request.id} changed since version {request.version}"
                )

        await self._write(job)
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
        return await self._docs(
            ActionRequest,
            f"SELECT doc FROM action_requests {where} ORDER BY created_at, rowid LIMIT ?",
            (*params, limit),
        )

    async def list_action_requests_since(
        self, since: datetime, limit: int = 500, after: str | None = None
    ) -> list[ActionRequest]:
        def job(db: Db) -> list[ActionRequest]:
            cursor: tuple[str, int] = (since.isoformat(), -1)
            if after is not None:
                found = db.execute(
                    "SELECT created_at, rowid FROM action_requests WHERE id = ?", (after,)
                ).fetchone()
                if found is None:
                    raise NotFound(f"action request {after!r} not found")
                cursor = (found[0], found[1])
            found_rows = db.execute(
                "SELECT doc FROM action_requests INDEXED BY action_requests_created"
                " WHERE created_at >= ? AND (created_at, rowid) > (?, ?)"
                " ORDER BY created_at, rowid LIMIT ?",
                (since.isoformat(), *cursor, limit),
            )
            return [load(ActionRequest, r[0]) for r in found_rows]

        return await self._read(job)

    async def list_verifying_requests(self, limit: int = 200) -> list[ActionRequest]:
        # Few rows are succeeded and still watched; the state index narrows the scan to them.
        return await self._docs(
            ActionRequest,
            "SELECT doc FROM action_requests WHERE state = ?"
            " AND json_extract(doc, '$.verify_until') IS NOT NULL"
            " AND json_extract(doc, '$.verification') IS NULL"
            " ORDER BY created_at, rowid LIMIT ?",
            (ActionState.SUCCEEDED.value, limit),
        )

    # timeline and feedback
    async def append_event(self, event: Event) -> Event:
        """Append and chain: the previous event is read inside the writer's transaction
        (``BEGIN IMMEDIATE``, one writer per file at a time), so the chain cannot fork."""

        def job(db: Db) -> Event:
            head = db.execute(
                "SELECT doc FROM events WHERE incident_id = ? ORDER BY seq DESC LIMIT 1",
                (event.incident_id,),
            ).fetchone()
            cur = db.execute(
                "INSERT INTO events (id, incident_id, doc) VALUES (?, ?, ?)",
                (event.id, event.incident_id, ""),
            )
            seq = int(cur.lastrowid or 0)
            previous = load(Event, head[0]) if head else None
            stored = audit.chained(event.model_copy(update={"seq": seq}), previous)
            db.execute("UPDATE events SET doc = ? WHERE seq = ?", (dump(stored), seq))
            return stored

        return await self._write(job)

    async def list_events(self, incident_id: str) -> list[Event]:
        return await self._docs(
            Event, "SELECT doc FROM events WHERE incident_id = ? ORDER BY seq", (incident_id,)
        )

    async def add_feedback(self, feedback: Feedback) -> None:
        row = (feedback.id, feedback.incident_id, dump(feedback))
        await self._write(
            lambda db: db.execute(
                "INSERT INTO feedback (id, incident_id, doc) VALUES (?, ?, ?)", row
            )
        )

    async def list_feedback(self, incident_id: str) -> list[Feedback]:
        return await self._docs(
            Feedback,
            "SELECT doc FROM feedback WHERE incident_id = ? ORDER BY rowid",
            (incident_id,),
        )

    # coordination
    async def acquire_lease(self, name: str, owner: str, now: datetime, ttl_seconds: float) -> bool:
        expires = (now + timedelta(seconds=ttl_seconds)).isoformat()

        def job(db: Db) -> bool:
            row = db.execute("SELECT owner, expires_at FROM leases WHERE name = ?", (name,))
            current = row.fetchone()
            if current and current[0] != owner and current[1] > now.isoformat():
                return False
            db.execute(
                "INSERT OR REPLACE INTO leases (name, owner, expires_at) VALUES (?, ?, ?)",
                (name, owner, expires),
            )
            return True

        return await self._write(job)

    async def release_lease(self, name: str, owner: str, now: datetime) -> None:
        def job(db: Db) -> None:
            db.execute(
                "UPDATE leases SET expires_at = ? WHERE name = ? AND owner = ?",
                (now.isoformat(), name, owner),
            )

        await self._write(job)

    async def release_leases_of(
        self, owner_prefix: str, now: datetime, *, keep_prefix: str
    ) -> list[str]:
        moment = now.isoformat()

        def job(db: Db) -> list[str]:
            held = db.execute(
                "SELECT name, owner FROM leases WHERE substr(owner, 1, ?) = ? AND expires_at > ?",
                (len(owner_prefix), owner_prefix, moment),
            ).fetchall()
            names = [name for name, owner in held if not owner.startswith(keep_prefix)]
            db.executemany(
                "UPDATE leases SET expires_at = ? WHERE name = ? AND substr(owner, 1, ?) = ?",
                [(moment, name, len(owner_prefix), owner_prefix) for name in names],
            )
            return names

        return await self._write(job)

    async def add_token_usage(self, day: str, tokens: int) -> int:
        def job(db: Db) -> int:
            db.execute(
                "INSERT INTO token_usage (day, tokens) VALUES (?, ?)"
                " ON CONFLICT(day) DO UPDATE SET tokens = tokens + excluded.tokens",
                (day, tokens),
            )
            row = db.execute("SELECT tokens FROM token_usage WHERE day = ?", (day,)).fetchone()
            return int(row[0])

        return await self._write(job)

    async def next_number(self, sequence: str) -> int:
        return await self._write(lambda db: _next(db, sequence))

    async def get_token_usage(self, day: str) -> int:
        def job(db: Db) -> int:
            row = db.execute("SELECT tokens FROM token_usage WHERE day = ?", (day,)).fetchone()
            return int(row[0]) if row else 0

        return await self._read(job)

    async def join_lease(self, name: str, owner: str, now: datetime, ttl_seconds: float) -> str:
        moment = now.isoformat()

        def job(db: Db) -> str:
            row = db.execute("SELECT owner, expires_at FROM leases WHERE name = ?", (name,))
            current = row.fetchone()
            holder = owner
            if current and current[1] is not None and current[1] > moment:
                holder = current[0]
                if current[1] > (now + timedelta(seconds=ttl_seconds / 2)).isoformat():
                    return str(holder)
            db.execute(
                "INSERT OR REPLACE INTO leases (name, owner, expires_at) VALUES (?, ?, ?)",
                (name, holder, (now + timedelta(seconds=ttl_seconds)).isoformat()),
            )
            return str(holder)

        return await self._write(job)

    async def lease_holder(self, name: str, now: datetime) -> str | None:
        def job(db: Db) -> str | None:
            row = db.execute(
                "SELECT owner FROM leases WHERE name = ? AND expires_at > ?",
                (name, now.isoformat()),
            ).fetchone()
            return str(row[0]) if row else None

        return await self._read(job)

    async def add_to_window(self, name: str, bucket: int, amount: int, span: int) -> int:
        def job(db: Db) -> int:
            if amount:
                db.execute(
                    "INSERT INTO window_counts (name, bucket, value) VALUES (?, ?, ?)"
                    " ON CONFLICT(name, bucket) DO UPDATE SET value = value + excluded.value",
                    (name, bucket, amount),
                )
                # Buckets far behind every window anyone asks about are only clutter.
                db.execute(
                    "DELETE FROM window_counts WHERE name = ? AND bucket < ?",
                    (name, bucket - 4 * span),
                )
            row = db.execute(
                "SELECT coalesce(sum(value), 0) FROM window_counts"
                " WHERE name = ? AND bucket > ? AND bucket <= ?",
                (name, bucket - span, bucket),
            ).fetchone()
            return int(row[0])

        return await self._write(job) if amount else await self._read(job)


def _next(db: Db, sequence: str) -> int:
    db.execute(
        "INSERT INTO sequences (name, value) VALUES (?, 1)"
        " ON CONFLICT(name) DO UPDATE SET value = value + 1",
        (sequence,),
    )
    row = db.execute("SELECT value FROM sequences WHERE name = ?", (sequence,)).fetchone()
    return int(row[0])


def _number(db: Db, incident: Incident) -> None:
    # In the creating transaction: an incident is never stored without its number.
    if incident.number is None:
        incident.number = _next(db, INCIDENT_SEQUENCE)
