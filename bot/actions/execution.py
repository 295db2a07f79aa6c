"""execute(): the only door to side effects. Re-checks safety invariants 2, 7 and 8 (the plan
re-rendered from storage under the current policy must hash to the approved one), claims once,
runs."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bot import timeline
from bot.actions.captures import capture_all
from bot.actions.lifecycle import evaluation_context, transition
from bot.actions.plans import ExecutionPlan, current_hash, render_for
from bot.errors import ActionError
from bot.models import (
    BOT_ACTOR,
    ActionRequest,
    ActionState,
    Captured,
    DecisionOutcome,
    Effect,
    EventKind,
    IncidentStatus,
    Vote,
)
from bot.policy import EvaluationContext, Policy
from bot.policy.approvers import is_eligible
from bot.policy.documents import RunMode
from bot.policy.params import clip, schema_problem, shape_problem
from bot.ports import Executors, RunReport, Store

log = logging.getLogger(__name__)

# How long past the executor's own timeout a claim stays valid before a sweep calls its outcome
# unknown: enough for the result to be written after a slow but finished run. The composition
# root passes ACTION_CLAIM_MARGIN_SECONDS and ACTION_TIMEOUT_SECONDS; these are the defaults.
CLAIM_MARGIN_SECONDS = 60.0
DEFAULT_EXECUTOR_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class ClaimTerms:
    """How long an execution claim lasts: the executor's timeout (the action's own, else the
    default every executor applies) plus a margin for writing the result."""

    default_timeout_seconds: float = DEFAULT_EXECUTOR_TIMEOUT_SECONDS
    margin_seconds: float = CLAIM_MARGIN_SECONDS


@dataclass
class ExecutionOutcome:
    """What execute() did: the stored request afterwards, whether an executor ran, and why not."""

    request: ActionRequest
    ran: bool
    problems: list[str] = field(default_factory=list)
    report: RunReport | None = None

    @property
    def message(self) -> str:
        """Why it did not run (the problems, joined), for logs and the timeline."""
        return "; ".join(self.problems)


def execution_problems(
    request: ActionRequest,
    policy: Policy,
    context: EvaluationContext,
    *,
    incident_status: IncidentStatus = IncidentStatus.OPEN,
) -> list[str]:
    """Every reason safety invariants 2, 7 and 8 forbid running ``request`` now; empty: run it."""
    problems: list[str] = []
    if incident_status is not IncidentStatus.OPEN:
        problems.append(f"the incident is {incident_status.value}")
    if request.expires_at is None or request.expires_at <= context.now:
        problems.append("the request has expired (or has no expiry)")
    proposal = request.proposal
    spec = policy.actions.get(proposal.action)
    if spec is None:
        problems.append(f"{proposal.action[:64]!r} is not in the allowlist")
    else:
        params_problem = shape_problem(proposal.params) or schema_problem(
            spec.validator, proposal.params
        )
        if params_problem:
            problems.append(f"parameters rejected: {params_problem}")
        plan_problem = _plan_problem(policy, request)
        if plan_problem:
            problems.append(plan_problem)
    decision = policy.evaluate(proposal, context)
    if decision.outcome is not DecisionOutcome.ALLOW:
        refusing = decision.reasons_with(Effect.DENY, Effect.REQUIRE_APPROVAL)
        problems.append(f"policy says {decision.outcome.value}: " + "; ".join(refusing))
    approvers = policy.eligible_approvers(
        proposal.service, break_glass=request.break_glass is not None
    )
    for approval in request.approvals:
        if approval.vote != Vote.APPROVE:
            problems.append(f"{approval.user_id} voted {approval.vote}")
        elif approval.user_id == request.requested_by:
            problems.append(f"{approval.user_id} approved their own request")
        elif not is_eligible(approval.user_id, approvers, context.group_members):
            problems.append(f"{approval.user_id} is not an eligible approver")
    return [clip(problem) for problem in problems]


def _plan_problem(policy: Policy, request: ActionRequest) -> str | None:
    """Invariant 8: what runs must be what was shown and approved, under this policy."""
    if not request.plan_hash:
        return "no plan was shown for this request, so no approval can be bound to one"
    try:
        now_hash = current_hash(policy, request.proposal)
    except ActionError as exc:
        return f"the plan no longer renders: {exc}"
    if now_hash != request.plan_hash:
        return (
            f"the plan changed since it was shown and approved (hash {request.plan_hash[:12]} "
            f"then, {now_hash[:12]} under policy revision {policy.revision[:12]} now)"
        )
    return None


async def execute(
    request_id: str,
    *,
    store: Store,
    policy: Policy,
    executors: Executors,
    now: datetime,
    group_members: Mapping[str, frozenset[str]] | None = None,
    claimant: str = BOT_ACTOR,
    terms: ClaimTerms | None = None,
) -> ExecutionOutcome:
    """Re-check from storage, claim exactly once (approved -> executing by CAS), run, record.

    The claim names ``claimant`` and lapses at now + timeout + margin (``terms``); a sweep
    (``settle_lapsed``) calls a lapsed claim's outcome unknown and never runs it again.
    """
    terms = terms or ClaimTerms()
    request = await store.get_action_request(request_id)
    if request.state is not ActionState.APPROVED:
        return ExecutionOutcome(request, False, [_not_runnable(request)])
    context = await evaluation_context(store, request, now, group_members or {})
    incident = await store.get_incident(request.incident_id)
    refused: list[str] = []

    def claim(current: ActionRequest) -> ActionRequest | None:
        refused.clear()
        if current.state is not ActionState.APPROVED:
            return None
        judged = replace(context, approvals=tuple(current.approvals))
        problems = execution_problems(current, policy, judged, incident_status=incident.status)
        current.updated_at = now
        if problems:
            refused.extend(problems)
            expired = current.expires_at is not None and current.expires_at <= now
            current.state = ActionState.EXPIRED if expired else ActionState.BLOCKED
            if incident.status is not IncidentStatus.OPEN:
                current.state = ActionState.CANCELLED
            current.error = "; ".join(problems)
            return current
        current.state = ActionState.EXECUTING
        current.claimed_by = claimant
        current.claim_expires_at = now + timedelta(seconds=_claim_seconds(policy, current, terms))
        return current

    stored, changed = await transition(store, request_id, claim)
    if not changed:
        return ExecutionOutcome(stored, False, [_not_runnable(stored)])
    if refused:
        return await _refused(store, stored, refused, now)
    return await _run(store, policy, executors, stored, now)


def _claim_seconds(policy: Policy, request: ActionRequest, terms: ClaimTerms) -> float:
    spec = policy.actions.get(request.proposal.action)
    timeout = spec.executor.timeout_seconds if spec is not None else None
    # The pre-checks that capture values for undo run inside the same claim.
    reads = sum(
        c.executor.timeout_seconds or terms.default_timeout_seconds
        for c in (spec.captures if spec is not None else ())
    )
    return (timeout or terms.default_timeout_seconds) + reads + terms.margin_seconds


def _not_runnable(request: ActionRequest) -> str:
    if request.state in (ActionState.EXECUTING, ActionState.SUCCEEDED, ActionState.FAILED):
        return f"already claimed ({request.state.value} by {request.claimed_by})"
    return f"not runnable: the request is {request.state.value}"


async def _refused(
    store: Store, stored: ActionRequest, problems: list[str], now: datetime
) -> ExecutionOutcome:
    message = "; ".join(problems)
    await timeline.note(
        store,
        stored.incident_id,
        at=now,
        actor=BOT_ACTOR,
        kind=EventKind.for_state(stored.state),
        message=f"{stored.proposal.action} not run: {clip(message, 200)}",
        request_id=stored.id,
        problems=problems,
    )
    log.warning("request %s %s at execution: %s", stored.id, stored.state.value, message)
    return ExecutionOutcome(stored, False, problems)


def _plan(policy: Policy, request: ActionRequest) -> ExecutionPlan:
    plan = render_for(policy, request.proposal, request_id=request.id)
    return replace(plan, incident_id=request.incident_id)


async def _invoke(
    policy: Policy, executors: Executors, request: ActionRequest
) -> tuple[ExecutionPlan | None, RunReport]:
    try:
        plan = _plan(policy, request)
        name = "dry_run" if plan.mode is RunMode.DRY_RUN else plan.kind.value
        executor = executors.get(name)
        if executor is None:
            return plan, RunReport(ok=False, error=f"no {name} executor is configured")
        return plan, await executor.run(plan)
    except ActionError as exc:
        return None, RunReport(ok=False, error=str(exc))
    except Exception as exc:  # an executor bug must still end the run as failed
        log.exception("executor raised for %s", request.id)
        return None, RunReport(ok=False, error=f"executor error: {exc!r}")


async def _run(
    store: Store, policy: Policy, executors: Executors, claimed: ActionRequest, now: datetime
) -> ExecutionOutcome:
    captures = await capture_all(policy, claimed, executors)
    if captures:
        await _note_captures(store, claimed, captures, now)
    plan, report = await _invoke(policy, executors, claimed)
    final = ActionState.SUCCEEDED if report.ok else ActionState.FAILED
    details = {
        **report.detail,
        "plan": plan.describe() if plan else None,
        "mode": plan.mode.value if plan else None,
    }

    def finish(current: ActionRequest) -> ActionRequest | None:
        if current.state is not ActionState.EXECUTING:
            return None
        current.state = final
        current.result = details
        current.error = report.error
        current.captures = captures
        current.updated_at = now
        return current

    stored, finished = await transition(store, claimed.id, finish)
    if not finished:
        # A sweep called the outcome unknown while this ran: the state stays terminal, but
        # what the executor said is still worth the timeline.
        await timeline.note(
            store,
            stored.incident_id,
            at=now,
            actor=claimed.claimed_by or BOT_ACTOR,
            kind=EventKind.ACTION_FINISHED_LATE,
            message=f"{stored.proposal.action} reported {final.value} after its claim lapsed"
            + (f": {clip(report.error, 200)}" if report.error else ""),
            request_id=stored.id,
            result=details,
        )
        return ExecutionOutcome(stored, True, [], report)
    await timeline.note(
        store,
        stored.incident_id,
        at=now,
        actor=BOT_ACTOR,
        kind=EventKind.for_state(final),
        message=f"{stored.proposal.action} {final.value}"
        + (f": {clip(report.error, 200)}" if report.error else ""),
        request_id=stored.id,
        result=details,
    )
    return ExecutionOutcome(stored, True, [], report)


async def _note_captures(
    store: Store, request: ActionRequest, captures: list[Captured], now: datetime
) -> None:
    """The values read for undo (or, on a dry run, what would have been read) on the timeline."""
    shown = []
    for c in captures:
        if c.simulated:
            shown.append(f"{c.name}: would read (dry run)")
        elif c.error:
            shown.append(f"{c.name}: not read ({clip(c.error, 120)})")
        else:
            shown.append(f"{c.name}={clip(str(c.value), 64)}")
    await timeline.note(
        store,
        request.incident_id,
        at=now,
        actor=BOT_ACTOR,
        kind=EventKind.ACTION_CAPTURED,
        message=f"{request.proposal.action} before running: " + "; ".join(shown),
        request_id=request.id,
        captures=[c.model_dump(mode="json") for c in captures],
    )
