"""Storm mode through the real pipeline on a real SQLite store: a flood is one story."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.compose import Root
from bot.config import load_settings
from bot.models import EventKind, Incident, IncidentStatus
from bot.notify import RecordingNotifier
from bot.pipeline import IngestReceipt, Pipeline
from bot.pipeline.storm import is_storm_key

T0 = datetime(2026, 11, 24, 2, 0, 5, tzinfo=UTC)
THRESHOLD = 20
GROUPS = 200


def alert(n: int, *, status: str = "firing", started: datetime = T0, service: str = "") -> bytes:
    return json.dumps(
        {
            "title": f"Queue backlog growing on worker {n}",
            "service": service or f"svc-{n % 7}",
            "severity": "warning" if n % 50 else "critical",
            "status": status,
            "starts_at": started.isoformat(),
            "labels": {"alertname": f"QueueBacklog{n}", "instance": f"worker-{n}"},
        }
    ).encode()


def build(tmp_path: Path, notifier: RecordingNotifier | None = None) -> Pipeline:
    settings = load_settings(
        SQLITE_PATH=str(tmp_path / "bot.db"),
        RUNBOOK_INDEX_PATH=str(tmp_path / "rb.db"),
        RUNBOOK_EMBEDDINGS="none",
        STORM_THRESHOLD=THRESHOLD,
        STORM_WINDOW_SECONDS=60,
    )
    return Root(settings).runtime(notifier=notifier or RecordingNotifier()).pipeline


@pytest.fixture
async def pipeline(tmp_path: Path) -> AsyncIterator[Pipeline]:
    built = build(tmp_path)
    yield built
    await built.store.close()


async def flood(pipeline: Pipeline, numbers: range, now: datetime) -> list[IngestReceipt]:
    return await asyncio.gather(
        *(pipeline.receive("generic", alert(n), "application/json", now) for n in numbers)
    )


async def all_incidents(pipeline: Pipeline) -> list[Incident]:
    return await pipeline.store.list_incidents(limit=10_000)


def the_storm(incidents: list[Incident]) -> Incident:
    storms = [i for i in incidents if is_storm_key(i.group_key)]
    assert len(storms) == 1, storms
    return storms[0]


async def test_two_hundred_new_groups_open_threshold_plus_one_incidents(
    pipeline: Pipeline,
) -> None:
    receipts = await flood(pipeline, range(GROUPS), T0)

    incidents = await all_incidents(pipeline)
    assert len(incidents) == THRESHOLD + 1
    assert sum(len(r.new_incident_ids) for r in receipts) == THRESHOLD + 1
    storm = the_storm(incidents)
    assert storm.alert_count == GROUPS - THRESHOLD
    assert storm.title == f"Alert storm: {GROUPS - THRESHOLD} alerts across 180 groups"
    assert storm.service == "multiple"
    assert storm.severity.value == "SEV1"  # the worst seen ("critical" maps to SEV1)
    # Nothing lost: every alert stored, and the incidents' counts add up to what was sent.
    assert sum(r.stored for r in receipts) == GROUPS
    assert sum(i.alert_count for i in incidents) == GROUPS
    stored = [a for i in incidents for a in await pipeline.store.list_alerts(i.id, limit=1000)]
    assert len(stored) == GROUPS
    # The folded alerts keep their own labels and group keys.
    folded = await pipeline.store.list_alerts(storm.id, limit=1000)
    assert len({a.group_key for a in folded}) == GROUPS - THRESHOLD
    assert all(a.labels["alertname"].startswith("QueueBacklog") for a in folded)
    # One timeline entry per group joined, none per repeated alert.
    kinds = [e.kind for e in await pipeline.store.list_events(storm.id)]
    assert kinds.count(EventKind.STORM_GROUP_JOINED) == GROUPS - THRESHOLD
    assert kinds.count(EventKind.INCIDENT_OPENED) == 1


async def test_each_incident_is_triaged_once_and_gets_one_card(tmp_path: Path) -> None:
    notifier = RecordingNotifier()
    pipeline = build(tmp_path, notifier)
    try:
        await flood(pipeline, range(GROUPS), T0)
        triaged = await pipeline.triage_untriaged(T0 + timedelta(hours=1))
        assert triaged == THRESHOLD + 1
        cards = [c for c in notifier.calls if c[0] == "incident_triaged"]
        assert len(cards) == THRESHOLD + 1
        assert not [c for c in notifier.calls if c[0] == "alert_joined"]
    finally:
        await pipeline.store.close()


async def test_repeats_of_folded_groups_join_the_storm_without_counting(
    pipeline: Pipeline,
) -> None:
    await flood(pipeline, range(GROUPS), T0)
    storm = the_storm(await all_incidents(pipeline))
    # Every group fires again (new occurrences) two windows later, when the rate is calm.
    later = T0 + timedelta(seconds=130)
    receipts = await asyncio.gather(
        *(
            pipeline.receive("generic", alert(n, started=later), "application/json", later)
            for n in range(GROUPS)
        )
    )
    assert all(not r.new_incident_ids for r in receipts)
    incidents = await all_incidents(pipeline)
    assert len(incidents) == THRESHOLD + 1
    assert the_storm(incidents).alert_count == 2 * (GROUPS - THRESHOLD)
    kinds = [e.kind for e in await pipeline.store.list_events(storm.id)]
    assert kinds.count(EventKind.STORM_GROUP_JOINED) == GROUPS - THRESHOLD
    # ...and they did not count as new incidents: a new group now opens its own.
    (receipt,) = await flood(pipeline, range(GROUPS, GROUPS + 1), later)
    assert receipt.new_incident_ids
    assert not is_storm_key((await pipeline.store.get_incident(receipt.incident_ids[0])).group_key)


async def test_the_storm_ends_when_the_rate_falls(pipeline: Pipeline) -> None:
    await flood(pipeline, range(GROUPS), T0)
    # Within the window new groups still fold...
    (during,) = await flood(pipeline, range(GROUPS, GROUPS + 1), T0 + timedelta(seconds=30))
    assert not during.new_incident_ids
    # ...a window after the last of them, a new group opens its own incident again.
    after = T0 + timedelta(seconds=100)
    receipts = await flood(pipeline, range(GROUPS + 1, GROUPS + 4), after)
    assert all(len(r.new_incident_ids) == 1 for r in receipts)
    assert len(await all_incidents(pipeline)) == THRESHOLD + 1 + 3


async def test_groups_with_their_own_open_incident_are_unaffected(pipeline: Pipeline) -> None:
    first = await flood(pipeline, range(GROUPS), T0)
    own = first[0].incident_ids[0]
    again = T0 + timedelta(seconds=1)
    receipt = await pipeline.receive("generic", alert(0, started=again), "application/json", again)
    assert receipt.incident_ids == [own]
    assert (await pipeline.store.get_incident(own)).alert_count == 2


async def test_a_folded_groups_resolution_reaches_the_storm_incident(pipeline: Pipeline) -> None:
    await flood(pipeline, range(GROUPS), T0)
    storm = the_storm(await all_incidents(pipeline))
    done = T0 + timedelta(seconds=5)
    receipt = await pipeline.receive(
        "generic", alert(GROUPS - 1, status="resolved"), "application/json", done
    )
    assert receipt.unmatched_resolved == 0
    assert receipt.incident_ids == [storm.id]
    assert (await pipeline.store.get_incident(storm.id)).status is IncidentStatus.OPEN


async def test_two_replicas_fold_into_the_same_storm(tmp_path: Path) -> None:
    first, second = build(tmp_path), build(tmp_path)
    try:
        await asyncio.gather(
            flood(first, range(0, GROUPS, 2), T0), flood(second, range(1, GROUPS, 2), T0)
        )
        incidents = await all_incidents(first)
        assert len(incidents) == THRESHOLD + 1
        assert the_storm(incidents).alert_count == GROUPS - THRESHOLD
        assert sum(i.alert_count for i in incidents) == GROUPS
    finally:
        await first.store.close()
        await second.store.close()


async def test_storm_mode_off_opens_an_incident_per_group(tmp_path: Path) -> None:
    settings = load_settings(
        SQLITE_PATH=str(tmp_path / "bot.db"),
        RUNBOOK_INDEX_PATH=str(tmp_path / "rb.db"),
        RUNBOOK_EMBEDDINGS="none",
        STORM_THRESHOLD=0,
    )
    pipeline = Root(settings).runtime(notifier=RecordingNotifier()).pipeline
    try:
        await flood(pipeline, range(50), T0)
        assert len(await all_incidents(pipeline)) == 50
    finally:
        await pipeline.store.close()
