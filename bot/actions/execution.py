"""execute(): the only door to side effects. Re-checks safety invariant 2, claims once, runs."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from bot import timeline
from bot.actions.executors import ExecutionResult, Executors
from bot.actions.lifecycle import BOT_ACTOR, CAS_ATTEMPTS, evaluation_context, transition
from bot.actions.plans import ExecutionPlan, render_plan
from bot.errors import ActionError, Conflict
from bot.models import ActionRequest, ActionState, DecisionOutcome, Vote
from bot.policy import EvaluationContext, Policy
from bot.policy.approvers import is_eligible
from bot.policy.documents import RunMode
from bot.policy.params import clip, schema_problem, shape_problem
from bot.store.base import Store

log = logging.getLogger(__name__)


@dataclass
class ExecutionOutcome:
    """What execute() did: the stored request afterwards and whether an executor was invoked."""

    request: ActionRequest
    ran: bool
    message: str
    result: ExecutionResult | None = None


def execution_problems(
    request: ActionRequest, policy: Policy, context: EvaluationContext
) -> list[str]:
    """Every reason safety invariant 2 forbids running ``request`` now; empty means run it."""
    problems: list[str] = []
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
    decision = policy.evaluate(proposal, context)
    if decision.outcome is not DecisionOutcome.ALLOW:
        refusing = [h.reason for h in decision.reasons if h.effect in ("deny", "require_approval")]
        problems.append(f"policy says {decision.outcome.value}: " + "; ".join(refusing))
    approvers = policy.eligible_approvers(proposal.service)
    for approval in request.approvals:
        if approval.vote != Vote.APPROVE:
            problems.append(f"{approval.user_id} voted {approval.vote}")
        elif approval.user_id == request.requested_by:
            problems.append(f"{approval.user_id} approved their own request")
        elif not is_eligible(approval.user_id, approvers, context.group_members):
            problems.append(f"{approval.user_id} is not an eligible approver")
    return [clip(problem) for problem in problems]


async def execute(
    request_id: str,
    *,
    store: Store,
    policy: Policy,
    executors: Executors,
    now: datetime,
    group_members: Mapping[str, frozenset[str]] | None = None,
    claimant: str = BOT_ACTOR,
) -> ExecutionOutcome:
    """Re-check, claim exactly once by CAS approved -> executing, run, and record the result."""
    members = group_members or {}
    for _ in range(CAS_ATTEMPTS):
        request = await store.get_action_request(request_id)
        if request.state is not ActionState.APPROVED:
            return ExecutionOutcome(request, False, _not_runnable(request))
        context = await evaluation_context(store, request, now, members)
        problems = execution_problems(request, policy, context)
        try:
            if problems:
                return await _refuse(store, request, problems, now)
            claimed = request.model_copy(
                update={"state": ActionState.EXECUTING, "claimed_by": claimant, "updated_at": now}
            )
            claimed = await store.update_action_request(claimed)
        except Conflict:
            continue  # it changed under us: read it again and judge it again
        return await _run(store, policy, executors, claimed, now)
    raise Conflict(f"request {request_id}: gave up after {CAS_ATTEMPTS} concurrent updates")


def _not_runnable(request: ActionRequest) -> str:
    if request.state in (ActionState.EXECUTING, ActionState.SUCCEEDED, ActionState.FAILED):
        return f"already claimed ({request.state.value} by {request.claimed_by})"
    return f"not runnable: the request is {request.state.value}"


async def _refuse(
    store: Store, request: ActionRequest, problems: list[str], now: datetime
) -> ExecutionOutcome:
    expired = request.expires_at is not None and request.expires_at <= now
    target = ActionState.EXPIRED if expired else ActionState.BLOCKED
    message = "; ".join(problems)
    stored = await store.update_action_request(
        request.model_copy(update={"state": target, "error": message, "updated_at": now})
    )
    await timeline.note(
        store,
        stored.incident_id,
        at=now,
        actor=BOT_ACTOR,
        kind=f"action.{target.value}",
        message=f"{stored.proposal.action} not run: {clip(message, 200)}",
        request_id=stored.id,
        problems=problems,
    )
    log.warning("request %s %s at execution: %s", stored.id, target.value, message)
    return ExecutionOutcome(stored, False, f"{target.value}: {message}")


def _plan(policy: Policy, request: ActionRequest) -> ExecutionPlan:
    spec = policy.actions.get(request.proposal.action)
    target = policy.resolve_service(request.proposal.service)
    if spec is None or target.spec is None:
        raise ActionError("the action or service vanished from policy")
    return render_plan(
        spec,
        request.proposal.params,
        request_id=request.id,
        service=target.name,
        namespace=target.spec.namespace,
    )


async def _invoke(
    policy: Policy, executors: Executors, request: ActionRequest
) -> tuple[ExecutionPlan | None, ExecutionResult]:
    try:
        plan = _plan(policy, request)
        name = "dry_run" if plan.mode is RunMode.DRY_RUN else plan.kind.value
        executor = executors.get(name)
        if executor is None:
            return plan, ExecutionResult(ok=False, error=f"no {name} executor is configured")
        return plan, await executor.run(plan)
    except ActionError as exc:
        return None, ExecutionResult(ok=False, error=str(exc))
    except Exception as exc:  # an executor bug must still end the run as failed
        log.exception("executor raised for %s", request.id)
        return None, ExecutionResult(ok=False, error=f"executor error: {exc!r}")


async def _run(
    store: Store, policy: Policy, executors: Executors, claimed: ActionRequest, now: datetime
) -> ExecutionOutcome:
    plan, result = await _invoke(policy, executors, claimed)
    final = ActionState.SUCCEEDED if result.ok else ActionState.FAILED
    details = {
        **result.detail,
        "plan": plan.describe() if plan else None,
        "mode": plan.mode.value if plan else None,
    }

    def finish(current: ActionRequest) -> ActionRequest | None:
        if current.state is not ActionState.EXECUTING:
            return None
        current.state = final
        current.result = details
        current.error = result.error
        current.updated_at = now
        return current

    stored, _ = await transition(store, claimed.id, finish)
    await timeline.note(
        store,
        stored.incident_id,
        at=now,
        actor=BOT_ACTOR,
        kind=f"action.{final.value}",
        message=f"{stored.proposal.action} {final.value}"
        + (f": {clip(result.error, 200)}" if result.error else ""),
        request_id=stored.id,
        result=details,
    )
    verb = "ran" if plan is None or plan.mode is RunMode.LIVE else "dry-ran"
    return ExecutionOutcome(stored, True, f"{verb} {stored.proposal.action}: {final.value}", result)
