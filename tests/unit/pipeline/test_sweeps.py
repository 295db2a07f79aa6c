"""Reminder sweeps: due times, and exactly one nudge when replicas sweep at once (real SQLite)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.compose import Root
from bot.config import load_settings
from bot.models import (
    ActionRequest,
    ActionState,
    Decision,
    DecisionOutcome,
    Incident,
    Proposal,
)
from bot.notify import RecordingNotifier
from bot.pipeline import Nudge, nudge_due

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def pending(created: datetime, reminded: datetime | None = None) -> ActionRequest:
    return ActionRequest(
        incident_id="inc-0000000001",
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
        created_at=created,
        updated_at=created,
        expires_at=created + timedelta(seconds=1800),
        reminded_at=reminded,
    )


def test_nudge_due_reminds_then_escalates_each_period() -> None:
    assert nudge_due(pending(T0), T0 + timedelta(seconds=599), 600) is None
    assert nudge_due(pending(T0), T0 + timedelta(seconds=600), 600) is Nudge.REMIND
    reminded = pending(T0, reminded=T0 + timedelta(seconds=600))
    assert nudge_due(reminded, T0 + timedelta(seconds=1000), 600) is None
    assert nudge_due(reminded, T0 + timedelta(seconds=1200), 600) is Nudge.ESCALATE
    assert nudge_due(pending(T0), T0 + timedelta(seconds=1800), 600) is None  # expired
    done = pending(T0)
    done.state = ActionState.DENIED
    assert nudge_due(done, T0 + timedelta(seconds=900), 600) is None


@pytest.mark.parametrize("replicas", [1, 4])
async def test_concurrent_sweeps_nudge_once(tmp_path: Path, replicas: int) -> None:
    settings = load_settings(
        SQLITE_PATH=str(tmp_path / "bot.db"),
        RUNBOOK_INDEX_PATH=str(tmp_path / "rb.db"),
        RUNBOOK_EMBEDDINGS="none",
    )
    notifier = RecordingNotifier()
    pipeline = Root(settings).runtime(notifier=notifier).pipeline
    store = pipeline.store
    try:
        incident = Incident(title="t", service="checkout", created_at=T0, updated_at=T0)
        await store.create_incident(incident)
        request = pending(T0)
        request.incident_id = incident.id
        await store.add_action_request(request)
        now = T0 + timedelta(seconds=700)
        counts = await asyncio.gather(
            *(pipeline.remind_waiting(now) for _ in range(replicas))
        )
        assert sum(counts) == 1
        assert notifier.nudges == [(request.id, False)]
        assert (await store.get_action_request(request.id)).reminded_at == now
        later = now + timedelta(seconds=600)
        assert await pipeline.remind_waiting(later) == 1
        assert notifier.nudges[-1] == (request.id, True)
        kinds = [e.kind for e in await store.list_events(incident.id)]
        assert kinds == ["action.reminded", "action.escalated"]
    finally:
        await store.close()
