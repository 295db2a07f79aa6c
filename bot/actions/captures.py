"""Undo: values read before an action changes anything, and the inverse request they allow.

An action may declare ``capture`` (read-only pre-checks, each with a rule that picks one value
out of its output) and ``inverse`` (the action that undoes it, its parameters templated over
the original parameters and the captured names). ``execute`` runs the pre-checks through the
executors after the claim and before the change, in the action's own mode:

    capture_all(...)      the pre-checks run (or, on a dry run, recorded as "would capture")
    read_value(...)       one value from one output: a dotted JSON path or a regex's group 1
    inverse_proposal(...) the Proposal that undoes a succeeded request, or why there is none

A dry run reads nothing, so its captures are marked ``simulated`` with no value, and no undo is
offered for it: an inverse built on a made-up value would be a guess shown as a plan.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace
from typing import Any

from bot.actions.plans import ExecutionPlan, default_redactor, fill, masked, render_plan
from bot.errors import ActionError
from bot.models import ActionRequest, ActionState, Captured, Proposal
from bot.policy import Policy
from bot.policy.documents import ActionSpec, CaptureSource, CaptureSpec, RunMode
from bot.ports import Executors, RunReport

log = logging.getLogger(__name__)

MAX_VALUE_CHARS = 256


def capture_plan(
    spec: ActionSpec,
    capture: CaptureSpec,
    params: dict[str, Any],
    *,
    request_id: str,
    service: str,
    namespace: str,
) -> ExecutionPlan:
    """The pre-check's plan: its template filled like the action's, in the action's mode."""
    reader = replace(
        spec,
        name=f"{spec.name}.capture.{capture.name}",
        executor=replace(capture.executor, mode=spec.executor.mode),
    )
    return render_plan(reader, params, request_id=request_id, service=service, namespace=namespace)


def output_of(report: RunReport) -> str:
    """The text a pre-check returned: a command's stdout, a response body, a query's summary."""
    detail = report.detail
    for key in ("stdout", "response"):
        if isinstance(detail.get(key), str):
            return str(detail[key])
    if detail.get("summary") is not None:
        return json.dumps(detail["summary"])
    return str(detail.get("text", ""))


def read_value(capture: CaptureSpec, output: str) -> Any:
    """Pick the captured value out of ``output`` and convert it; ActionError when it is absent."""
    if capture.source is CaptureSource.REGEX:
        match = re.search(capture.rule, output)
        if match is None or match.group(1) is None:
            raise ActionError(f"{capture.name}: /{capture.rule}/ does not match the output")
        found: Any = match.group(1)
    else:
        try:
            found = json.loads(output)
        except ValueError:
            raise ActionError(f"{capture.name}: the output is not JSON") from None
        for step in capture.rule.split("."):
            if isinstance(found, list) and step.isdigit() and int(step) < len(found):
                found = found[int(step)]
            elif isinstance(found, dict) and step in found:
                found = found[step]
            else:
                raise ActionError(f"{capture.name}: {capture.rule} is not in the output")
    return _convert(capture, found)


def _convert(capture: CaptureSpec, value: Any) -> Any:
    kind = capture.as_type
    try:
        if kind == "integer" and not isinstance(value, bool | float):
            return int(value)
        if kind == "number" and not isinstance(value, bool):
            return float(value)
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "false"):
                return str(value).lower() == "true"
        if kind == "string" and isinstance(value, str | int | float | bool):
            text = str(value)
            if len(text) <= MAX_VALUE_CHARS:
                return text
    except (TypeError, ValueError):
        pass
    raise ActionError(f"{capture.name}: {str(value)[:64]!r} is not a usable {kind}")


async def capture_all(
    policy: Policy, request: ActionRequest, executors: Executors
) -> list[Captured]:
    """Run every pre-check of the request's action (dry run: record what would be read)."""
    spec = policy.actions.get(request.proposal.action)
    if spec is None or not spec.captures:
        return []
    target = policy.resolve_service(request.proposal.service)
    namespace = target.spec.namespace if target.spec is not None else ""
    captured: list[Captured] = []
    for capture in spec.captures:
        captured.append(
            await _capture_one(spec, capture, request, target.name, namespace, executors)
        )
    return captured


async def _capture_one(
    spec: ActionSpec,
    capture: CaptureSpec,
    request: ActionRequest,
    service: str,
    namespace: str,
    executors: Executors,
) -> Captured:
    try:
        plan = capture_plan(
            spec,
            capture,
            request.proposal.params,
            request_id=request.id,
            service=service,
            namespace=namespace,
        )
    except ActionError as exc:
        return Captured(name=capture.name, error=f"the pre-check cannot render: {exc}")
    shown = masked(plan, read_only=True, redactor=default_redactor()).shown()
    if plan.mode is RunMode.DRY_RUN:
        return Captured(name=capture.name, read=shown, simulated=True)
    executor = executors.get(plan.kind.value)
    if executor is None:
        return Captured(name=capture.name, read=shown, error=f"no {plan.kind.value} executor")
    try:
        report = await executor.run(plan)
    except Exception as exc:  # a broken pre-check must not stop the action it guards
        log.exception("pre-check raised", extra={"request_id": request.id})
        return Captured(name=capture.name, read=shown, error=f"pre-check error: {exc!r}")
    if not report.ok:
        return Captured(name=capture.name, read=shown, error=report.error or "pre-check failed")
    try:
        value = read_value(capture, output_of(report))
    except ActionError as exc:
        return Captured(name=capture.name, read=shown, error=str(exc))
    return Captured(name=capture.name, read=shown, value=value)


def undo_problem(policy: Policy, request: ActionRequest) -> str | None:
    """Why ``request`` cannot be undone (None: it can, policy and approvals permitting)."""
    spec = policy.actions.get(request.proposal.action)
    if spec is None or spec.inverse is None:
        return f"{request.proposal.action[:64]} declares no inverse"
    if request.state is not ActionState.SUCCEEDED:
        return f"only a succeeded request can be undone (this one is {request.state.value})"
    if not request.captures:
        return "nothing was captured before it ran"
    simulated = [c.name for c in request.captures if c.simulated]
    if simulated:
        return f"it was a dry run: {', '.join(simulated)} would have been read, nothing was"
    missing = [c.name for c in request.captures if not c.usable]
    if missing:
        return f"{', '.join(missing)} could not be read before it ran"
    return None


def inverse_proposal(policy: Policy, request: ActionRequest) -> Proposal:
    """The proposal that undoes ``request``; ActionError when it cannot be undone."""
    problem = undo_problem(policy, request)
    if problem is not None:
        raise ActionError(problem)
    spec = policy.actions[request.proposal.action]
    assert spec.inverse is not None  # undo_problem checked it
    values = {**request.proposal.params, **{c.name: c.value for c in request.captures}}
    return Proposal(
        action=spec.inverse.action,
        service=request.proposal.service,
        params=fill(spec.inverse.params, values),
        rationale=f"undo of {request.id}: {request.proposal.action} with the values read "
        "before it ran",
    )
