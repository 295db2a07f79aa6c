"""Recording Approve / Deny votes: authorisation, N-of-M, requester != approver, expiry, and the
card's plan hash (safety invariant 8)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from bot import timeline
from bot.actions.execution import ExecutionOutcome
from bot.actions.lifecycle import evaluation_context, transition
from bot.actions.plans import card_matches, current_hash
from bot.errors import ActionError, NotFound
from bot.models import (
    ActionRequest,
    ActionState,
    Approval,
    DecisionOutcome,
    EventKind,
    IncidentStatus,
    Vote,
)
from bot.policy import EvaluationContext, Policy
from bot.policy.approvers import is_eligible
from bot.ports import Store


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
    INCIDENT_RESOLVED = "incident_resolved"
    UNKNOWN_REQUEST = "unknown_request"
    # The click came from a card whose plan hash is not the request's (the card is older than
    # a re-plan), or the policy changed since the plan was rendered (it must be shown again).
    CARD_OUT_OF_DATE = "card_out_of_date"


@dataclass
class VoteResult:
    """The result of one click: the request as stored after it, whether it counted, and what
    execution did when the vote completed the approvals."""

    request: ActionRequest | None
    status: VoteStatus
    accepted: bool
    execution: ExecutionOutcome | None = None

    @property
    def executed(self) -> bool:
        """True when an executor ran because of this vote."""
        return self.execution is not None and self.execution.ran


async def record_vote(
    request_id: str,
    user_id: str,
    vote: Vote | str,
    *,
    store: Store,
    policy: Policy,
    now: datetime,
    group_members: Mapping[str, frozenset[str]],
    card_hash: str | None = None,
) -> VoteResult:
    """Record one vote under CAS; moves the request to approved / denied when it decides it.

    ``card_hash`` is the plan hash the clicked card carried (None: the vote comes from no card,
    e.g. the CLI). A vote counts only for the plan it was cast on: it is refused with
    ``CARD_OUT_OF_DATE`` when the card's hash is not the request's, or when the plan rendered
    under the current policy no longer hashes to the stored one (the caller re-plans).
    """
    try:
        request = await store.get_action_request(request_id)
    except NotFound:
        return VoteResult(None, VoteStatus.UNKNOWN_REQUEST, False)
    try:
        cast_vote = Vote(vote)
    except ValueError:
        return VoteResult(request, VoteStatus.INVALID_VOTE, False)
    incident = await store.get_incident(request.incident_id)
    if incident.status is not IncidentStatus.OPEN:
        return VoteResult(request, VoteStatus.INCIDENT_RESOLVED, False)
    context = await evaluation_context(store, request, now, group_members)
    approvers = policy.eligible_approvers(
        request.proposal.service, break_glass=request.break_glass is not None
    )
    try:
        planned_now = current_hash(policy, request.proposal)
    except ActionError:
        planned_now = ""
    verdict: list[VoteStatus] = []

    def change(current: ActionRequest) -> ActionRequest | None:
        verdict.clear()
        refusal = _check(current, user_id, now, approvers, group_members)
        if refusal is None and not _same_plan(current, card_hash, planned_now):
            refusal = VoteStatus.CARD_OUT_OF_DATE
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
        return VoteResult(stored, status, False)
    await timeline.note(
        store,
        stored.incident_id,
        at=now,
        actor=user_id,
        kind=EventKind.ACTION_VOTE
        if status is VoteStatus.RECORDED
        else EventKind.for_state(stored.state),
        message=f"{cast_vote.value} on {stored.proposal.action} ({len(stored.approvers)} of "
        f"{stored.decision.approvals_required} approvals)",
        request_id=stored.id,
        vote=cast_vote.value,
    )
    return VoteResult(stored, status, True)


def _same_plan(request: ActionRequest, card_hash: str | None, planned_now: str) -> bool:
    """The card shows the stored plan, and the stored plan is what policy renders now."""
    if card_hash is not None and not card_matches(request.plan_hash, card_hash):
        return False
    return bool(planned_now) and planned_now == request.plan_hash


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
        request.error = "; ".join(decision.denials)
        return VoteStatus.BLOCKED
    return VoteStatus.RECORDED
