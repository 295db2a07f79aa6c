"""A replica restarting with the same REPLICA_ID takes back what its dead process held."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.clock import utcnow
from bot.compose import Root
from bot.config import load_settings
from bot.notify import RecordingNotifier
from bot.pipeline import Pipeline

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)

Boot = Callable[..., Pipeline]


def alert(title: str) -> bytes:
    return json.dumps(
        {"title": title, "service": "checkout", "severity": "critical", "labels": {"a": title}}
    ).encode()


@pytest.fixture
async def boot(tmp_path: Path) -> AsyncIterator[Boot]:
    """Pipelines over one SQLite file, each as one process run (boot) of a replica."""
    booted: list[Pipeline] = []

    def start(replica: str) -> Pipeline:
        settings = load_settings(
            SQLITE_PATH=str(tmp_path / "bot.db"),
            RUNBOOK_INDEX_PATH=str(tmp_path / f"rb-{len(booted)}.db"),
            RUNBOOK_EMBEDDINGS="none",
            REPLICA_ID=replica,
        )
        pipeline = Root(settings).runtime(notifier=RecordingNotifier()).pipeline
        booted.append(pipeline)
        return pipeline

    yield start
    for pipeline in booted:
        await pipeline.stop()
        await pipeline.store.close()


async def triaged(pipeline: Pipeline, incident_id: str) -> bool:
    for _ in range(200):
        if await pipeline.store.list_triages(incident_id):
            return True
        await asyncio.sleep(0.05)
    return False


async def test_a_restart_releases_the_dead_boots_lease_and_triages_at_once(boot: Boot) -> None:
    dead = boot("replica-a")
    receipt = await dead.ingest("generic", alert("checkout 5xx"), "application/json", NOW)
    (incident_id,) = receipt.new_incident_ids
    # The first boot took the triage lease and was killed before it let go.
    assert await dead.coordination.acquire_lease(
        f"triage:{incident_id}", dead.attempt_owner(), utcnow(), 300
    )

    restarted = boot("replica-a")
    restarted.start()
    assert await restarted.triage_incident(incident_id, utcnow()) is None  # still held

    released, queued = await restarted.recover()

    assert (released, queued) == (1, 1)
    assert await triaged(restarted, incident_id)
    assert len(await restarted.store.list_triages(incident_id)) == 1


async def test_a_restart_leaves_other_replicas_and_its_own_boot_alone(boot: Boot) -> None:
    other = boot("replica-b")
    receipt = await other.ingest("generic", alert("cart latency"), "application/json", NOW)
    (incident_id,) = receipt.new_incident_ids
    lease = f"triage:{incident_id}"
    assert await other.coordination.acquire_lease(lease, other.attempt_owner(), utcnow(), 300)

    restarted = boot("replica-a")
    restarted.start()
    mine = restarted.attempt_owner()
    assert await restarted.coordination.acquire_lease("triage:mine", mine, utcnow(), 300)
    released, queued = await restarted.recover()

    assert released == 0
    assert queued == 1  # queued, but replica-b's triage still holds it
    await restarted.triage_queue.stop()
    assert await restarted.store.list_triages(incident_id) == []
    assert await restarted.coordination.lease_holder(lease, utcnow()) is not None
    assert await restarted.coordination.lease_holder("triage:mine", utcnow()) == mine
