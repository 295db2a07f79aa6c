"""The ActionRequest state machine: open requests (with their plan), CAS transitions,
re-planning under a changed policy, and the expiry sweep."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from bot import audit, timeline
from bot.actions.plans import PlanBinding, bind_plan
from bot.cas import read_modify_write
from bot.errors import ActionError, Conflict, NotFound
from bot.models import (
    ACTION_TRANSITIONS,
    BOT_ACTOR,
    OPEN_ACTION_STATES,
    ActionRequest,
    ActionState,
    BreakGlass,
    Category,
    Decision,
    DecisionOutcome,
    EventKind,
    Proposal,
)
from bot.policy import EvaluationContext, Policy
from bot.ports import Store
from bot.redaction import Redactor

log = logging.getLogger(__name__)
# A request opened without a triage was asked for by a person, not inferred by a model.
HUMAN_CONFIDENCE = 1.0

Change = Callable[[ActionRequest], ActionRequest | None]


async def transition(store: Store, request_id: str, change: Change) -> tuple[ActionRequest, bool]:
    """Apply ``change`` to the latest copy under CAS; (stored, True) or (current, False) if None.

    ``change`` sees a fresh copy on every attempt and must decide again from it, so a lost race
    is re-judged rather than overwritten. Moves the state machine forbids raise ActionError.
    """

    def checked(current: ActionRequest) -> ActionRequest | None:
        before = current.state
        updated = change(current)
        if updated is not None and updated.state not in (before, *ACTION_TRANSITIONS[before]):
            raise ActionError(
                f"request {request_id}: {before.value} -> {updated.state.value} "
                "is not a permitted transition"
            )
        return updated

    return await read_modify_write(
        lambda: store.get_action_request(request_id),
        store.update_action_request,
        checked,
        what=f"request {request_id}",
    )


def unplannable(problem: str) -> str:
    """Why a request is blocked when its plan cannot be rendered."""
    return f"the plan cannot be rendered: {problem}"


async def open_request(
    store: Store,
    *,
    incident_id: str,
    proposal: Proposal,
    decision: Decision,
    policy: Policy,
    requested_by: str,
    now: datetime,
    ttl_seconds: float,
    triage_id: str | None = None,
    retry_of: str | None = None,
    redactor: Redactor | None = None,
    undo_of: str | None = None,
    break_glass: BreakGlass | None = None,
) -> ActionRequest:
    """File a judged proposal: deny -> blocked, require_approval -> pending, allow -> approved.

    Its plan is rendered now (``bind_plan``, masked by ``redactor``) and stored with its hash,
    so the card shows it before anyone is asked; a plan that cannot render blocks the request
    with the reason. ``retry_of`` names the request this one asks for again, ``undo_of`` the
    succeeded one it undoes, ``break_glass`` the freeze-blocked one it files again; the
    timeline entry links the two.
    """
    state = {
        DecisionOutcome.DENY: ActionState.BLOCKED,
        DecisionOutcome.REQUIRE_APPROVAL: ActionState.PENDING_APPROVAL,
        DecisionOutcome.ALLOW: ActionState.APPROVED,
    }[decision.outcome]
    error = "; ".join(decision.denials) or None
    binding = bind_plan(policy, proposal, redactor=redactor)
    if binding.problem is not None and state is not ActionState.BLOCKED:
        state, error = ActionState.BLOCKED, unplannable(binding.problem)
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
        error=error,
        retry_of=retry_of,
        plan=binding.plan,
        plan_hash=binding.hash,
        undo_of=undo_of,
        break_glass=break_glass,
    )
    await store.add_action_request(request)
    again = {"retry_of": retry_of} if retry_of else {}
    if undo_of:
        again["undo_of"] = undo_of
    if break_glass is not None:
        again["break_glass_of"] = break_glass.of_request
    await timeline.note(
        store,
        incident_id,
        at=now,
        actor=requested_by,
        kind=EventKind.for_state(state),
        message=f"{proposal.action[:64]} on {decision.service}: {decision.outcome.value}"
        + (f" (asked again after {retry_of})" if retry_of else "")
        + (f" (undoes {undo_of})" if undo_of else "")
        + (f" (break glass on {break_glass.of_request})" if break_glass is not None else "")
        + (f"; {error}"[:300] if binding.problem is not None and error else ""),
        request_id=request.id,
        **again,
        **audit.decision_facts(request),
        **({"plan_problem": binding.problem} if binding.problem is not None else {}),
    )
    return request


async def replan(
    store: Store,
    policy: Policy,
    request_id: str,
    now: datetime,
    *,
    redactor: Redactor | None = None,
) -> tuple[ActionRequest, bool]:
    """Re-render a pending request under the current policy; (request, True) when it changed.

    When the hash differs from the stored one (the policy was edited since the card was
    shown), the request gets the new plan, hash and decision, and the votes cast on the old
    plan are discarded: they approved something else. It stays pending (a person approves the
    new plan, even where policy would now allow it outright), or is blocked when policy now
    denies it or its plan no longer renders. Anything but a pending request is left alone:
    an approved one is caught by ``execute``, which recomputes the hash itself.
    """
    request = await store.get_action_request(request_id)
    base = await evaluation_context(store, request, now, {})
    decision = policy.evaluate(request.proposal, base)
    binding = bind_plan(policy, request.proposal, redactor=redactor)
    before: list[tuple[str, list[str]]] = []

    def change(current: ActionRequest) -> ActionRequest | None:
        before.clear()
        if current.state is not ActionState.PENDING_APPROVAL:
            return None
        if binding.problem is None and binding.hash == current.plan_hash:
            return None
        before.append((current.plan_hash, [a.user_id for a in current.approvals]))
        current.approvals = []
        current.decision = decision
        current.plan, current.plan_hash = binding.plan, binding.hash
        current.updated_at = now
        if binding.problem is not None:
            current.state, current.error = ActionState.BLOCKED, unplannable(binding.problem)
        elif decision.outcome is DecisionOutcome.DENY:
            current.state, current.error = ActionState.BLOCKED, "; ".join(decision.denials)
        return current

    stored, changed = await transition(store, request_id, change)
    if not changed:
        return stored, False
    old_hash, discarded = before[-1]
    await _note_replanned(store, stored, binding, old_hash, discarded, now)
    return stored, True


async def _note_replanned(
    store: Store,
    request: ActionRequest,
    binding: PlanBinding,
    old_hash: str,
    discarded: list[str],
    now: datetime,
) -> None:
    blocked = request.state is ActionState.BLOCKED
    revision = request.decision.policy_revision
    await timeline.note(
        store,
        request.incident_id,
        at=now,
        actor=BOT_ACTOR,
        kind=EventKind.ACTION_BLOCKED if blocked else EventKind.ACTION_REPLANNED,
        message=f"{request.proposal.action} re-planned under policy revision {revision[:12]}"
        + (f": blocked, {request.error}"[:300] if blocked else "")
        + (f"; {len(discarded)} earlier vote(s) discarded" if discarded else ""),
        request_id=request.id,
        previous_plan_hash=old_hash,
        discarded_votes=discarded,
        **audit.decision_facts(request),
        **({"plan_problem": binding.problem} if binding.problem is not None else {}),
    )


async def evaluation_context(
    store: Store,
    request: ActionRequest,
    now: datetime,
    group_members: Mapping[str, frozenset[str]],
) -> EvaluationContext:
    """The context to re-judge a request with: its triage, its votes, the incident's flags."""
    incident = await store.get_incident(request.incident_id)
    category, confidence = incident.category, HUMAN_CONFIDENCE
    # A responder's correction of the category is judged like a human's word.
    if request.triage_id is not None and incident.correction is None:
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
        service_flags=tuple(incident.service_flags),
        break_glass=request.break_glass,
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
                kind=EventKind.ACTION_EXPIRED,
                message=f"{request.proposal.action} expired without enough approvals",
                request_id=request.id,
            )
    return expired


def _settle(now: datetime, holders: list[str | None]) -> Change:
    def change(request: ActionRequest) -> ActionRequest | None:
        holders.clear()
        if request.state is not ActionState.EXECUTING:
            return None
        if request.claim_expires_at is None or request.claim_expires_at > now:
            return None
        holders.append(request.claimed_by)
        request.state = ActionState.OUTCOME_UNKNOWN
        request.error = (
            f"the claim of {request.claimed_by or 'an unknown replica'} lapsed before any "
            "result was recorded; the action may or may not have run"
        )
        request.updated_at = now
        return request

    return change


async def settle_lapsed(store: Store, now: datetime) -> list[ActionRequest]:
    """Sweep: executions whose claim lapsed without a result -> outcome_unknown (terminal).

    Nothing is re-run: whether the side effect happened is unknown, so a person decides. Safe
    on every replica at once: each move is a CAS, so exactly one sweeper records each.
    """
    lapsed = [
        request
        for request in await store.list_action_requests(states=[ActionState.EXECUTING])
        if request.claim_expires_at is not None and request.claim_expires_at <= now
    ]
    settled: list[ActionRequest] = []
    for candidate in lapsed:
        holders: list[str | None] = []
        try:
            request, changed = await transition(store, candidate.id, _settle(now, holders))
        except (NotFound, Conflict) as exc:
            log.warning("settling %s skipped: %s", candidate.id, exc)
            continue
        if not changed:
            continue
        holder = holders[-1] if holders else None
        settled.append(request)
        await timeline.note(
            store,
            request.incident_id,
            at=now,
            actor=BOT_ACTOR,
            kind=EventKind.ACTION_OUTCOME_UNKNOWN,
            message=(
                f"{request.proposal.action} on {request.proposal.service}: outcome unknown; "
                f"{holder or 'its executor'} claimed it and recorded no result in time"
            ),
            request_id=request.id,
            claimed_by=holder,
            claim_expires_at=(
                request.claim_expires_at.isoformat() if request.claim_expires_at else None
            ),
        )
        log.warning(
            "execution claim lapsed",
            extra={"request_id": request.id, "incident_id": request.incident_id, "holder": holder},
        )
    return settled


def _cancel(reason: str, now: datetime) -> Change:
    def change(request: ActionRequest) -> ActionRequest | None:
        if request.state not in OPEN_ACTION_STATES:
            return None
        request.state = ActionState.CANCELLED
        request.error = reason
        request.updated_at = now
        return request

    return change


async def cancel_open(
    store: Store, incident_id: str, *, actor: str, reason: str, now: datetime
) -> list[ActionRequest]:
    """Cancel every request of an incident that could still run; returns those this call moved.

    A request already claimed for execution is past cancelling: its executor owns it now.
    """
    cancelled: list[ActionRequest] = []
    for candidate in await store.list_action_requests(incident_id, list(OPEN_ACTION_STATES)):
        request, changed = await transition(store, candidate.id, _cancel(reason, now))
        if not changed:
            continue
        cancelled.append(request)
        await timeline.note(
            store,
            incident_id,
            at=now,
            actor=actor,
            kind=EventKind.ACTION_CANCELLED,
            message=f"{request.proposal.action} cancelled: {reason}",
            request_id=request.id,
        )
    return cancelled
