"""Rendering an action into exactly what will run (an argv or an HTTP request), the ``Plan`` a
card shows before anyone is asked, and the hash that binds an approval to it (invariant 8).

    render_plan(spec, params, …)   the ExecutionPlan an executor runs (unmasked)
    render_for(policy, proposal)   the same, from a proposal under the current policy
    plan_hash(…)                   sha256 over canonical JSON of (action, canonical service,
                                   params, rendered plan, policy revision)
    bind_plan(policy, proposal)    the masked ``Plan`` to show and its hash, or why neither exists
    card_hash / card_matches       the hash prefix a card's buttons carry, and checking one

The hash covers the unmasked plan, so a masked value (a secret in a parameter) still changes it;
the card shows the masked one. Any edit of the policy files changes the revision, so a plan
approved under one revision never runs under another without being shown again.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import PurePath
from typing import Any

from bot.errors import ActionError
from bot.evidence.templates import render_query
from bot.models import Plan, Proposal
from bot.policy import Policy
from bot.policy.documents import INTERPRETERS, ActionSpec, ExecutorKind, RunMode
from bot.redaction import Redactor

_PLACEHOLDER = re.compile(r"^\{([a-z_][a-z0-9_]*)\}$")
# Control characters (newlines, NUL, escapes) never belong in an argument.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_ARG_CHARS = 512
_ABSENT = object()
# Hex digits of the plan hash a card's buttons carry (64 bits: no card guesses another's).
CARD_HASH_DIGITS = 16
_HEX = re.compile(r"^[0-9a-f]+$")


@dataclass(frozen=True)
class ExecutionPlan:
    """What one execution will do, fully rendered; dry runs record exactly this."""

    request_id: str
    action: str
    kind: ExecutorKind
    mode: RunMode
    timeout_seconds: float | None = None
    argv: tuple[str, ...] = ()
    template: tuple[str, ...] = ()
    method: str = ""
    url: str = ""
    body: dict[str, Any] = field(default_factory=dict)
    # prometheus_query: the rendered PromQL, and the range it covers up to now (0: instant)
    query: str = ""
    range_seconds: float = 0.0
    step_seconds: float = 0.0
    # page: the incident the page is for (its dedup key); set at execution, never hashed.
    incident_id: str = ""

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description for results, timelines and dry runs."""
        if self.kind is ExecutorKind.PROMETHEUS_QUERY:
            return {"executor": "prometheus_query", **self.query_body()}
        if self.kind is ExecutorKind.COMMAND:
            return {"executor": "command", "argv": list(self.argv)}
        if self.kind is ExecutorKind.HTTP:
            return {"executor": "http", "method": self.method, "url": self.url, "body": self.body}
        if self.kind is ExecutorKind.PAGE:
            return {"executor": "page", "incident_id": self.incident_id, "body": self.body}
        return {"executor": "dry_run", "action": self.action}

    def canonical(self) -> dict[str, Any]:
        """Everything that decides what runs, for hashing (the request id is not part of it)."""
        return {
            "kind": self.kind.value,
            "mode": self.mode.value,
            "argv": list(self.argv),
            "method": self.method,
            "url": self.url,
            "body": self.body,
            **({"query": self.query_body()} if self.query else {}),
        }

    def query_body(self) -> dict[str, Any]:
        """A prometheus_query plan's query and range, as shown and hashed."""
        if not self.range_seconds:
            return {"query": self.query}
        return {
            "query": self.query,
            "range_seconds": self.range_seconds,
            "step_seconds": self.step_seconds,
        }


def render_plan(
    spec: ActionSpec, params: dict[str, Any], *, request_id: str, service: str, namespace: str
) -> ExecutionPlan:
    """Substitute validated parameters into the action's template (whole values only)."""
    values = {**params, "service": service, "namespace": namespace}
    executor = spec.executor
    argv: tuple[str, ...] = ()
    body: dict[str, Any] = {}
    if executor.kind is ExecutorKind.COMMAND:
        argv = tuple(_render_arg(element, values) for element in executor.argv)
        check_argv(argv, executor.argv)
    elif executor.kind in (ExecutorKind.HTTP, ExecutorKind.PAGE):
        body = _render_body(executor.body, values)
    query = render_query(executor.query, values) if executor.query else ""
    return ExecutionPlan(
        request_id=request_id,
        action=spec.name,
        kind=executor.kind,
        mode=executor.mode,
        timeout_seconds=executor.timeout_seconds,
        argv=argv,
        template=executor.argv,
        method=executor.method,
        url=executor.url,
        body=body,
        query=query,
        range_seconds=executor.range_seconds,
        step_seconds=executor.step_seconds,
    )


def _render_arg(element: str, values: dict[str, Any]) -> str:
    match = _PLACEHOLDER.match(element)
    if match is None:
        return element
    name = match.group(1)
    if name not in values:
        raise ActionError(f"argv placeholder {{{name}}} has no value")
    return safe_argument(name, values[name])


def safe_argument(name: str, value: Any) -> str:
    """One argv element from one parameter; refuses anything a program could misread."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        raise ActionError(f"parameter {name}: {type(value).__name__} cannot be an argument")
    if not text or len(text) > MAX_ARG_CHARS:
        raise ActionError(f"parameter {name}: empty or longer than {MAX_ARG_CHARS} characters")
    if text.startswith("-"):
        raise ActionError(f"parameter {name}: may not start with '-' (it would read as a flag)")
    if _CONTROL.search(text):
        raise ActionError(f"parameter {name}: contains control characters")
    return text


def check_argv(argv: tuple[str, ...], template: tuple[str, ...]) -> None:
    """Refuse an argv that is not its template's shape or that starts an interpreter."""
    if not argv or len(argv) != len(template):
        raise ActionError("argv does not match its template")
    for rendered, element in zip(argv, template, strict=True):
        match = _PLACEHOLDER.match(element)
        if match is None and rendered != element:
            raise ActionError(f"argv element {rendered!r} differs from the template")
        if match is not None:
            safe_argument(match.group(1), rendered)
    if _PLACEHOLDER.match(template[0]) is not None:
        raise ActionError("the program of a command must be literal")
    if PurePath(argv[0]).name.lower() in INTERPRETERS:
        raise ActionError(f"{argv[0]!r} is an interpreter; commands never run through one")


def _render_body(template: Any, values: dict[str, Any]) -> Any:
    if isinstance(template, str):
        match = _PLACEHOLDER.match(template)
        return values.get(match.group(1), _ABSENT) if match else template
    if isinstance(template, dict):
        rendered = {key: _render_body(value, values) for key, value in template.items()}
        return {key: value for key, value in rendered.items() if value is not _ABSENT}
    if isinstance(template, list):
        return [item for item in (_render_body(v, values) for v in template) if item is not _ABSENT]
    return template


def fill(template: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A parameter template filled with whole values (``"{name}"``); absent names drop out."""
    filled = _render_body(template, values)
    return filled if isinstance(filled, dict) else {}


def render_for(policy: Policy, proposal: Proposal, *, request_id: str = "") -> ExecutionPlan:
    """The plan the current ``policy`` renders for ``proposal``; ActionError when it cannot."""
    spec = policy.actions.get(proposal.action) if isinstance(proposal.action, str) else None
    if spec is None:
        raise ActionError(f"{str(proposal.action)[:64]!r} is not in the allowlist")
    target = policy.resolve_service(proposal.service)
    if target.spec is None:
        raise ActionError(f"service {target.name[:64]!r} is not in services.yaml (no namespace)")
    return render_plan(
        spec,
        proposal.params,
        request_id=request_id,
        service=target.name,
        namespace=target.spec.namespace,
    )


def plan_hash(proposal: Proposal, service: str, plan: ExecutionPlan, policy_revision: str) -> str:
    """sha256 (hex) over canonical JSON of what an approval is bound to; key order never matters."""
    document = {
        "action": proposal.action,
        "service": service,
        "params": proposal.params,
        "plan": plan.canonical(),
        "policy_revision": policy_revision,
    }
    try:
        canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ActionError(f"the plan cannot be hashed: {exc}") from exc
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def current_hash(policy: Policy, proposal: Proposal) -> str:
    """The hash ``proposal``'s plan has under the current ``policy``; ActionError if none."""
    plan = render_for(policy, proposal)
    service = policy.resolve_service(proposal.service).name
    return plan_hash(proposal, service, plan, policy.revision)


@dataclass(frozen=True)
class PlanBinding:
    """A proposal's plan as people see it (masked) and the hash approvals are bound to; or,
    when it cannot render, why (``problem``) and neither."""

    plan: Plan | None
    hash: str = ""
    problem: str | None = None


@cache
def default_redactor() -> Redactor:
    """The built-in redaction rules, for callers that were given no configured redactor."""
    return Redactor()


def bind_plan(
    policy: Policy, proposal: Proposal, *, redactor: Redactor | None = None
) -> PlanBinding:
    """Render ``proposal`` under ``policy``: the masked Plan to show and its hash."""
    try:
        rendered = render_for(policy, proposal)
        digest = current_hash(policy, proposal)
    except ActionError as exc:
        return PlanBinding(None, problem=str(exc))
    spec = policy.actions[proposal.action]
    shown = masked(rendered, read_only=spec.read_only, redactor=redactor or default_redactor())
    return PlanBinding(shown, digest)


def masked(plan: ExecutionPlan, *, read_only: bool, redactor: Redactor) -> Plan:
    """``plan`` as people may see it: parameters through the redactor, no token anywhere."""
    argv: list[str] = []
    for element in plan.argv:
        # ``--password VALUE``: the flag names what the next element is.
        flag = argv[-1].lstrip("-") if argv and argv[-1].startswith("-") else ""
        argv.append(redactor.redact_value(flag, element) if flag else redactor.redact(element))
    return Plan(
        kind=plan.kind.value,
        mode=plan.mode.value,
        read_only=read_only,
        argv=argv,
        method=plan.method if plan.kind is ExecutorKind.HTTP else "GET" if plan.query else "",
        url=redactor.redact(plan.url) if plan.kind is ExecutorKind.HTTP else _query_path(plan),
        body=redactor.redact_obj(plan.query_body() if plan.query else plan.body),
        summary=_summary(plan),
    )


def _query_path(plan: ExecutionPlan) -> str:
    if not plan.query:
        return ""
    return "/api/v1/query_range" if plan.range_seconds else "/api/v1/query"


def _summary(plan: ExecutionPlan) -> str:
    dry = plan.mode is RunMode.DRY_RUN
    if plan.kind is ExecutorKind.COMMAND:
        if dry:
            return "Dry run: would run this command; it is recorded and nothing runs"
        return "Will run this command (no shell)"
    if plan.kind is ExecutorKind.HTTP:
        if dry:
            return f"Dry run: would send this {plan.method} request; it is recorded, not sent"
        return f"Will send this {plan.method} request (the bearer token is added at run time)"
    if plan.kind is ExecutorKind.PAGE:
        if dry:
            return "Dry run: would page the on-call named here; it is recorded, no one is paged"
        return "Will page the on-call named here (PagerDuty / Opsgenie, one page per incident)"
    if plan.kind is ExecutorKind.PROMETHEUS_QUERY:
        what = "range query" if plan.range_seconds else "instant query"
        if dry:
            return f"Dry run: would send this Prometheus {what}; it is recorded, not sent"
        return f"Will send this read-only Prometheus {what}"
    return "Dry run: the action is recorded and nothing runs"


def card_hash(full_hash: str) -> str:
    """The prefix of a plan hash that a card's Approve / Deny buttons carry."""
    return full_hash[:CARD_HASH_DIGITS]


def card_matches(full_hash: str, shown: str) -> bool:
    """True when a button's hash names this plan hash (a long enough prefix of it)."""
    return (
        bool(full_hash)
        and len(shown) >= CARD_HASH_DIGITS
        and _HEX.match(shown) is not None
        and full_hash.startswith(shown)
    )
