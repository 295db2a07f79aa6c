"""record_vote: who may vote, N-of-M distinct approvers, idempotent clicks, expiry."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot import actions
from bot.actions import VoteStatus
from bot.models import ActionState, Category, Proposal, Vote
from bot.policy import Policy
from bot.store.sqlite import SQLiteStore

from .conftest import GROUPS, NOW, REQUESTER, TTL, file_request

CRITICAL = Proposal(
    action="restart_deployment",
    service="payment-gateway",
    params={"deployment": "payment-gateway-api"},
)
STANDARD = Proposal(
    action="restart_deployment", service="cart-service", params={"deployment": "cart-api"}
)


async def _vote(
    store: SQLiteStore,
    policy: Policy,
    request_id: str,
    user: str,
    vote: Vote | str = Vote.APPROVE,
    now=NOW,
):  # type: ignore[no-untyped-def]
    return await actions.record_vote(
        request_id, user, vote, store=store, policy=policy, now=now, group_members=GROUPS
    )


async def test_two_distinct_approvers_approve_a_critical_request(
    store: SQLiteStore, policy: Policy
) -> None:
    request = await file_request(store, policy, CRITICAL)
    first = await _vote(store, policy, request.id, "U0PAYLEAD1")
    assert first.accepted and first.status is VoteStatus.RECORDED
    assert first.request.state is ActionState.PENDING_APPROVAL
    second = await _vote(store, policy, request.id, "U0PAYDEV02")  # via the S0PAYMENTS group
    assert second.accepted and second.status is VoteStatus.APPROVED
    assert second.request.state is ActionState.APPROVED
    assert second.request.approvers == ["U0PAYLEAD1", "U0PAYDEV02"]
    kinds = [e.kind for e in await store.list_events(request.incident_id)]
    assert kinds == ["action.pending_approval", "action.vote", "action.approved"]


async def test_refusals_are_values_and_change_nothing(store: SQLiteStore, policy: Policy) -> None:
    request = await file_request(store, policy, CRITICAL)
    cases = [
        (REQUESTER, VoteStatus.REQUESTER),
        ("U0CARTDEV1", VoteStatus.NOT_ELIGIBLE),  # approver of another service
        ("S0PAYMENTS", VoteStatus.NOT_ELIGIBLE),  # a group is not a person
    ]
    for user, status in cases:
        outcome = await _vote(store, policy, request.id, user)
        assert not outcome.accepted and outcome.status is status
    bad = await _vote(store, policy, request.id, "U0PAYLEAD1", "maybe")
    assert bad.status is VoteStatus.INVALID_VOTE
    stored = await store.get_action_request(request.id)
    assert stored.approvals == [] and stored.version == request.version


async def test_double_click_counts_once(store: SQLiteStore, policy: Policy) -> None:
    request = await file_request(store, policy, CRITICAL)
    assert (await _vote(store, policy, request.id, "U0PAYLEAD1")).accepted
    again = await _vote(store, policy, request.id, "U0PAYLEAD1")
    assert not again.accepted and again.status is VoteStatus.ALREADY_VOTED
    stored = await store.get_action_request(request.id)
    assert len(stored.approvals) == 1 and stored.state is ActionState.PENDING_APPROVAL


async def test_concurrent_replayed_clicks_record_one_vote(
    store: SQLiteStore, policy: Policy
) -> None:
    request = await file_request(store, policy, CRITICAL)
    outcomes = await asyncio.gather(
        *(_vote(store, policy, request.id, "U0PAYLEAD1") for _ in range(20))
    )
    assert sum(o.accepted for o in outcomes) == 1
    assert len((await store.get_action_request(request.id)).approvals) == 1


async def test_a_deny_vote_denies(store: SQLiteStore, policy: Policy) -> None:
    request = await file_request(store, policy, STANDARD)
    outcome = await _vote(store, policy, request.id, "U0CARTDEV1", Vote.DENY)
    assert outcome.accepted and outcome.request.state is ActionState.DENIED
    late = await _vote(store, policy, request.id, "U0CHKLEAD1")
    assert late.status is VoteStatus.NOT_PENDING


async def test_votes_after_expiry_are_refused(store: SQLiteStore, policy: Policy) -> None:
    request = await file_request(store, policy, STANDARD)
    late = await _vote(store, policy, request.id, "U0CARTDEV1", now=NOW + timedelta(seconds=TTL))
    assert late.status is VoteStatus.EXPIRED and not late.accepted


async def test_approval_during_a_freeze_blocks_state_change(
    store: SQLiteStore, policy: Policy
) -> None:
    request = await file_request(store, policy, STANDARD)
    frozen = NOW.replace(month=12, day=24)
    # Extend nothing: the request is still pending when the freeze starts, only the clock moved.
    await store.update_action_request(
        request.model_copy(update={"expires_at": frozen + timedelta(hours=1)})
    )
    outcome = await _vote(store, policy, request.id, "U0CARTDEV1", now=frozen)
    assert outcome.accepted and outcome.status is VoteStatus.BLOCKED
    assert outcome.request.state is ActionState.BLOCKED
    assert outcome.request.error and "year-end-freeze" in outcome.request.error


async def test_votes_on_a_blocked_request_are_refused(store: SQLiteStore, policy: Policy) -> None:
    request = await file_request(store, policy, STANDARD, category=Category.SECURITY)
    assert request.state is ActionState.BLOCKED
    outcome = await _vote(store, policy, request.id, "U0CARTDEV1")
    assert outcome.status is VoteStatus.NOT_PENDING
