"""The store contract for watched requests, on SQLite and on the Cosmos protocol server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.models import (
    ActionRequest,
    ActionState,
    Decision,
    DecisionOutcome,
    Incident,
    Proposal,
    Verification,
)
from bot.ports import Store

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def request(incident_id: str, n: int, state: ActionState) -> ActionRequest:
    return ActionRequest(
        incident_id=incident_id,
        proposal=Proposal(action="restart_deployment", service="checkout"),
        decision=Decision(
            outcome=DecisionOutcome.REQUIRE_APPROVAL,
            action="restart_deployment",
            service="checkout",
        ),
        state=state,
        requested_by="incident-bot",
        created_at=T0 + timedelta(seconds=n),
        updated_at=T0,
    )


async def test_only_succeeded_requests_still_watched_are_listed(store: Store) -> None:
    incident = Incident(title="t", service="checkout", created_at=T0, updated_at=T0)
    await store.create_incident(incident)
    until = T0 + timedelta(minutes=10)
    watched = request(incident.id, 1, ActionState.SUCCEEDED)
    watched.verify_until = until
    decided = request(incident.id, 2, ActionState.SUCCEEDED)
    decided.verify_until, decided.verification = until, Verification.NOT_VERIFIED
    unwatched = request(incident.id, 3, ActionState.SUCCEEDED)
    failed = request(incident.id, 4, ActionState.FAILED)
    failed.verify_until = until
    later = request(incident.id, 5, ActionState.SUCCEEDED)
    later.verify_until = until
    for one in (watched, decided, unwatched, failed, later):
        await store.add_action_request(one)
    assert [r.id for r in await store.list_verifying_requests()] == [watched.id, later.id]
    assert [r.id for r in await store.list_verifying_requests(limit=1)] == [watched.id]
    stored = await store.get_action_request(watched.id)
    stored.verification = Verification.VERIFIED
    await store.update_action_request(stored)
    assert [r.id for r in await store.list_verifying_requests()] == [later.id]
