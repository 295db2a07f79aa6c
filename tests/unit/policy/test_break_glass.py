"""Break-glass in policy.evaluate: a freeze that allows it yields to a recorded break-glass with
one more approval, from the break-glass group; other denials never yield."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.errors import PolicyError
from bot.models import (
    Approval,
    BreakGlass,
    Category,
    DecisionOutcome,
    Proposal,
    Severity,
    Vote,
)
from bot.policy import EvaluationContext, Policy, load_policy

FROZEN = datetime(2026, 12, 28, 12, 0, tzinfo=UTC)  # the shipped year-end freeze
SCALE = Proposal(
    action="scale_deployment",
    service="checkout",
    params={"deployment": "checkout-api", "replicas": 4},
)
GLASS = BreakGlass(by="U0ONCALL01", at=FROZEN, justification="down for all", of_request="act-1")
CONTEXT = EvaluationContext(
    category=Category.LATENCY, severity=Severity.SEV1, confidence=0.9, now=FROZEN
)
GROUPS = {"S0BREAKGLASS": frozenset({"U0GLASS001"}), "S0CHECKOUT": frozenset({"U0CHKDEV01"})}


def votes(*users: str) -> tuple[Approval, ...]:
    return tuple(
        Approval(request_id="act-2", user_id=u, vote=Vote.APPROVE, at=FROZEN) for u in users
    )


def test_a_freeze_that_allows_it_denies_and_offers_break_glass(policy: Policy) -> None:
    decision = policy.evaluate(SCALE, CONTEXT)
    assert decision.outcome is DecisionOutcome.DENY
    assert decision.break_glass_possible
    assert "break glass is allowed" in " ".join(decision.denials)


def test_a_recorded_break_glass_asks_one_more_approval_from_the_group(policy: Policy) -> None:
    glass = replace(CONTEXT, break_glass=GLASS, group_members=GROUPS)
    decision = policy.evaluate(SCALE, glass)
    assert decision.outcome is DecisionOutcome.REQUIRE_APPROVAL
    assert (
        decision.approvals_required == policy.approvals_required("scale_deployment", "checkout") + 1
    )
    assert "S0BREAKGLASS" in decision.eligible_approvers
    assert "freeze.break_glass" in [hit.rule_id for hit in decision.reasons]

    def judged(*users: str) -> DecisionOutcome:
        return policy.evaluate(SCALE, replace(glass, approvals=votes(*users))).outcome

    assert judged("U0CHKLEAD1") is DecisionOutcome.REQUIRE_APPROVAL
    assert judged("U0CHKLEAD1", "U0CHKDEV01") is DecisionOutcome.REQUIRE_APPROVAL  # none from group
    assert judged("U0GLASS001") is DecisionOutcome.REQUIRE_APPROVAL  # the usual one is missing
    assert judged("U0CHKLEAD1", "U0GLASS001") is DecisionOutcome.ALLOW
    # The person who broke the glass is the requester: their vote never counts.
    own = replace(glass, requester="U0GLASS001")
    outcome = policy.evaluate(SCALE, replace(own, approvals=votes("U0CHKLEAD1", "U0GLASS001")))
    assert outcome.outcome is DecisionOutcome.REQUIRE_APPROVAL


def test_other_denials_never_yield_to_break_glass(policy: Policy) -> None:
    foreign = SCALE.model_copy(update={"params": {"deployment": "not-ours", "replicas": 4}})
    assert not policy.evaluate(foreign, CONTEXT).break_glass_possible
    broken = policy.evaluate(foreign, replace(CONTEXT, break_glass=GLASS))
    assert broken.outcome is DecisionOutcome.DENY


def test_a_freeze_without_break_glass_stays_a_wall(policy_dir: Path) -> None:
    rules = policy_dir / "rules.yaml"
    rules.write_text(rules.read_text().replace("    break_glass: true\n", ""))
    policy = load_policy(policy_dir)
    assert not policy.evaluate(SCALE, CONTEXT).break_glass_possible
    assert (
        policy.evaluate(SCALE, replace(CONTEXT, break_glass=GLASS)).outcome is DecisionOutcome.DENY
    )


def test_break_glass_without_approvers_fails_closed(policy_dir: Path) -> None:
    rules = policy_dir / "rules.yaml"
    rules.write_text(rules.read_text().replace("break_glass_approvers: [S0BREAKGLASS]\n", ""))
    with pytest.raises(PolicyError, match="break_glass_approvers"):
        load_policy(policy_dir)


def test_an_inverse_may_only_use_parameters_and_captured_names(policy_dir: Path) -> None:
    actions = policy_dir / "actions.yaml"
    actions.write_text(
        actions.read_text().replace('replicas: "{previous_replicas}"', 'replicas: "{nope}"')
    )
    with pytest.raises(PolicyError, match=r"actions\.scale_deployment\.inverse\.params"):
        load_policy(policy_dir)
