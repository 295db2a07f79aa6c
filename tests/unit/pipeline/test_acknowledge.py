"""Acknowledging an incident: recorded once, takes command when nobody leads, stops escalation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.models import (
    ActionRequest,
    ActionState,
    Decision,
    DecisionOutcome,
    Event,
    EventKind,
    Incident,
    Proposal,
)
from bot.notify import RecordingNotifier
from bot.pipeline import AckStatus, Pipeline

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


async def opened(pipeline: Pipeline, commander: str | None = None) -> Incident:
    incident = Incident(
        title="checkout 5xx", service="checkout", commander=commander, created_at=T0, updated_at=T0
    )
    await pipeline.store.create_incident(incident)
    return await pipeline.store.get_incident(incident.id)


def kinds(events: list[Event]) -> list[str]:
    return [e.kind for e in events]


async def test_first_acknowledger_is_recorded_and_takes_command(
    flow: tuple[Pipeline, RecordingNotifier],
) -> None:
    pipeline, _ = flow
    incident = await opened(pipeline)
    first = await pipeline.acknowledge(incident.id, "U0ALICE", T0 + timedelta(minutes=3))
    assert first.status is AckStatus.ACKNOWLEDGED
    assert first.incident.acknowledged_by == "U0ALICE"
    assert first.incident.acknowledged_at == T0 + timedelta(minutes=3)
    assert first.incident.commander == "U0ALICE"

    again = await pipeline.acknowledge(incident.id, "U0BOB", T0 + timedelta(minutes=5))
    assert again.status is AckStatus.ALREADY
    stored = await pipeline.store.get_incident(incident.id)
    assert (stored.acknowledged_by, stored.commander) == ("U0ALICE", "U0ALICE")
    acks = [
        e for e in await pipeline.timeline_of(incident.id)
        if e.kind == EventKind.INCIDENT_ACKNOWLEDGED
    ]
    assert [(e.actor, e.message) for e in acks] == [("U0ALICE", "Acknowledged and took command")]


async def test_acknowledging_keeps_an_existing_commander_and_accepts_the_number(
    flow: tuple[Pipeline, RecordingNotifier],
) -> None:
    pipeline, _ = flow
    incident = await opened(pipeline, commander="U0LEAD")
    assert incident.number is not None
    result = await pipeline.acknowledge(f"inc-{incident.number}", "U0BOB", T0)
    assert result.status is AckStatus.ACKNOWLEDGED
    assert (result.incident.acknowledged_by, result.incident.commander) == ("U0BOB", "U0LEAD")


async def test_concurrent_acknowledgements_record_exactly_one(
    flow: tuple[Pipeline, RecordingNotifier],
) -> None:
    pipeline, _ = flow
    incident = await opened(pipeline)
    people = [f"U0P{n}" for n in range(6)]
    results = await asyncio.gather(*(pipeline.acknowledge(incident.id, p, T0) for p in people))
    winners = [r for r in results if r.status is AckStatus.ACKNOWLEDGED]
    assert len(winners) == 1
    stored = await pipeline.store.get_incident(incident.id)
    assert stored.acknowledged_by == winners[0].incident.acknowledged_by == stored.commander
    events = await pipeline.timeline_of(incident.id)
    assert kinds(events).count(EventKind.INCIDENT_ACKNOWLEDGED) == 1


async def test_a_resolved_incident_cannot_be_acknowledged(
    flow: tuple[Pipeline, RecordingNotifier],
) -> None:
    pipeline, _ = flow
    incident = await opened(pipeline, commander="U0LEAD")
    await pipeline.resolve_incident(incident.id, "U0LEAD", "fixed", T0)
    result = await pipeline.acknowledge(incident.id, "U0BOB", T0 + timedelta(minutes=1))
    assert result.status is AckStatus.NOT_OPEN
    assert (await pipeline.store.get_incident(incident.id)).acknowledged_at is None


def pending(incident_id: str) -> ActionRequest:
    return ActionRequest(
        incident_id=incident_id,
        proposal=Proposal(action="restart_deployment", service="checkout"),
        decision=Decision(
            outcome=DecisionOutcome.REQUIRE_APPROVAL,
            action="restart_deployment",
            service="checkout",
            approvals_required=1,
            eligible_approvers=["S0CHECKOUT"],
        ),
        state=ActionState.PENDING_APPROVAL,
        requested_by="incident-bot",
        created_at=T0,
        updated_at=T0,
        expires_at=T0 + timedelta(seconds=1800),
    )


@pytest.mark.parametrize("acknowledge", [False, True])
async def test_an_acknowledged_incident_gets_no_escalation(
    flow: tuple[Pipeline, RecordingNotifier], acknowledge: bool
) -> None:
    pipeline, notifier = flow
    incident = await opened(pipeline)
    request = pending(incident.id)
    await pipeline.store.add_action_request(request)
    assert await pipeline.remind_waiting(T0 + timedelta(seconds=700)) == 1
    if acknowledge:
        await pipeline.acknowledge(incident.id, "U0ALICE", T0 + timedelta(seconds=800))
    assert await pipeline.remind_waiting(T0 + timedelta(seconds=1300)) == 1
    assert notifier.nudges == [(request.id, False), (request.id, not acknowledge)]
    escalated = kinds(await pipeline.timeline_of(incident.id)).count(EventKind.ACTION_ESCALATED)
    assert escalated == (0 if acknowledge else 1)
