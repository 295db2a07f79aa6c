"""Replicas sweeping lapsed executions at once, and a slow model racing the triage sweep.

Both run every replica as its own pipeline over its own connection to one SQLite file (and, for
the sweep, one Cosmos database on the protocol server), the way separate processes share them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.compose import Root
from bot.config import load_settings
from bot.models import (
    ActionRequest,
    ActionState,
    Category,
    Decision,
    DecisionOutcome,
    EventKind,
    Incident,
    Proposal,
    Severity,
)
from bot.notify import RecordingNotifier
from bot.pipeline import Pipeline
from bot.ports import Backend
from tests.contract.conftest import cosmos_server  # noqa: F401 (the protocol server fixture)
from tests.integration.llm_server import LLMServer, Reply
from tests.integration.slack.conftest import scripted_triage

pytestmark = pytest.mark.integration

ROUNDS = 20


def replica(tmp_path: Path, name: str, store: Backend | None = None, **env: str) -> Pipeline:
    settings = load_settings(
        SQLITE_PATH=str(tmp_path / "shared.db"),
        RUNBOOK_INDEX_PATH=str(tmp_path / f"rb-{name}.db"),
        RUNBOOK_EMBEDDINGS="none",
        REPLICA_ID=name,
        **env,
    )
    return Root(settings).runtime(store=store, notifier=RecordingNotifier()).pipeline


def crashed_execution(incident_id: str, at: datetime) -> ActionRequest:
    """A request a dead replica claimed: still executing, its claim lapsed at ``at``."""
    return ActionRequest(
        incident_id=incident_id,
        proposal=Proposal(
            action="restart_deployment", service="checkout", params={"deployment": "checkout-api"}
        ),
        decision=Decision(
            outcome=DecisionOutcome.ALLOW, action="restart_deployment", service="checkout"
        ),
        state=ActionState.EXECUTING,
        requested_by="incident-bot",
        created_at=at - timedelta(minutes=2),
        updated_at=at - timedelta(minutes=2),
        expires_at=at + timedelta(minutes=30),
        claimed_by="replica-dead",
        claim_expires_at=at,
    )


async def sweep_race(replicas: list[Pipeline]) -> tuple[int, int]:
    """ROUNDS crashed executions, every replica sweeping each at once: (moves, timeline events)."""
    store = replicas[0].store
    t0 = datetime.now(UTC)
    moves = events = 0
    for n in range(ROUNDS):
        incident = Incident(title=f"lapse {n}", service="checkout", created_at=t0, updated_at=t0)
        await store.create_incident(incident)
        request = crashed_execution(incident.id, t0)
        await store.add_action_request(request)
        now = t0 + timedelta(seconds=1)
        settled = await asyncio.gather(*(r.settle_lapsed_executions(now) for r in replicas))
        moves += sum(1 for batch in settled for r in batch if r.id == request.id)
        stored = await store.get_action_request(request.id)
        assert stored.state is ActionState.OUTCOME_UNKNOWN
        timeline = await store.list_events(incident.id)
        unknown = [e for e in timeline if e.kind is EventKind.ACTION_OUTCOME_UNKNOWN]
        assert all(e.data["claimed_by"] == "replica-dead" for e in unknown)
        events += len(unknown)
    return moves, events


async def test_two_replicas_on_one_sqlite_file_settle_each_lapse_once(tmp_path: Path) -> None:
    replicas = [replica(tmp_path, "replica-a"), replica(tmp_path, "replica-b")]
    try:
        assert await sweep_race(replicas) == (ROUNDS, ROUNDS)
        told = [
            call
            for r in replicas
            for call in r.notifier.calls  # type: ignore[attr-defined]
            if call[0] == "request_updated"
        ]
        assert len(told) == ROUNDS  # the commander is pinged once per lapse, by the winner
    finally:
        for r in replicas:
            await r.store.close()


@pytest.fixture
async def cosmos_replicas(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[list[Pipeline]]:
    from bot.store.cosmos import CosmosStore
    from bot.store.cosmos_items import CosmosItems

    server = request.getfixturevalue("cosmos_server")
    database = server.new_database()
    stores = [
        CosmosStore(
            CosmosItems(
                server.endpoint,
                server.key,
                database,
                verify_tls=False,
                endpoint_discovery=False,  # one region; see the emulator notes
            )
        )
        for _ in range(2)
    ]
    replicas = [
        replica(tmp_path, name, store)
        for name, store in zip(("replica-a", "replica-b"), stores, strict=True)
    ]
    yield replicas
    for store in stores:
        await store.close()


async def test_two_replicas_on_one_cosmos_database_settle_each_lapse_once(
    cosmos_replicas: list[Pipeline],
) -> None:
    assert await sweep_race(cosmos_replicas) == (ROUNDS, ROUNDS)


# a slow but valid model, with the triage sweep running ---------------------------------------
INCIDENTS = 8
MODEL_DELAY = 1.2
LEASE = 0.4  # far shorter than the model takes: the sweep's replica takes over mid-triage


@pytest.fixture
async def slow_model() -> AsyncIterator[LLMServer]:
    llm = LLMServer()
    await llm.start()
    reply = json.dumps(
        scripted_triage("checkout", [("restart_deployment", {"deployment": "checkout-api"})])
    )
    llm.script(*(Reply(content=reply, delay=MODEL_DELAY) for _ in range(INCIDENTS * 4)))
    yield llm
    await llm.stop()


async def test_slow_model_and_triage_sweep_never_triage_an_incident_twice(
    tmp_path: Path, slow_model: LLMServer
) -> None:
    env = {
        "LLM_PROVIDER": "openai",
        "OPENAI_BASE_URL": f"{slow_model.url}/v1",
        "OPENAI_API_KEY": "sk-test",
        "LLM_MAX_RETRIES": "0",
        "LLM_TIMEOUT_SECONDS": "20",
    }
    replicas = [
        dataclasses.replace(
            pipeline, options=dataclasses.replace(pipeline.options, triage_lease_seconds=LEASE)
        )
        for pipeline in (
            replica(tmp_path, "replica-a", **env),
            replica(tmp_path, "replica-b", **env),
        )
    ]
    store = replicas[0].store
    created = datetime.now(UTC) - timedelta(minutes=5)  # old enough for the sweep to take
    incidents = []
    for n in range(INCIDENTS):
        incident = Incident(
            title=f"checkout 5xx {n}",
            service="checkout",
            severity=Severity.SEV2,
            category=Category.UNKNOWN,
            alert_count=1,
            created_at=created,
            updated_at=created,
        )
        await store.create_incident(incident)
        incidents.append(incident)
    try:
        # Replica A triages each incident as its queue would; replica B's sweep keeps running and
        # takes every incident whose lease lapsed while A still waits for the model.
        queued = asyncio.gather(
            *(replicas[0].triage_incident(i.id, datetime.now(UTC)) for i in incidents)
        )

        async def sweeping() -> None:
            for _ in range(int(MODEL_DELAY * 3 / 0.2)):
                await replicas[1].triage_untriaged(datetime.now(UTC))
                await asyncio.sleep(0.2)

        await asyncio.gather(queued, sweeping())
        duplicates = 0
        for incident in incidents:
            triages = await store.list_triages(incident.id)
            requests = await store.list_action_requests(incident.id)
            assert len(triages) == 1, incident.id
            assert not triages[0].retriage
            assert len(requests) == len(triages[0].proposals) == 1
            duplicates += len(triages) - 1
        cards = [
            call
            for r in replicas
            for call in r.notifier.calls  # type: ignore[attr-defined]
            if call[0] == "incident_triaged"
        ]
        assert len(cards) == INCIDENTS and duplicates == 0
        # The race did happen: the model was asked more often than there are incidents.
        assert len(slow_model.requests) > INCIDENTS
        print(f"\n{len(slow_model.requests)} model calls, {INCIDENTS} incidents, 0 duplicates")
    finally:
        for r in replicas:
            await r.store.close()
