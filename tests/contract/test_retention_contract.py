"""Retention on every backend: raw payloads and finished deliveries go, oldest first, bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast

import pytest

from bot.deliveries import Delivery, DeliveryKind, DeliveryState
from bot.errors import NotFound
from bot.models import RawPayload
from bot.ports import Backend, Store

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
CUTOFF = T0 - timedelta(days=30)


def raw(at: datetime) -> RawPayload:
    return RawPayload(source="generic", content_type="application/json", body="{}", received_at=at)


def delivery(at: datetime, state: DeliveryState, *, reported: bool = True) -> Delivery:
    return Delivery(
        kind=DeliveryKind.MESSAGE,
        channel="C0INCIDENTS",
        payload={"text": "note"},
        state=state,
        reported=reported,
        ts="1.000001" if state is DeliveryState.DELIVERED else None,
        created_at=at,
        next_attempt_at=at,
    )


async def surviving_raws(store: Store, raws: list[RawPayload]) -> list[str]:
    kept = []
    for item in raws:
        try:
            kept.append((await store.get_raw(item.id)).id)
        except NotFound:
            pass
    return kept


async def test_raw_payloads_past_retention_go_oldest_first_a_batch_at_a_time(
    store: Store,
) -> None:
    old = [raw(CUTOFF - timedelta(days=5 - n)) for n in range(5)]
    recent = [raw(CUTOFF + timedelta(seconds=1)), raw(T0)]
    for item in [*old, *recent]:
        await store.add_raw(item)

    assert await store.prune_raw(CUTOFF, 2) == 2
    assert await surviving_raws(store, old) == [r.id for r in old[2:]]
    assert await store.prune_raw(CUTOFF, 100) == 3
    assert await store.prune_raw(CUTOFF, 100) == 0
    assert await surviving_raws(store, [*old, *recent]) == [r.id for r in recent]


async def test_only_finished_recorded_deliveries_past_retention_go(store: Store) -> None:
    outbox = cast(Backend, store)
    cutoff = T0 - timedelta(days=7)
    old = cutoff - timedelta(hours=1)
    gone = [
        delivery(old - timedelta(minutes=2), DeliveryState.DELIVERED),
        delivery(old - timedelta(minutes=1), DeliveryState.SUPERSEDED),
        delivery(old, DeliveryState.DELIVERED),
    ]
    kept = [
        delivery(old, DeliveryState.FAILED),
        delivery(old, DeliveryState.PENDING),
        delivery(old, DeliveryState.DELIVERED, reported=False),
        delivery(cutoff + timedelta(minutes=1), DeliveryState.DELIVERED),
    ]
    for item in [*gone, *kept]:
        await outbox.add_delivery(item)

    assert await outbox.prune_deliveries(cutoff, 2) == 2
    assert await outbox.prune_deliveries(cutoff, 100) == 1
    assert await outbox.prune_deliveries(cutoff, 100) == 0
    for item in gone:
        with pytest.raises(NotFound):
            await outbox.get_delivery(item.id)
    for item in kept:
        assert (await outbox.get_delivery(item.id)).state is item.state
