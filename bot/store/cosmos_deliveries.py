"""The durable outbox on Cosmos DB: one item per delivery (partition ``/id``), etag CAS.

The fields the sweeps filter or sort on are copied to the top level; ``claimedUntil`` is ""
when unclaimed, so "unclaimed or lapsed" is one comparison with the current instant.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.deliveries import Delivery, DeliveryState
from bot.errors import Conflict
from bot.store import cosmos_wire as wire
from bot.store.cosmos_items import DELIVERIES, CosmosItems, Item

_PENDING = DeliveryState.PENDING.value
_DONE = (DeliveryState.DELIVERED.value, DeliveryState.SUPERSEDED.value)


def _item(delivery: Delivery, ttl_seconds: int | None = None) -> Item:
    item = _fields(delivery)
    if ttl_seconds is not None and delivery.reported and delivery.state.value in _DONE:
        item["ttl"] = ttl_seconds
    return item


def _fields(delivery: Delivery) -> Item:
    return {
        "id": delivery.id,
        "state": delivery.state.value,
        "card": delivery.card,
        "seq": delivery.seq,
        "nextAttemptAt": wire.instant(delivery.next_attempt_at),
        "claimedUntil": wire.instant(delivery.claimed_until),
        "reported": delivery.reported,
        "createdAt": wire.instant(delivery.created_at),
        "doc": delivery.model_dump(mode="json"),
    }


def _load(item: Item) -> Delivery:
    return Delivery.model_validate(item["doc"])


class CosmosDeliveries:
    """The ``Deliveries`` port; mixed into ``CosmosStore``, which owns ``items``."""

    items: CosmosItems
    outbox_ttl_seconds: int | None = None

    async def _query(self, sql: str, parameters: dict[str, Any]) -> list[Delivery]:
        return [_load(item) for item in await self.items.query(DELIVERIES, sql, parameters)]

    async def add_delivery(self, delivery: Delivery) -> None:
        body = _item(delivery, self.outbox_ttl_seconds)
        await self.items.create(DELIVERIES, body, f"delivery {delivery.id}")

    async def get_delivery(self, delivery_id: str) -> Delivery:
        what = f"delivery {delivery_id!r}"
        return _load(await self.items.read(DELIVERIES, delivery_id, delivery_id, what))

    async def update_delivery(self, delivery: Delivery) -> Delivery:
        what = f"delivery {delivery.id!r}"
        current = await self.items.read(DELIVERIES, delivery.id, delivery.id, what)
        if _load(current).version != delivery.version:
            raise Conflict(f"delivery {delivery.id} changed since version {delivery.version}")
        stored = delivery.model_copy(update={"version": delivery.version + 1})
        body = _item(stored, self.outbox_ttl_seconds)
        await self.items.replace(DELIVERIES, body, current["_etag"], what)
        return stored

    async def list_due_deliveries(self, now: datetime, limit: int = 100) -> list[Delivery]:
        return await self._query(
            "SELECT TOP @n * FROM c WHERE c.state = @pending AND c.nextAttemptAt <= @now"
            " AND c.claimedUntil <= @now ORDER BY c.nextAttemptAt",
            {"@n": limit, "@pending": _PENDING, "@now": wire.instant(now)},
        )

    async def list_card_deliveries(self, card: str) -> list[Delivery]:
        return await self._query(
            "SELECT * FROM c WHERE c.card = @card ORDER BY c.seq", {"@card": card}
        )

    async def list_unreported_deliveries(self, limit: int = 100) -> list[Delivery]:
        return await self._query(
            "SELECT TOP @n * FROM c WHERE c.reported = false AND c.state != @pending"
            " ORDER BY c.createdAt",
            {"@n": limit, "@pending": _PENDING},
        )

    async def prune_deliveries(self, before: datetime, limit: int = 1000) -> int:
        found = await self.items.query(
            DELIVERIES,
            "SELECT TOP @n c.id, c._etag FROM c WHERE (c.state = @delivered"
            " OR c.state = @superseded) AND c.reported = true AND c.createdAt < @before"
            " ORDER BY c.createdAt",
            {
                "@n": limit,
                "@delivered": _DONE[0],
                "@superseded": _DONE[1],
                "@before": wire.instant(before),
            },
        )
        return await self.items.delete_found(DELIVERIES, found, "delivery")

    async def delivery_backlog(self) -> tuple[int, datetime | None]:
        counted = await self.items.query(
            DELIVERIES,
            "SELECT VALUE COUNT(1) FROM c WHERE c.state = @pending",
            {"@pending": _PENDING},
        )
        oldest = await self._query(
            "SELECT TOP 1 * FROM c WHERE c.state = @pending ORDER BY c.createdAt",
            {"@pending": _PENDING},
        )
        count = int(counted[0]) if counted else 0  # type: ignore[call-overload]
        return count, oldest[0].created_at if oldest else None
