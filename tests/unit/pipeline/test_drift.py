"""The drift check over real SQLite: per-category accuracy over the last N corrected or
confirmed incidents, on /metrics' gauges, and one post per category per day across replicas."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.compose import Root
from bot.config import load_settings
from bot.metrics import REGISTRY
from bot.models import Category, Feedback, Incident, Triage
from bot.notify import RecordingNotifier
from bot.pipeline import Pipeline

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
CHANNEL = "C0DRIFT001"
S, L, R = Category.SECURITY, Category.LATENCY, Category.RESOURCE_EXHAUSTION


@dataclass
class Replica:
    pipeline: Pipeline
    notifier: RecordingNotifier

    def posts(self) -> list[str]:
        return [c[2] for c in self.notifier.calls if c[0] == "accuracy_drifted"]


async def _replica(tmp_path: Path, name: str, **values: str) -> Replica:
    settings = load_settings(
        SQLITE_PATH=str(tmp_path / "bot.db"),
        RUNBOOK_INDEX_PATH=str(tmp_path / f"rb-{name}.db"),
        RUNBOOK_EMBEDDINGS="none",
        REPLICA_ID=name,
        DRIFT_MIN_CORRECTED="5",
        DRIFT_ACCURACY_THRESHOLD="0.8",
        **values,
    )
    notifier = RecordingNotifier()
    return Replica(Root(settings).runtime(notifier=notifier).pipeline, notifier)


@pytest.fixture
async def two(tmp_path: Path) -> AsyncIterator[list[Replica]]:
    replicas = [await _replica(tmp_path, n, DRIFT_CHANNEL=CHANNEL) for n in ("a", "b")]
    try:
        yield replicas
    finally:
        for replica in replicas:
            await replica.pipeline.store.close()


async def _judged(
    pipeline: Pipeline, triaged: Category, truth: Category, at: datetime, *, confirm: bool = False
) -> Incident:
    """An incident triaged as ``triaged`` whose truth became ``truth`` at ``at``: corrected by
    recategorize, or (``confirm``, same category) confirmed by Helpful feedback."""
    incident = Incident(
        title="t", service="checkout", category=triaged, created_at=at, updated_at=at
    )
    await pipeline.store.create_incident(incident)
    triage = Triage(incident_id=incident.id, category=triaged, confidence=0.7, created_at=at)
    await pipeline.store.add_triage(triage)
    if confirm:
        assert triaged is truth
        await pipeline.store.add_feedback(
            Feedback(
                incident_id=incident.id, triage_id=triage.id, user_id="U0", helpful=True, at=at
            )
        )
    else:
        await pipeline.recategorize(incident.id, truth, "U0FIXER", at)
    return incident


async def _record(pipeline: Pipeline, category: Category, right: int, wrong: int) -> None:
    """``right`` incidents triage got right (confirmed or corrected to the same category) and
    ``wrong`` ones corrected to ``category`` from something else, older first."""
    minute = 0
    for n in range(right):
        minute += 1
        at = T0 + timedelta(minutes=minute)
        await _judged(pipeline, category, category, at, confirm=bool(n % 2))
    for _ in range(wrong):
        minute += 1
        other = L if category is not L else R
        await _judged(pipeline, other, category, T0 + timedelta(minutes=minute))


def _gauge(name: str, category: Category) -> float | None:
    return REGISTRY.get_sample_value(f"incident_bot_triage_category_{name}", {"category": category})


async def _sweep(replicas: list[Replica], now: datetime) -> int:
    rows = await asyncio.gather(*(r.pipeline.check_drift(now) for r in replicas))
    return sum(len(r) for r in rows)


def _posts(replicas: list[Replica]) -> list[str]:
    return [post for r in replicas for post in r.posts()]


async def test_two_replicas_post_a_drift_once_a_day(two: list[Replica], tmp_path: Path) -> None:
    pipeline = two[0].pipeline
    await _record(pipeline, S, right=3, wrong=2)  # 3/5 = 0.6 < 0.8
    now = T0 + timedelta(hours=1)
    events_before = {
        i.id: len(await pipeline.timeline_of(i.id)) for i in await pipeline.store.list_incidents()
    }

    assert await _sweep(two, now) == 1
    assert _posts(two) == ["security:0.60/5"]
    assert _gauge("accuracy", S) == pytest.approx(0.6)
    assert _gauge("judged", S) == 5
    # Not an incident event: no timeline grew.
    assert {
        i.id: len(await pipeline.timeline_of(i.id)) for i in await pipeline.store.list_incidents()
    } == events_before

    # Later the same day, on either replica, and after the one that posted restarts (letting
    # go of its earlier boot's leases): nothing more.
    assert await _sweep(two, now + timedelta(hours=3)) == 0
    poster, other = (two[0], two[1]) if two[0].posts() else (two[1], two[0])
    restarted = await _replica(tmp_path, poster.pipeline.options.replica_id, DRIFT_CHANNEL=CHANNEL)
    try:
        restarted.pipeline.clock = lambda: now + timedelta(hours=4)
        await restarted.pipeline.recover()
        assert await _sweep([restarted, other], now + timedelta(hours=4)) == 0
        # A day later it is posted again (still drifting), once.
        assert await _sweep([restarted, other], now + timedelta(hours=24)) == 1
    finally:
        await restarted.pipeline.store.close()
    assert len(_posts(two) + restarted.posts()) == 2


async def test_at_the_threshold_is_not_drift(two: list[Replica]) -> None:
    pipeline = two[0].pipeline
    await _record(pipeline, S, right=4, wrong=1)  # 4/5 = 0.8, the threshold itself
    assert await _sweep(two, T0 + timedelta(hours=1)) == 0
    assert _gauge("accuracy", S) == pytest.approx(0.8)
    # One more miss: the last five are now 3 right out of 5.
    await _judged(pipeline, L, S, T0 + timedelta(minutes=30))
    assert await _sweep(two, T0 + timedelta(hours=2)) == 1
    assert _posts(two) == ["security:0.60/5"]


async def test_fewer_than_the_minimum_are_shown_but_not_posted(two: list[Replica]) -> None:
    pipeline = two[0].pipeline
    await _record(pipeline, R, right=0, wrong=4)  # 0/4: bad, but only four judged
    assert await _sweep(two, T0 + timedelta(hours=1)) == 0
    assert _gauge("accuracy", R) == 0.0
    assert _gauge("judged", R) == 4
    assert _gauge("accuracy", S) is None  # nothing judged of security in this store
    assert _posts(two) == []


async def test_only_the_last_n_count(two: list[Replica]) -> None:
    pipeline = two[0].pipeline
    await _record(pipeline, S, right=0, wrong=3)  # old misses...
    for minute in range(100, 105):  # ...then five right ones, more recently judged
        await _judged(pipeline, S, S, T0 + timedelta(minutes=minute))
    assert await _sweep(two, T0 + timedelta(hours=3)) == 0
    assert _gauge("accuracy", S) == 1.0
    assert _gauge("judged", S) == 5


async def test_without_a_channel_nothing_is_posted(tmp_path: Path) -> None:
    replica = await _replica(tmp_path, "solo")
    try:
        await _record(replica.pipeline, S, right=1, wrong=4)
        assert await _sweep([replica], T0 + timedelta(hours=1)) == 0
        assert replica.posts() == []
        assert _gauge("accuracy", S) == pytest.approx(0.2)
    finally:
        await replica.pipeline.store.close()
