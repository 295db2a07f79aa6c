"""Policy unit tests kept as data (policies/tests/*.yaml): load them and run them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from bot.errors import PolicyError
from bot.models import Approval, Category, Decision, Proposal, Severity, Vote
from bot.policy.engine import EvaluationContext, Policy
from bot.policy.files import display_name, read_schemas, read_yaml, validate_document

CASES_SCHEMA = "policy-tests.schema.json"


@dataclass(frozen=True)
class PolicyCase:
    """One input to evaluate() and what the decision must look like."""

    file: str
    name: str
    proposal: Proposal
    context: EvaluationContext
    expect: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """A stable identifier: file stem and case name."""
        return f"{Path(self.file).stem}::{self.name}"


@dataclass(frozen=True)
class CaseResult:
    case: PolicyCase
    decision: Decision
    problems: list[str]

    @property
    def passed(self) -> bool:
        """True when the decision met every expectation."""
        return not self.problems


def load_cases(policy_dir: Path) -> list[PolicyCase]:
    """Every case in ``policy_dir/tests/*.yaml``; PolicyError on a malformed file."""
    schemas, registry, _ = read_schemas(policy_dir / "schema")
    schema = schemas.get(CASES_SCHEMA)
    if schema is None:
        raise PolicyError(f"{display_name(policy_dir / 'schema')}: {CASES_SCHEMA} is missing")
    cases: list[PolicyCase] = []
    for path in sorted((policy_dir / "tests").glob("*.yaml")):
        document, _ = read_yaml(path)
        validate_document(document, schema, registry, path)
        defaults = document.get("defaults", {})
        for index, raw in enumerate(document["cases"]):
            try:
                cases.append(_build_case(path, raw, defaults))
            except (ValueError, TypeError) as exc:
                where = f"cases[{index}]"
                raise PolicyError(f"{display_name(path)}: {where}: {exc}") from None
    return cases


def _build_case(path: Path, raw: dict[str, Any], defaults: dict[str, Any]) -> PolicyCase:
    merged = {**defaults, **raw.get("context", {})}
    now = datetime.fromisoformat(str(merged.get("now", "2026-11-10T12:00:00Z")))
    category = str(merged.get("category", "latency"))
    approvals = tuple(
        Approval(
            request_id="case",
            user_id=item["user_id"],
            vote=Vote(item.get("vote", "approve")),
            at=now,
        )
        for item in merged.get("approvals", [])
    )
    context = EvaluationContext(
        # Cases may name an invalid category on purpose, to test the rule that refuses it.
        category=Category(category)
        if category in Category.__members__.values()
        else cast(Category, category),
        severity=Severity(merged.get("severity", "SEV2")),
        confidence=float(merged.get("confidence", 0.9)),
        now=now,
        requester=str(merged.get("requester", "incident-bot")),
        pending_actions=int(merged.get("pending_actions", 0)),
        approvals=approvals,
        group_members={
            group: frozenset(members) for group, members in merged.get("group_members", {}).items()
        },
        service_flags=tuple(str(flag) for flag in merged.get("service_flags", [])),
    )
    proposal = Proposal(
        action=raw["proposal"]["action"],
        service=raw["proposal"]["service"],
        params=raw["proposal"].get("params", {}),
    )
    return PolicyCase(
        file=str(path), name=raw["name"], proposal=proposal, context=context, expect=raw["expect"]
    )


def run_case(policy: Policy, case: PolicyCase) -> CaseResult:
    """Evaluate one case and list every way the decision differs from the expectation."""
    decision = policy.evaluate(case.proposal, case.context)
    problems: list[str] = []
    if decision.outcome.value != case.expect["outcome"]:
        problems.append(f"outcome {decision.outcome.value}, expected {case.expect['outcome']}")
    wanted = case.expect.get("approvals_required")
    if wanted is not None and decision.approvals_required != wanted:
        problems.append(f"approvals_required {decision.approvals_required}, expected {wanted}")
    fired = [hit.rule_id for hit in decision.reasons]
    if not _in_order(case.expect.get("reasons", []), fired):
        problems.append(f"reasons {fired}, expected in order {case.expect['reasons']}")
    unwanted = [rule for rule in case.expect.get("not_reasons", []) if rule in fired]
    if unwanted:
        problems.append(f"rules {unwanted} fired but must not")
    return CaseResult(case=case, decision=decision, problems=problems)


def _in_order(expected: list[str], fired: list[str]) -> bool:
    remaining = iter(fired)
    return all(rule in remaining for rule in expected)
