"""The durable outbox on SQLite: one row per delivery, claims and outcomes by version CAS."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from bot.deliveries import Delivery, DeliveryState
from bot.errors import Conflict, NotFound
from bot.store.sqlite_rows import dump, load
from bot.store.sqlite_schema import instant

T = TypeVar("T")
Db = sqlite3.Connection

_PENDING = DeliveryState.PENDING.value
# The partial indexes name state = 'pending' literally; a query must too, or SQLite cannot use
# them (hence literals below, not parameters).


def _row(delivery: Delivery) -> tuple[Any, ...]:
    claimed = instant(delivery.claimed_until) if delivery.claimed_until else ""
    return (
        delivery.state.value,
        delivery.card,
        delivery.seq,
        instant(delivery.next_attempt_at),
        claimed,
        1 if delivery.reported else 0,
        instant(delivery.created_at),
        delivery.version,
        dump(delivery),
    )


class SQLiteDeliveries:
    """The ``Deliveries`` port; mixed into ``SQLiteStore``, which runs the jobs."""

    async def _write(self, job: Callable[[Db], T]) -> T:
        raise NotImplementedError

    async def _read(self, job: Callable[[Db], T]) -> T:
        raise NotImplementedError

    async def _deliveries(self, sql: str, params: tuple[Any, ...]) -> list[Delivery]:
        def job(db: Db) -> list[Delivery]:
            return [load(Delivery, r[0]) for r in db.execute(sql, params)]

        return await self._read(job)

    async def add_delivery(self, delivery: Delivery) -> None:
        row = (delivery.id, *_row(delivery))

        def job(db: Db) -> None:
            try:
                db.execute(
                    "INSERT INTO deliveries (id, state, card, seq, next_attempt_at,"
                    " claimed_until, reported, created_at, version, doc)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
            except sqlite3.IntegrityError as exc:
                raise Conflict(f"delivery {delivery.id} already exists") from exc

        await self._write(job)

    async def get_delivery(self, delivery_id: str) -> Delivery:
        found = await self._deliveries("SELECT doc FROM deliveries WHERE id = ?", (delivery_id,))
        if not found:
            raise NotFound(f"delivery {delivery_id!r} not found")
        return found[0]

    async def update_delivery(self, delivery: Delivery) -> Delivery:
        stored = delivery.model_copy(update={"version": delivery.version + 1})
        row = (*_row(stored), delivery.id, delivery.version)

        def job(db: Db) -> None:
            cur = db.execute(
                "UPDATE deliveries SET state = ?, card = ?, seq = ?, next_attempt_at = ?,"
                " claimed_until = ?, reported = ?, created_at = ?, version = ?, doc = ?"
                " WHERE id = ? AND version = ?",
                row,
            )
            if cur.rowcount != 1:
                exists = db.execute("SELECT 1 FROM deliveries WHERE id = ?", (delivery.id,))
                if exists.fetchone() is None:
                    raise NotFound(f"delivery {delivery.id!r} not found")
                raise Conflict(f"delivery {delivery.id} changed since version {delivery.version}")

        await self._write(job)
        return stored

    async def list_due_deliveries(self, now: datetime, limit: int = 100) -> list[Delivery]:
        at = instant(now)
        return await self._deliveries(
            "SELECT doc FROM deliveries INDEXED BY deliveries_due"
            " WHERE state = 'pending' AND next_attempt_at <= ? AND claimed_until <= ?"
            " ORDER BY next_attempt_at, rowid LIMIT ?",
            (at, at, limit),
        )

    async def list_card_deliveries(self, card: str) -> list[Delivery]:
        return await self._deliveries(
            "SELECT doc FROM deliveries WHERE card = ? ORDER BY seq, rowid", (card,)
        )

    async def list_unreported_deliveries(self, limit: int = 100) -> list[Delivery]:
        return await self._deliveries(
            "SELECT doc FROM deliveries INDEXED BY deliveries_unreported"
            " WHERE reported = 0 AND state != ? ORDER BY created_at, rowid LIMIT ?",
            (_PENDING, limit),
        )

    async def prune_deliveries(self, before: datetime, limit: int = 1000) -> int:
        def job(db: Db) -> int:
            cur = db.execute(
                "DELETE FROM deliveries WHERE rowid IN (SELECT rowid FROM deliveries"
                " INDEXED BY deliveries_finished WHERE state IN ('delivered', 'superseded')"
                " AND reported = 1 AND created_at < ? ORDER BY created_at LIMIT ?)",
                (instant(before), limit),
            )
            return int(cur.rowcount)

        return await self._write(job)

    async def delivery_backlog(self) -> tuple[int, datetime | None]:
        def job(db: Db) -> tuple[int, datetime | None]:
            count = db.execute(
                "SELECT COUNT(*) FROM deliveries INDEXED BY deliveries_pending_age"
                " WHERE state = 'pending'"
            ).fetchone()[0]
            oldest = db.execute(
                "SELECT doc FROM deliveries INDEXED BY deliveries_pending_age"
                " WHERE state = 'pending' ORDER BY created_at LIMIT 1"
            ).fetchone()
            return int(count), load(Delivery, oldest[0]).created_at if oldest else None

        return await self._read(job)
