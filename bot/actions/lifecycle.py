"""The ActionRequest state machine: open requests, CAS transitions, and the expiry sweep."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from bot import timeline
from bot.errors import ActionError, Conflict, NotFound
from bot.models import (
    ActionRequest,
    ActionState,
    Category,
    Decision,
    DecisionOutcome,
    Proposal,
)
from bot.policy import EvaluationContext
from bot.store.base import Store

log = logging.getLogger(__name__)

BOT_ACTOR = "incident-bot"
CAS_ATTEMPTS = 20
# A request opened without a triage was asked for by a person, not inferred by a model.
HUMAN_CONFIDENCE = 1.0

Change = Callable[[ActionRequest], ActionRequest | None]


async def transition(store: Store, request_id: str, change: Change) -> tuple[ActionRequest, bool]:
    """Apply ``change`` to the latest copy under CAS; (stored, True) or (current, False) if None.

    ``change`` sees a fresh copy on every attempt and must decide again from it, so a lost race
    is re-judged rather than overwritten. Moves the state machine forbids raise ActionError.
    """
    for _ in range(CAS_ATTEMPTS):
        current = await store.get_action_request(request_id)
        updated = change(current.model_copy(deep=True))
        if updated is None:
            return current, False
        if updated.state is not current.state and not current.can_move_to(updated.state):
            raise ActionError(
                f"request {request_id}: {current.state.value} -> {updated.state.value} "
                "is not a permitted transition"
            )
        try:
            return await store.update_action_request(updated), True
        except Conflict:
            continue
    raise Conflict(f"request {request_id}: gave up after {CAS_ATTEMPTS} concurrent updates")


async def open_request(
    store: Store,
    *,
    incident_id: str,
    proposal: Proposal,
    decision: Decision,
    requested_by: str,
    now: datetime,
    ttl_seconds: float,
    triage_id: str | None = None,
) -> ActionRequest:
    """File a judged proposal: deny -> blocked, require_approval -> pending, allow -> approved."""
    state = {
        DecisionOutcome.DENY: ActionState.BLOCKED,
        DecisionOutcome.REQUIRE_APPROVAL: ActionState.PENDING_APPROVAL,
        DecisionOutcome.ALLOW: ActionState.APPROVED,
    }[decision.outcome]
    denied = [hit.reason for hit in decision.reasons if hit.effect == DecisionOutcome.DENY.value]
    request = ActionRequest(
        incident_id=incident_id,
        triage_id=triage_id,
        proposal=proposal,
        decision=decision,
        state=state,
        requested_by=requested_by,
        created_at=now,
        updated_at=now,
        expires_at=None if state is ActionState.BLOCKED else now + timedelta(seconds=ttl_seconds),
        error="; ".join(denied) or None,
    )
    await store.add_action_request(request)
    await timeline.note(
        store,
        incident_id,
        at=now,
        actor=requested_by,
        kind=f"action.{state.value}",
        message=f"{proposal.action[:64]} on {decision.service}: {decision.outcome.value}",
        request_id=request.id,
        decision_id=decision.id,
        rules=[hit.rule_id for hit in decision.reasons],
        policy_revision=decision.policy_revision,
    )
    return request


async def evaluation_context(
    store: Store,
    request: ActionRequest,
    now: datetime,
    group_members: Mapping[str, frozenset[str]],
) -> EvaluationContext:
    """The context to re-judge a request with: its triage's category and confidence, its votes."""
    incident = await store.get_incident(request.incident_id)
    category, confidence = incident.category, HUMAN_CONFIDENCE
    if request.triage_id is not None:
        triages = {t.id: t for t in await store.list_triages(request.incident_id)}
        triage = triages.get(request.triage_id)
        # A request whose triage vanished is judged as if the model had no confidence.
        category = triage.category if triage else Category.UNKNOWN
        confidence = triage.confidence if triage else 0.0
    return EvaluationContext(
        category=category,
        severity=incident.severity,
        confidence=confidence,
        now=now,
        requester=request.requested_by,
        pending_actions=0,  # the limit governs opening requests, not deciding on open ones
        approvals=tuple(request.approvals),
        group_members=group_members,
    )


def _expire(now: datetime) -> Change:
    def change(request: ActionRequest) -> ActionRequest | None:
        if request.state not in (ActionState.PENDING_APPROVAL, ActionState.APPROVED):
            return None
        if request.expires_at is None or request.expires_at > now:
            return None
        request.state = ActionState.EXPIRED
        request.updated_at = now
        return request

    return change


async def expire_due(store: Store, now: datetime) -> list[ActionRequest]:
    """Sweep: expire requests past their deadline; returns those this call expired.

    Safe on every replica at once: each expiry is a CAS, so exactly one sweeper wins each.
    """
    due = [
        request
        for request in await store.list_action_requests(
            states=[ActionState.PENDING_APPROVAL, ActionState.APPROVED]
        )
        if request.expires_at is not None and request.expires_at <= now
    ]
    expired: list[ActionRequest] = []
    for candidate in due:
        try:
            request, changed = await transition(store, candidate.id, _expire(now))
        except (NotFound, Conflict) as exc:
            log.warning("expiry of %s skipped: %s", candidate.id, exc)
            continue
        if changed:
            expired.append(request)
            await timeline.note(
                store,
                request.incident_id,
                at=now,
                actor=BOT_ACTOR,
                kind="action.expired",
                message=f"{request.proposal.action} expired without enough approvals",
                request_id=request.id,
            )
    return expired
