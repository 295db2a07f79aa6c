"""How models become SQLite rows: the write steps several store methods share.

Each function runs inside a transaction on the store's writer thread (bot/store/sqlite.py).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from typing import TypeVar

from pydantic import BaseModel

from bot.errors import Conflict, NotFound
from bot.models import Alert, AlertStatus, Incident
from bot.store import sqlite_schema as schema

M = TypeVar("M", bound=BaseModel)
Db = sqlite3.Connection


def load(model: type[M], doc: str) -> M:
    """A model from its stored JSON document."""
    return model.model_validate_json(doc)


def dump(value: BaseModel) -> str:
    """A model's stored JSON document."""
    return value.model_dump_json()


def insert_alert(db: Db, alert: Alert) -> bool:
    """Insert unless the dedup key is stored; True when inserted."""
    cur = db.execute(
        "INSERT OR IGNORE INTO alerts (id, dedup_key, incident_id, received_at, doc)"
        " VALUES (?, ?, ?, ?, ?)",
        (alert.id, alert.dedup_key, alert.incident_id, alert.received_at.isoformat(), dump(alert)),
    )
    return bool(cur.rowcount == 1)


def count_alerts(db: Db, stored: list[Alert], incident_ids: list[str]) -> None:
    """Raise each listed incident's alert_count by its stored firing alerts (see add_alerts)."""
    counted = Counter(
        a.incident_id
        for a in stored
        if a.incident_id is not None and a.status is AlertStatus.FIRING
    )
    for incident_id in incident_ids:
        added = counted.get(incident_id, 0)
        if not added:
            continue
        row = db.execute("SELECT doc FROM incidents WHERE id = ?", (incident_id,)).fetchone()
        if row is None:
            raise NotFound(f"incident {incident_id!r} not found")
        current = load(Incident, row[0])
        newest = max(a.received_at for a in stored if a.incident_id == incident_id)
        changed = current.model_copy(
            update={
                "alert_count": current.alert_count + added,
                "updated_at": max(current.updated_at, newest),
                "version": current.version + 1,
            }
        )
        replace_incident(db, changed, current.version)


def insert_incident(db: Db, incident: Incident) -> None:
    """Insert a new incident row (triaged already if a triage for its id is stored)."""
    db.execute(
        "INSERT INTO incidents"
        " (id, status, group_key, updated_at, version, doc, created_at, triaged)"
        " VALUES (?, ?, ?, ?, ?, ?, ?,"
        "  EXISTS (SELECT 1 FROM triages WHERE incident_id = ?))",
        (
            incident.id,
            incident.status.value,
            incident.group_key,
            incident.updated_at.isoformat(),
            incident.version,
            dump(incident),
            schema.instant(incident.created_at),
            incident.id,
        ),
    )


def replace_incident(db: Db, stored: Incident, expected_version: int) -> None:
    """Write ``stored`` if the row is still at ``expected_version``; Conflict otherwise."""
    cur = db.execute(
        "UPDATE incidents SET status = ?, group_key = ?, updated_at = ?, version = ?,"
        " doc = ?, created_at = ? WHERE id = ? AND version = ?",
        (
            stored.status.value,
            stored.group_key,
            stored.updated_at.isoformat(),
            stored.version,
            dump(stored),
            schema.instant(stored.created_at),
            stored.id,
            expected_version,
        ),
    )
    if cur.rowcount != 1:
        exists = db.execute("SELECT 1 FROM incidents WHERE id = ?", (stored.id,))
        if exists.fetchone() is None:
            raise NotFound(f"incident {stored.id!r} not found")
        raise Conflict(f"incident {stored.id} changed since version {expected_version}")
