"""The policy test cases in policies/tests/*.yaml, one pytest case each."""

from __future__ import annotations

import pytest

from bot.config import PROJECT_ROOT
from bot.models import Proposal
from bot.policy import Policy
from bot.policy.cases import PolicyCase, load_cases, run_case

CASES = load_cases(PROJECT_ROOT / "policies")


def test_shipped_policy_has_at_least_thirty_cases() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_policy_case(policy: Policy, case: PolicyCase) -> None:
    result = run_case(policy, case)
    assert result.passed, "\n".join(result.problems)


def test_every_rule_the_engine_can_fire_is_covered_by_a_case(policy: Policy) -> None:
    fired = {hit.rule_id for case in CASES for hit in run_case(policy, case).decision.reasons}
    # action.needs_approval needs a read-only action without `auto`; none ships, so
    # tests/unit/policy/test_engine.py covers it with a policy of its own.
    engine_rules = {
        "action.unknown", "service.invalid", "service.suspicious", "service.lookalike",
        "service.lookalike_incident",
        "service.unknown", "service.tier_critical", "category.invalid", "category.security",
        "category.unknown", "category.action_not_allowed", "params.invalid",
        "params.deployment_not_owned", "limits.max_pending", "freeze.global", "freeze.service",
        "confidence.low", "tier.critical_needs_approval", "action.state_changing",
        "action.read_only_auto", "approvals.requester_ignored", "approvals.ineligible_ignored",
        "approvals.vetoed", "approvals.satisfied", "approvals.insufficient",
        "page.own_oncall", "page.other_team", "page.unknown_team",
    }  # fmt: skip
    assert engine_rules <= fired, sorted(engine_rules - fired)


def test_a_wrong_expectation_is_reported(policy: Policy) -> None:
    case = CASES[0]
    wrong = PolicyCase(
        file=case.file,
        name="wrong on purpose",
        proposal=Proposal(action="delete_database", service="cart-service"),
        context=case.context,
        expect={
            "outcome": "allow",
            "reasons": ["action.read_only_auto"],
            "not_reasons": ["action.unknown"],
            "approvals_required": 3,
        },
    )
    result = run_case(policy, wrong)
    assert not result.passed
    assert len(result.problems) == 4
