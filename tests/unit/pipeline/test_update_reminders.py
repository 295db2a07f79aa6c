"""Update reminders: an open SEV0/SEV1 incident with no status update is asked for one every
UPDATE_REMINDER_MINUTES, once across replicas (two pipelines on one SQLite file)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.compose import Root
from bot.config import load_settings
from bot.models import EventKind, Incident, Severity
from bot.notify import RecordingNotifier
from bot.pipeline import Pipeline

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


@dataclass
class Replica:
    pipeline: Pipeline
    notifier: RecordingNotifier

    def asks(self) -> list[tuple[str, str, str]]:
        return [c for c in self.notifier.calls if c[0] == "update_requested"]


async def _replicas(tmp_path: Path, count: int, **values: str) -> list[Replica]:
    replicas = []
    for n in range(count):
        settings = load_settings(
            SQLITE_PATH=str(tmp_path / "bot.db"),
            RUNBOOK_INDEX_PATH=str(tmp_path / f"rb{n}.db"),
            RUNBOOK_EMBEDDINGS="none",
            REPLICA_ID=f"replica-{n}",
            **values,
        )
        notifier = RecordingNotifier()
        replicas.append(Replica(Root(settings).runtime(notifier=notifier).pipeline, notifier))
    return replicas


@pytest.fixture
async def two(tmp_path: Path) -> AsyncIterator[list[Replica]]:
    replicas = await _replicas(tmp_path, 2)
    try:
        yield replicas
    finally:
        for replica in replicas:
            await replica.pipeline.store.close()


async def _sweep(replicas: list[Replica], now: datetime) -> int:
    counts = await asyncio.gather(*(r.pipeline.request_updates(now) for r in replicas))
    return sum(counts)


def _asks(replicas: list[Replica]) -> list[tuple[str, str, str]]:
    return [call for r in replicas for call in r.asks()]


async def _requested_events(pipeline: Pipeline, incident_id: str) -> list[str]:
    return [
        e.message
        for e in await pipeline.timeline_of(incident_id)
        if e.kind == EventKind.INCIDENT_UPDATE_REQUESTED
    ]


async def test_two_replicas_ask_the_commander_once_per_period(two: list[Replica]) -> None:
    pipeline = two[0].pipeline
    declared = await pipeline.declare_incident(
        "checkout 5xx", "checkout", Severity.SEV1, "U0ALICE", T0
    )
    incident = declared.incident

    assert await _sweep(two, T0 + 29 * MIN + timedelta(seconds=59)) == 0
    first = T0 + 30 * MIN
    assert await _sweep(two, first) == 1
    assert _asks(two) == [("update_requested", incident.id, "U0ALICE")]
    stored = await two[1].pipeline.store.get_incident(incident.id)
    assert stored.update_requested_at == first
    assert await _requested_events(pipeline, incident.id) == [
        "no status update for 30 min; asked U0ALICE"
    ]

    # Asked 15 minutes ago: not again yet; 30 minutes after the ask: again, once.
    assert await _sweep(two, first + 15 * MIN) == 0
    assert await _sweep(two, first + 30 * MIN) == 1
    assert len(_asks(two)) == 2
    assert len(await _requested_events(pipeline, incident.id)) == 2


async def test_a_status_update_restarts_the_clock(two: list[Replica]) -> None:
    pipeline = two[0].pipeline
    declared = await pipeline.declare_incident("db down", "checkout", Severity.SEV0, "U0BOB", T0)
    incident_id = declared.incident.id
    await pipeline.post_update(incident_id, "U0BOB", "failing over", T0 + 20 * MIN)

    assert await _sweep(two, T0 + 30 * MIN) == 0
    assert await _sweep(two, T0 + 49 * MIN) == 0
    assert await _sweep(two, T0 + 50 * MIN) == 1
    assert [c[1] for c in _asks(two)] == [incident_id]


async def test_no_commander_asks_the_escalation_list(two: list[Replica]) -> None:
    pipeline = two[0].pipeline
    incident = Incident(
        title="checkout latency",
        service="checkout",
        severity=Severity.SEV0,
        created_at=T0,
        updated_at=T0,
    )
    await pipeline.store.create_incident(incident)
    unknown = Incident(
        title="something else",
        service="no-such-service",
        severity=Severity.SEV1,
        created_at=T0,
        updated_at=T0,
    )
    await pipeline.store.create_incident(unknown)

    assert await _sweep(two, T0 + 30 * MIN) == 2
    people = {call[1]: call[2] for call in _asks(two)}
    # services.yaml: checkout's oncall.escalation; a service policy does not know: the fallback
    # approvers (rules.yaml). Never the whole channel.
    assert people == {incident.id: "U0CHKLEAD1,S0CHECKOUT", unknown.id: "S0INCIDENTCMD"}
    assert await _requested_events(pipeline, incident.id) == [
        "no status update for 30 min; asked U0CHKLEAD1, S0CHECKOUT"
    ]


async def test_an_acknowledgement_counts_until_the_first_update(two: list[Replica]) -> None:
    pipeline = two[0].pipeline
    incident = Incident(
        title="auth errors",
        service="auth-service",
        severity=Severity.SEV1,
        created_at=T0,
        updated_at=T0,
    )
    await pipeline.store.create_incident(incident)
    await pipeline.acknowledge(incident.id, "U0CAROL", T0 + 10 * MIN)

    assert await _sweep(two, T0 + 30 * MIN) == 0
    assert await _sweep(two, T0 + 40 * MIN) == 1
    assert _asks(two) == [("update_requested", incident.id, "U0CAROL")]


async def test_sev2_and_resolved_incidents_are_never_asked(two: list[Replica]) -> None:
    pipeline = two[0].pipeline
    minor = await pipeline.declare_incident("slow", "checkout", Severity.SEV2, "U0ALICE", T0)
    severe = await pipeline.declare_incident("down", "checkout", Severity.SEV0, "U0ALICE", T0)
    await pipeline.resolve_incident(severe.incident.id, "U0ALICE", "fixed", T0 + 5 * MIN)

    for hours in (1, 2, 5):
        assert await _sweep(two, T0 + timedelta(hours=hours)) == 0
    assert _asks(two) == []
    for incident_id in (minor.incident.id, severe.incident.id):
        assert await _requested_events(pipeline, incident_id) == []


async def test_zero_minutes_turns_the_reminder_off(tmp_path: Path) -> None:
    replicas = await _replicas(tmp_path, 1, UPDATE_REMINDER_MINUTES="0")
    try:
        pipeline = replicas[0].pipeline
        await pipeline.declare_incident("down", "checkout", Severity.SEV0, "U0ALICE", T0)
        assert await _sweep(replicas, T0 + timedelta(days=1)) == 0
        assert _asks(replicas) == []
    finally:
        await replicas[0].pipeline.store.close()


@pytest.mark.parametrize(("minutes", "registered"), [("30", True), ("0", False)])
async def test_the_scheduler_runs_the_sweep_unless_off(
    tmp_path: Path, minutes: str, registered: bool
) -> None:
    root = Root(
        load_settings(
            SQLITE_PATH=str(tmp_path / "bot.db"),
            RUNBOOK_INDEX_PATH=str(tmp_path / "rb.db"),
            RUNBOOK_EMBEDDINGS="none",
            SCHEDULER_INTERVAL_SECONDS="7",
            UPDATE_REMINDER_MINUTES=minutes,
        )
    )
    runtime = root.runtime(notifier=RecordingNotifier())
    try:
        jobs = root.sweeps(runtime)
        assert ("update_reminder" in jobs) is registered
        if registered:
            assert jobs["update_reminder"] == (7.0, runtime.pipeline.request_updates)
        assert jobs["drift"] == (3600.0, runtime.pipeline.check_drift)
    finally:
        await runtime.store.close()


async def test_the_setting_sets_the_period(tmp_path: Path) -> None:
    replicas = await _replicas(tmp_path, 2, UPDATE_REMINDER_MINUTES="5")
    try:
        pipeline = replicas[0].pipeline
        declared = await pipeline.declare_incident("down", "checkout", Severity.SEV1, "U0ALICE", T0)
        assert await _sweep(replicas, T0 + 4 * MIN) == 0
        assert await _sweep(replicas, T0 + 5 * MIN) == 1
        assert [c[1] for c in _asks(replicas)] == [declared.incident.id]
    finally:
        for replica in replicas:
            await replica.pipeline.store.close()
