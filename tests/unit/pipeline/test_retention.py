"""The prune sweep on a real SQLite store: retention from settings, one replica at a time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.clock import utcnow
from bot.compose import Root
from bot.config import load_settings
from bot.deliveries import Delivery, DeliveryKind, DeliveryState
from bot.errors import NotFound
from bot.models import RawPayload
from bot.notify import RecordingNotifier
from bot.pipeline import Dispatcher, Pipeline, Pruned
from bot.pipeline.retention import PRUNE_LEASE
from bot.ports import Sent
from bot.store.sqlite import SQLiteStore

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


class Unused:
    async def send(self, delivery: Delivery, thread: str | None) -> Sent:
        raise AssertionError("the prune sweep sends nothing")


@pytest.fixture
async def pipeline(tmp_path: Path) -> AsyncIterator[Pipeline]:
    settings = load_settings(
        SQLITE_PATH=str(tmp_path / "bot.db"),
        RUNBOOK_INDEX_PATH=str(tmp_path / "rb.db"),
        RUNBOOK_EMBEDDINGS="none",
        RAW_PAYLOAD_RETENTION_DAYS="10",
        OUTBOX_RETENTION_DAYS="2",
        REPLICA_ID="replica-a",
    )
    root = Root(settings)
    store = root.store()
    dispatcher = Dispatcher(store, Unused(), utcnow)
    runtime = root.runtime(store=store, notifier=RecordingNotifier(), dispatcher=dispatcher)
    yield runtime.pipeline
    await runtime.store.close()


def raw(days_ago: float) -> RawPayload:
    return RawPayload(
        source="generic",
        content_type="application/json",
        body="{}",
        received_at=NOW - timedelta(days=days_ago),
    )


def delivered(days_ago: float) -> Delivery:
    at = NOW - timedelta(days=days_ago)
    return Delivery(
        kind=DeliveryKind.MESSAGE,
        channel="C0INCIDENTS",
        state=DeliveryState.DELIVERED,
        ts="1.000001",
        created_at=at,
        next_attempt_at=at,
    )


async def exists(pipeline: Pipeline, raw_id: str) -> bool:
    try:
        await pipeline.store.get_raw(raw_id)
    except NotFound:
        return False
    return True


async def test_prune_deletes_what_is_past_each_retention_setting(pipeline: Pipeline) -> None:
    store = pipeline.store
    assert isinstance(store, SQLiteStore)
    old_raw, new_raw = raw(11), raw(9)
    old_delivery, new_delivery = delivered(3), delivered(1)
    for item in (old_raw, new_raw):
        await store.add_raw(item)
    for d in (old_delivery, new_delivery):
        await store.add_delivery(d)

    assert await pipeline.prune(NOW) == Pruned(ran=True, raw_payloads=1, deliveries=1)

    assert not await exists(pipeline, old_raw.id)
    assert await exists(pipeline, new_raw.id)
    with pytest.raises(NotFound):
        await store.get_delivery(old_delivery.id)
    assert (await store.get_delivery(new_delivery.id)).id == new_delivery.id


async def test_prune_is_bounded_per_run(pipeline: Pipeline) -> None:
    for n in range(5):
        await pipeline.store.add_raw(raw(20 + n))

    assert (await pipeline.prune(NOW, batch=2)).raw_payloads == 2
    assert (await pipeline.prune(NOW, batch=2)).raw_payloads == 2
    assert (await pipeline.prune(NOW, batch=2)).raw_payloads == 1


async def test_prune_waits_while_another_replica_prunes(pipeline: Pipeline) -> None:
    coordination = pipeline.coordination
    old = raw(11)
    await pipeline.store.add_raw(old)
    assert await coordination.acquire_lease(PRUNE_LEASE, "replica-b/boot/1", NOW, 600)

    assert await pipeline.prune(NOW) == Pruned(ran=False)
    assert await exists(pipeline, old.id)

    await coordination.release_lease(PRUNE_LEASE, "replica-b/boot/1", NOW)
    assert (await pipeline.prune(NOW)).raw_payloads == 1
