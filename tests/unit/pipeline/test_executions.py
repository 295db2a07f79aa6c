"""Executions that outlive their executor: the lapsed-claim sweep and asking again (real SQLite)."""

from __future__ import annotations

import asyncio
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
    DecisionOutcome,
    EventKind,
    Incident,
    IncidentStatus,
    Proposal,
    Severity,
    Triage,
)
from bot.notify import RecordingNotifier
from bot.pipeline import AgainStatus, Pipeline
from bot.policy import EvaluationContext

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
REPLICA = "replica-a:4242"


@pytest.fixture
async def flow(tmp_path: Path) -> AsyncIterator[tuple[Pipeline, RecordingNotifier]]:
    settings = load_settings(
        SQLITE_PATH=str(tmp_path / "bot.db"),
        RUNBOOK_INDEX_PATH=str(tmp_path / "rb.db"),
        RUNBOOK_EMBEDDINGS="none",
        ACTION_CLAIM_MARGIN_SECONDS="5",
        REPLICA_ID=REPLICA,
    )
    notifier = RecordingNotifier()
    pipeline = Root(settings).runtime(notifier=notifier).pipeline
    yield pipeline, notifier
    await pipeline.store.close()


async def executing(pipeline: Pipeline, *, lapses: datetime) -> ActionRequest:
    """A request some replica claimed and never finished, as the store holds it after a crash."""
    incident = Incident(
        title="checkout slow",
        service="checkout",
        severity=Severity.SEV2,
        category=Category.LATENCY,
        commander="U0COMMAND1",
        created_at=T0,
        updated_at=T0,
    )
    await pipeline.store.create_incident(incident)
    triage = Triage(incident_id=incident.id, category=Category.LATENCY, confidence=0.9,
                    created_at=T0)
    await pipeline.store.add_triage(triage)
    proposal = Proposal(
        action="restart_deployment", service="checkout", params={"deployment": "checkout-api"}
    )
    context = EvaluationContext(
        category=Category.LATENCY, severity=Severity.SEV2, confidence=0.9, now=T0,
        requester="incident-bot",
    )
    request = ActionRequest(
        incident_id=incident.id,
        triage_id=triage.id,
        proposal=proposal,
        decision=pipeline.policy.evaluate(proposal, context),
        state=ActionState.EXECUTING,
        requested_by="incident-bot",
        created_at=T0,
        updated_at=T0,
        expires_at=T0 + timedelta(minutes=30),
        claimed_by=REPLICA,
        claim_expires_at=lapses,
    )
    await pipeline.store.add_action_request(request)
    return request


async def test_a_claim_not_yet_lapsed_is_left_alone(
    flow: tuple[Pipeline, RecordingNotifier],
) -> None:
    pipeline, notifier = flow
    request = await executing(pipeline, lapses=T0 + timedelta(seconds=95))
    assert await pipeline.settle_lapsed_executions(T0 + timedelta(seconds=94)) == []
    assert (await pipeline.store.get_action_request(request.id)).state is ActionState.EXECUTING
    assert notifier.calls == []


@pytest.mark.parametrize("replicas", [1, 4])
async def test_lapsed_claim_becomes_outcome_unknown_once(
    flow: tuple[Pipeline, RecordingNotifier], replicas: int
) -> None:
    pipeline, notifier = flow
    request = await executing(pipeline, lapses=T0 + timedelta(seconds=95))
    now = T0 + timedelta(seconds=96)
    settled = await asyncio.gather(
        *(pipeline.settle_lapsed_executions(now) for _ in range(replicas))
    )
    assert sum(len(s) for s in settled) == 1
    stored = await pipeline.store.get_action_request(request.id)
    assert stored.state is ActionState.OUTCOME_UNKNOWN
    assert REPLICA in (stored.error or "")
    events = [
        e
        for e in await pipeline.store.list_events(request.incident_id)
        if e.kind is EventKind.ACTION_OUTCOME_UNKNOWN
    ]
    assert len(events) == 1
    assert events[0].data["claimed_by"] == REPLICA and REPLICA in events[0].message
    assert notifier.calls.count(
        ("request_updated", request.incident_id, f"{request.id}:outcome_unknown")
    ) == 1
    # a later sweep finds nothing, and nothing was ever re-run
    assert await pipeline.settle_lapsed_executions(now + timedelta(hours=1)) == []


async def test_request_again_files_a_new_request_through_policy(
    flow: tuple[Pipeline, RecordingNotifier],
) -> None:
    pipeline, notifier = flow
    old = await executing(pipeline, lapses=T0 + timedelta(seconds=95))
    now = T0 + timedelta(seconds=100)
    assert (await pipeline.request_again(old.id, "U0ONCALL01", now)).status is (
        AgainStatus.NOT_RETRYABLE
    )
    await pipeline.settle_lapsed_executions(now)

    again = await pipeline.request_again(old.id, "U0ONCALL01", now)
    assert again.status is AgainStatus.FILED and again.request is not None
    new = again.request
    assert new.id != old.id and new.retry_of == old.id
    assert new.proposal == old.proposal and new.triage_id == old.triage_id
    assert new.requested_by == "U0ONCALL01" and new.approvals == []
    assert new.decision.id != old.decision.id
    assert new.decision.outcome is DecisionOutcome.REQUIRE_APPROVAL
    assert new.state is ActionState.PENDING_APPROVAL
    filed = [e for e in await pipeline.store.list_events(old.incident_id)
             if e.data.get("request_id") == new.id]
    assert filed and filed[0].data["retry_of"] == old.id
    assert ("request_updated", old.incident_id, f"{new.id}:pending_approval") in notifier.calls

    second = await pipeline.request_again(old.id, "U0ONCALL02", now)
    assert second.status is AgainStatus.ALREADY_ASKED
    assert second.request is not None and second.request.id == new.id
    assert len(await pipeline.store.list_action_requests(old.incident_id)) == 2


async def test_request_again_refused_for_a_resolved_incident_or_unknown_id(
    flow: tuple[Pipeline, RecordingNotifier],
) -> None:
    pipeline, _ = flow
    old = await executing(pipeline, lapses=T0)
    await pipeline.settle_lapsed_executions(T0 + timedelta(seconds=1))
    incident = await pipeline.store.get_incident(old.incident_id)
    incident.status = IncidentStatus.RESOLVED
    await pipeline.store.update_incident(incident)
    now = T0 + timedelta(seconds=2)
    assert (await pipeline.request_again(old.id, "U0ONCALL01", now)).status is (
        AgainStatus.INCIDENT_CLOSED
    )
    assert (await pipeline.request_again("act-0000ffff", "U0ONCALL01", now)).status is (
        AgainStatus.UNKNOWN_REQUEST
    )
