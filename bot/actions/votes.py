"""Recording Approve / Deny votes: authorisation, N-of-M, requester != approver, expiry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from bot import timeline
from bot.actions.lifecycle import evaluation_context, transition
from bot.models import (
    ActionRequest,
    ActionState,
    Approval,
    DecisionOutcome,
    Vote,
)
from bot.policy import EvaluationContext, Policy
from bot.policy.approvers import is_eligible
from bot.store.base import Store


class VoteStatus(StrEnum):
    RECORDED = "recorded"
    APPROVED = "approved"
    DENIED = "denied"
    BLOCKED = "blocked"
    ALREADY_VOTED = "already_voted"
    REQUESTER = "requester"
    NOT_ELIGIBLE = "not_eligible"
    NOT_PENDING = "not_pending"
    EXPIRED = "expired"
    INVALID_VOTE = "invalid_vote"


_MESSAGES = {
    VoteStatus.RECORDED: "Vote recorded; more approvals are needed.",
    VoteStatus.APPROVED: "Approved: enough approvals are in.",
    VoteStatus.DENIED: "Denied.",
    VoteStatus.BLOCKED: "Policy now refuses this action; it is blocked.",
    VoteStatus.ALREADY_VOTED: "You have already voted on this request.",
    VoteStatus.REQUESTER: "The requester cannot approve their own request.",
    VoteStatus.NOT_ELIGIBLE: "You are not an approver for this service.",
    VoteStatus.NOT_PENDING: "This request is no longer waiting for approval.",
    VoteStatus.EXPIRED: "The approval window has expired.",
    VoteStatus.INVALID_VOTE: "Unknown vote.",
}


@dataclass
class VoteOutcome:
    """The result of one click: the request as stored after it, and whether it counted."""

    request: ActionRequest
    status: VoteStatus
    accepted: bool
    message: str


def _refusal(request: ActionRequest, status: VoteStatus) -> VoteOutcome:
    return VoteOutcome(request=request, status=status, accepted=False, message=_MESSAGES[status])


async def record_vote(
    request_id: str,
    user_id: str,
    vote: Vote | str,
    *,
    store: Store,
    policy: Policy,
    now: datetime,
    group_members: Mapping[str, frozenset[str]],
) -> VoteOutcome:
    """Record one vote under CAS; moves the request to approved / denied when it decides it."""
    request = await store.get_action_request(request_id)
    try:
        cast_vote = Vote(vote)
    except ValueError:
        return _refusal(request, VoteStatus.INVALID_VOTE)
    context = await evaluation_context(store, request, now, group_members)
    approvers = policy.eligible_approvers(request.proposal.service)
    verdict: list[VoteStatus] = []

    def change(current: ActionRequest) -> ActionRequest | None:
        verdict.clear()
        refusal = _check(current, user_id, now, approvers, group_members)
        if refusal is not None:
            verdict.append(refusal)
            return None
        current.approvals.append(
            Approval(request_id=current.id, user_id=user_id, vote=cast_vote, at=now)
        )
        current.updated_at = now
        status = _decide(
            current, cast_vote, policy, replace(context, approvals=tuple(current.approvals))
        )
        verdict.append(status)
        current.state = {
            VoteStatus.APPROVED: ActionState.APPROVED,
            VoteStatus.DENIED: ActionState.DENIED,
            VoteStatus.BLOCKED: ActionState.BLOCKED,
        }.get(status, current.state)
        return current

    stored, changed = await transition(store, request_id, change)
    status = verdict[-1]
    if not changed:
        return _refusal(stored, status)
    await timeline.note(
        store,
        stored.incident_id,
        at=now,
        actor=user_id,
        kind="action.vote" if status is VoteStatus.RECORDED else f"action.{stored.state.value}",
        message=f"{cast_vote.value} on {stored.proposal.action} ({len(stored.approvers)} of "
        f"{stored.decision.approvals_required} approvals)",
        request_id=stored.id,
        vote=cast_vote.value,
    )
    return VoteOutcome(request=stored, status=status, accepted=True, message=_MESSAGES[status])


def _check(
    request: ActionRequest,
    user_id: str,
    now: datetime,
    approvers: list[str],
    group_members: Mapping[str, frozenset[str]],
) -> VoteStatus | None:
    if any(approval.user_id == user_id for approval in request.approvals):
        return VoteStatus.ALREADY_VOTED
    if request.state is not ActionState.PENDING_APPROVAL:
        return VoteStatus.NOT_PENDING
    if request.expires_at is not None and request.expires_at <= now:
        return VoteStatus.EXPIRED
    if user_id == request.requested_by:
        return VoteStatus.REQUESTER
    if not is_eligible(user_id, approvers, group_members):
        return VoteStatus.NOT_ELIGIBLE
    return None


def _decide(
    request: ActionRequest, vote: Vote, policy: Policy, context: EvaluationContext
) -> VoteStatus:
    if vote is Vote.DENY:
        return VoteStatus.DENIED
    decision = policy.evaluate(request.proposal, context)
    if decision.outcome is DecisionOutcome.ALLOW:
        return VoteStatus.APPROVED
    if decision.outcome is DecisionOutcome.DENY:
        request.error = "; ".join(h.reason for h in decision.reasons if h.effect == "deny")
        return VoteStatus.BLOCKED
    return VoteStatus.RECORDED
