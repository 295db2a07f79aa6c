"""Validation of a model's reply against the triage schema, and assembly of the Triage.

Pure: text and values in, a Verdict out. The model's reply is untrusted data; anything that is
not one JSON object matching the run-time schema (actions from the allowlist, services from the
incident) is an error the caller may feed back to the model.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator

from bot.models import Category, ExecutionStatus, Proposal, RunbookRef, Severity, Triage
from bot.triage.context import NOTIFY_ACTION, NOTIFY_ONLY_CATEGORIES, TriageContext

# Keys a model may leave out; each default is the safe state (no claim, no action).
OPTIONAL_DEFAULTS: dict[str, Any] = {
    "root_cause": "",
    "reasoning": "",
    "confidence": 0.0,
    "runbook_ids": [],
    "proposals": [],
}
PROPOSAL_DEFAULTS: dict[str, Any] = {"params": [], "rationale": ""}
MAX_REPLY_CHARS = 100_000
MAX_ERRORS = 10
_FENCE = re.compile(r"\A\s*```(?:json)?\s*\n(.*)\n\s*```\s*\Z", re.DOTALL)


@dataclass(frozen=True)
class Verdict:
    """A valid Triage (status COMPLETED) or the errors that made the reply invalid."""

    triage: Triage | None
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the reply produced a Triage."""
        return self.triage is not None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def parse_reply(raw: str) -> tuple[Any, str | None]:
    """Decode the reply as JSON (one optional code fence tolerated); (value, error)."""
    if len(raw) > MAX_REPLY_CHARS:
        return None, f"reply is too long ({len(raw)} characters)"
    fenced = _FENCE.match(raw)
    text = fenced.group(1) if fenced else raw
    try:
        return json.loads(text, parse_constant=_reject_constant), None
    except (ValueError, RecursionError) as exc:
        return None, f"reply is not valid JSON: {str(exc)[:200]}"


def _fill(item: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    filled = dict(item)
    for key, default in defaults.items():
        if filled.get(key) is None:
            filled[key] = list(default) if isinstance(default, list) else default
    return filled


def _with_defaults(data: dict[str, Any]) -> dict[str, Any]:
    filled = _fill(data, OPTIONAL_DEFAULTS)
    if isinstance(filled["proposals"], list):
        filled["proposals"] = [
            _fill(item, PROPOSAL_DEFAULTS) if isinstance(item, dict) else item
            for item in filled["proposals"]
        ]
    return filled


def _schema_errors(data: Any, schema: dict[str, Any]) -> list[str]:
    validator = Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    messages = []
    for error in errors[:MAX_ERRORS]:
        where = "/".join(str(part) for part in error.absolute_path) or "(root)"
        messages.append(f"at {where}: {error.message[:300]}")
    return messages


def _param_errors(data: dict[str, Any]) -> list[str]:
    errors = []
    for index, proposal in enumerate(data["proposals"]):
        names = [pair["name"] for pair in proposal["params"]]
        if len(names) != len(set(names)):
            errors.append(f"at proposals/{index}/params: parameter names must be unique")
    return errors


def check_reply(raw: str, schema: dict[str, Any], ctx: TriageContext) -> Verdict:
    """Validate one raw reply; a valid one becomes a COMPLETED Triage for ``ctx``."""
    data, error = parse_reply(raw)
    if error is not None:
        return Verdict(None, [error])
    if not isinstance(data, dict):
        return Verdict(None, [f"reply must be a JSON object, got {type(data).__name__}"])
    data = _with_defaults(data)
    errors = _schema_errors(data, schema)
    if not errors:
        errors = _param_errors(data)
    if errors:
        return Verdict(None, errors)
    return Verdict(assemble(data, ctx))


def assemble(data: dict[str, Any], ctx: TriageContext) -> Triage:
    """Build the Triage from a schema-valid reply, enforcing the allowlist once more."""
    notes: list[str] = []
    category = Category(data["category"])
    refs: dict[str, RunbookRef] = {}
    for cited in data["runbook_ids"]:
        chunks = ctx.chunk_for(cited)
        if not chunks:
            notes.append(f"cited runbook {cited[:80]!r} was not in the context; dropped")
        for chunk in chunks:
            refs.setdefault(chunk.runbook_id, chunk.ref())  # one citation per runbook
    proposals = _proposals(data["proposals"], category, ctx, notes)
    return Triage(
        incident_id=ctx.incident.id,
        category=category,
        severity=Severity(data["severity"]),
        summary=data["summary"],
        root_cause=data["root_cause"],
        reasoning=data["reasoning"],
        confidence=float(data["confidence"]),
        runbooks=list(refs.values()),
        proposals=proposals,
        execution_status=ExecutionStatus.COMPLETED,
        errors=notes,
        created_at=ctx.now,
    )


def _proposals(
    items: list[dict[str, Any]], category: Category, ctx: TriageContext, notes: list[str]
) -> list[Proposal]:
    allowed_actions = set(ctx.allowed_actions)
    allowed_services = set(ctx.allowed_services)
    proposals = []
    for item in items:
        action, service = item["action"], item["service"]
        # The schema already limits both; this guard keeps the invariant if the schema drifts.
        if action not in allowed_actions or service not in allowed_services:
            notes.append(f"proposal {action!r} for {service!r} is outside the allowlist; dropped")
            continue
        if category in NOTIFY_ONLY_CATEGORIES and action != NOTIFY_ACTION:
            notes.append(f"{category.value} incidents are notify-only; dropped {action!r}")
            continue
        params = {pair["name"]: pair["value"] for pair in item["params"]}
        proposals.append(
            Proposal(action=action, service=service, params=params, rationale=item["rationale"])
        )
    return proposals
