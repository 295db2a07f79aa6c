"""The SQLite store against a real file: a held write lock never freezes the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.errors import Conflict, StoreError
from bot.models import Alert, Incident, RawPayload, Triage
from bot.store.sqlite import SQLiteStore

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
BUSY_TIMEOUT = 0.5


def _incident() -> Incident:
    return Incident(title="disk full", service="batch", created_at=T0, updated_at=T0)


async def test_held_write_lock_ends_in_store_error_while_the_loop_keeps_running(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bot.db"
    store = SQLiteStore(path, busy_timeout_seconds=BUSY_TIMEOUT)
    known = _incident()
    await store.create_incident(known)
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            await asyncio.sleep(0.01)
            ticks += 1

    other = sqlite3.connect(path, isolation_level=None)  # another writer, as another process
    other.execute("BEGIN IMMEDIATE")
    running = asyncio.create_task(ticker())
    try:
        raw = RawPayload(source="generic", content_type="application/json", body="{}",
                         received_at=T0)
        with pytest.raises(StoreError, match="store busy"):
            await store.add_raw(raw)
        # WAL readers never wait for the write lock.
        assert (await store.get_incident(known.id)).id == known.id
    finally:
        stop.set()
        await running
        other.execute("ROLLBACK")
        other.close()
    # A 0.5 s wait at 10 ms per tick is ~50 ticks; a frozen loop would manage one.
    assert ticks >= 10
    await store.add_raw(raw)  # the lock is free again: the same write goes through
    assert (await store.get_raw(raw.id)).id == raw.id
    await store.close()


async def test_a_closed_store_refuses_calls(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "bot.db")
    await store.close()
    await store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        await store.get_incident("inc-1")


async def test_version_1_file_upgrades_in_place(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    triaged, waiting = _incident(), _incident().model_copy(update={"alert_count": 3})
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO meta VALUES ('schema_version', '1');"
        "CREATE TABLE incidents (id TEXT PRIMARY KEY, status TEXT NOT NULL, group_key TEXT,"
        " updated_at TEXT NOT NULL, version INTEGER NOT NULL, doc TEXT NOT NULL);"
        "CREATE TABLE triages (id TEXT PRIMARY KEY, incident_id TEXT NOT NULL,"
        " created_at TEXT, doc TEXT NOT NULL);"
    )
    for item in (triaged, waiting):
        db.execute(
            "INSERT INTO incidents VALUES (?, 'open', NULL, ?, 0, ?)",
            (item.id, T0.isoformat(), item.model_dump_json()),
        )
    db.execute("INSERT INTO triages VALUES ('tri-1', ?, ?, '{}')", (triaged.id, T0.isoformat()))
    db.commit()
    db.close()
    store = SQLiteStore(path)
    assert [i.id for i in await store.list_untriaged_incidents()] == [waiting.id]
    alert = Alert(source="generic", fingerprint="f", group_key="g", service="batch",
                  title="t", received_at=T0, incident_id=waiting.id)
    assert await store.add_alerts([alert], counts={waiting.id: 1}) == [True]
    assert (await store.get_incident(waiting.id)).alert_count == 4
    await store.close()


async def test_version_2_file_keeps_old_double_triages_as_retriages(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    store = SQLiteStore(path)
    await store.close()
    db = sqlite3.connect(path)
    # What version 2 could hold: two first triages of one incident, and no retriage column.
    db.executescript(
        "DROP INDEX triages_first; ALTER TABLE triages DROP COLUMN retriage;"
        "UPDATE meta SET value = '2' WHERE key = 'schema_version';"
    )
    for n, at in enumerate(("2026-11-24T02:00:00+00:00", "2026-11-24T02:00:01+00:00")):
        db.execute(
            "INSERT INTO triages VALUES (?, 'inc-1', ?, ?)",
            (f"tri-{n}", at, Triage(id=f"tri-{n}", incident_id="inc-1",
                                    created_at=datetime.fromisoformat(at)).model_dump_json()),
        )
    db.commit()
    db.close()
    store = SQLiteStore(path)
    try:
        flags = sqlite3.connect(path).execute(
            "SELECT id, retriage FROM triages ORDER BY id"
        ).fetchall()
        assert flags == [("tri-0", 0), ("tri-1", 1)]
        with pytest.raises(Conflict):
            await store.add_triage(Triage(incident_id="inc-1", created_at=T0))
    finally:
        await store.close()


async def test_version_4_file_gains_the_retention_indexes(tmp_path: Path) -> None:
    path = tmp_path / "v4.db"
    await SQLiteStore(path).close()
    db = sqlite3.connect(path)
    db.executescript(
        "DROP INDEX raw_payloads_received; DROP INDEX deliveries_finished;"
        "UPDATE meta SET value = '4' WHERE key = 'schema_version';"
    )
    db.close()
    store = SQLiteStore(path)
    try:
        assert await store.prune_raw(T0, 10) == 0  # INDEXED BY fails without the index
        assert await store.prune_deliveries(T0, 10) == 0
        check = sqlite3.connect(path)
        version = check.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        indexes = {r[0] for r in check.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        check.close()
        assert int(version[0]) >= 5
        assert {"raw_payloads_received", "deliveries_finished"} <= indexes
    finally:
        await store.close()
