"""evaluate(): invariant 3 (critical services, canonical names) and hostile proposals."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.models import Approval, Category, DecisionOutcome, Proposal, Severity
from bot.policy import EvaluationContext, Policy, load_policy
from bot.policy.documents import ExecutorKind, Tier

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
CONTEXT = EvaluationContext(
    category=Category.LATENCY, severity=Severity.SEV1, confidence=0.95, now=NOW
)
HOMOGLYPHS = {"a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441"}
INVISIBLE = ["\u200b", "\u200d", "\u2060", "\ufeff", "\u202e", "\u00ad"]


def _known(policy: Policy, tier: Tier) -> list[str]:
    return sorted(name for name, spec in policy.services.items() if spec.tier is tier)


@st.composite
def service_names(draw: st.DrawFn) -> str:
    """Known names, Unicode look-alikes of them, and arbitrary text."""
    base = draw(
        st.sampled_from(
            [
                "payment-gateway",
                "auth-service",
                "cart-service",
                "checkout",
                "search-api",
                "web-frontend",
                "batch-reports",
                "ledger",
            ]
        )
    )
    kind = draw(st.sampled_from(["plain", "homoglyph", "invisible", "fullwidth", "case", "text"]))
    if kind == "homoglyph":
        spots = [i for i, ch in enumerate(base) if ch in HOMOGLYPHS]
        i = draw(st.sampled_from(spots)) if spots else 0
        return base[:i] + HOMOGLYPHS.get(base[i], base[i]) + base[i + 1 :]
    if kind == "invisible":
        i = draw(st.integers(0, len(base)))
        return base[:i] + draw(st.sampled_from(INVISIBLE)) + base[i:]
    if kind == "fullwidth":
        return "".join(chr(ord(ch) + 0xFEE0) if ch.isalnum() else ch for ch in base)
    if kind == "case":
        return base.upper()
    if kind == "text":
        return draw(st.text(max_size=40))
    return base


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def proposals(draw: st.DrawFn, policy: Policy) -> Proposal:
    action = draw(
        st.sampled_from(policy.action_names())
        | st.text(max_size=40)
        | st.sampled_from(
            [
                "restart_deployment; rm -rf /",
                "notify_oncall\u200b",
                "RESTART_DEPLOYMENT",
                "restart_deployment\n",
            ]
        )
    )
    params = draw(
        st.sampled_from(
            [
                {"deployment": "cart-api"},
                {"deployment": "payment-gateway-api"},
                {"deployment": "search-api", "replicas": 4},
                {"message": "hi"},
                {"scope": "cdn"},
                {"deployment": "cart-api", "version": "v1.2.3"},
                {"flag": "x", "enabled": True},
                {"from_region": "eastus", "to_region": "westus2"},
            ]
        )
        | st.dictionaries(st.text(max_size=12), json_values, max_size=4)
    )
    return Proposal.model_construct(action=action, service=draw(service_names()), params=params)


def _looks_standard(name: str, policy: Policy) -> bool:
    # Independent of the engine: only plain ASCII spellings of a standard service qualify.
    return name.isascii() and "-".join(name.lower().split()) in _known(policy, Tier.STANDARD)


def _own_oncall_page(proposal: Proposal, context: EvaluationContext, policy: Policy) -> bool:
    # The one exception to invariant 3 (rules.yaml `paging`), judged without the engine: a
    # page action, an exactly spelled known service, no other team, a listed severity.
    spec = policy.actions.get(proposal.action) if isinstance(proposal.action, str) else None
    name = "-".join(proposal.service.lower().split()) if proposal.service.isascii() else ""
    params = proposal.params if isinstance(proposal.params, dict) else {}
    return (
        spec is not None
        and spec.executor.kind is ExecutorKind.PAGE
        and name in policy.services
        and params.get("team") in (None, name)
        and context.severity.value in policy.rules.page_own_oncall
    )


@settings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_invariant_3_no_approval_free_action_unless_standard_and_read_only(
    policy: Policy, data: st.DataObject
) -> None:
    proposal = data.draw(proposals(policy))
    category = data.draw(st.sampled_from(list(Category)))
    confidence = data.draw(st.floats(0, 1))
    context = replace(CONTEXT, category=category, confidence=confidence)
    decision = policy.evaluate(proposal, context)
    if decision.outcome is DecisionOutcome.ALLOW and _own_oncall_page(proposal, context, policy):
        assert [h.rule_id for h in decision.reasons if h.effect.value == "allow"] == [
            "page.own_oncall"
        ]
    elif decision.outcome is DecisionOutcome.ALLOW:
        spec = policy.actions[proposal.action]
        assert spec.read_only and spec.auto
        assert _looks_standard(proposal.service, policy), proposal.service
        assert category is not Category.SECURITY or proposal.action == "notify_oncall"
        assert confidence >= policy.rules.confidence_threshold
    if proposal.action not in policy.actions:
        assert decision.outcome is DecisionOutcome.DENY
        assert decision.reasons[0].rule_id == "action.unknown"
    assert decision.decided_at == NOW and decision.policy_revision == policy.revision


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_invariant_3_critical_or_lookalike_needs_two_distinct_people(
    policy: Policy, data: st.DataObject
) -> None:
    proposal = data.draw(proposals(policy))
    members = {"S0PAYMENTS": frozenset({"U0PAYDEV01"}), "S0IDENTITY": frozenset({"U0IDDEV001"})}
    voter = data.draw(st.sampled_from(["U0PAYLEAD1", "U0PAYDEV01", "U0IDLEAD01", "U0CARTDEV1"]))
    votes = tuple(Approval(request_id="r", user_id=voter, at=NOW) for _ in range(3))
    context = replace(CONTEXT, approvals=votes, group_members=members)
    decision = policy.evaluate(proposal, context)
    if not _looks_standard(proposal.service, policy) and not _own_oncall_page(
        proposal, context, policy
    ):
        # One person, however many clicks, is never enough for a non-standard service.
        assert decision.outcome is not DecisionOutcome.ALLOW, decision.reasons


@pytest.mark.parametrize("service", ["payment-gateway", "PAYMENT-GATEWAY", "auth-service"])
def test_invariant_3_critical_service_never_allows_without_humans(
    policy: Policy, service: str
) -> None:
    for action in policy.action_names():
        decision = policy.evaluate(Proposal(action=action, service=service), CONTEXT)
        assert decision.outcome is not DecisionOutcome.ALLOW
        assert decision.approvals_required in (0, 2)


def test_invariant_3_lookalike_of_standard_service_is_denied(policy: Policy) -> None:
    spoof = "c\u0430rt-service"  # Cyrillic a
    decision = policy.evaluate(
        Proposal(action="collect_diagnostics", service=spoof, params={"deployment": "cart-api"}),
        CONTEXT,
    )
    assert decision.outcome is DecisionOutcome.DENY
    assert [h.rule_id for h in decision.reasons][:2] == ["service.suspicious", "service.lookalike"]
    assert decision.eligible_approvers == list(policy.rules.fallback_approvers)


HOSTILE: list[dict[str, Any]] = [
    {"action": "x" * 1_000_000, "service": "cart-service", "params": {}},
    {"action": "notify_oncall", "service": "s" * 1_000_000, "params": {"message": "hi"}},
    {"action": "notify_oncall", "service": "cart-service", "params": {"message": "m" * 10**6}},
    {"action": None, "service": 12, "params": [1, 2, 3]},
    {"action": "restart_deployment", "service": "cart-service", "params": "deployment=cart-api"},
    {"action": "restart_deployment", "service": "cart-service",
     "params": {"deployment": b"cart-api"}},
    {"action": "restart_deployment", "service": "cart-service",
     "params": {"deployment": float("nan")}},
    {"action": "restart_deployment", "service": "cart-service", "params": {1: "cart-api"}},
    {"action": "restart_deployment", "service": "cart-service",
     "params": {"deployment": "cart-api", **{f"k{i}": i for i in range(500)}}},
    {"action": "restart_deployment", "service": "\u202ecart-service", "params": {}},
    {"action": "restart_deployment", "service": "", "params": {"deployment": "cart-api"}},
]  # fmt: skip


@pytest.mark.parametrize("raw", HOSTILE, ids=[str(i) for i in range(len(HOSTILE))])
def test_hostile_proposals_deny_without_crashing(policy: Policy, raw: dict[str, Any]) -> None:
    decision = policy.evaluate(Proposal.model_construct(**raw), CONTEXT)
    assert decision.outcome is DecisionOutcome.DENY
    assert all(len(hit.reason) <= 400 for hit in decision.reasons)


def test_deeply_nested_params_deny_without_recursion_error(policy: Policy) -> None:
    nested: dict[str, Any] = {}
    cursor = nested
    for _ in range(50_000):
        cursor["d"] = {}
        cursor = cursor["d"]
    proposal = Proposal.model_construct(
        action="restart_deployment", service="cart-service", params={"deployment": nested}
    )
    decision = policy.evaluate(proposal, CONTEXT)
    assert decision.outcome is DecisionOutcome.DENY
    assert "nest deeper" in decision.reasons[0].reason


@pytest.mark.parametrize(
    "change",
    [
        {"category": "security; DROP TABLE"},
        {"confidence": "very high"},
        {"confidence": float("nan")},
        {"pending_actions": "0"},
    ],
)
def test_garbage_context_never_loosens_a_decision(policy: Policy, change: dict[str, Any]) -> None:
    proposal = Proposal(action="notify_oncall", service="cart-service", params={"message": "hi"})
    assert policy.evaluate(proposal, CONTEXT).outcome is DecisionOutcome.ALLOW
    context = replace(CONTEXT, **cast(Any, change))
    assert policy.evaluate(proposal, context).outcome is not DecisionOutcome.ALLOW


def test_naive_now_is_read_as_utc(policy: Policy) -> None:
    proposal = Proposal(
        action="restart_deployment", service="cart-service", params={"deployment": "cart-api"}
    )
    frozen = replace(CONTEXT, now=datetime(2026, 12, 24, 10, 0))
    assert policy.evaluate(proposal, frozen).outcome is DecisionOutcome.DENY


def test_weekly_freeze_crossing_midnight(policy_dir: Path) -> None:
    rules = policy_dir / "rules.yaml"
    rules.write_text(
        rules.read_text() + "  - id: night\n    reason: nightly batch\n"
        "    weekly: {days: [mon], start: '23:00', end: '01:00', timezone: "
        "Europe/Berlin}\n"
    )
    policy = load_policy(policy_dir)
    proposal = Proposal(action="clear_cache", service="cart-service", params={"scope": "cdn"})
    monday_late = datetime(2026, 11, 9, 22, 30, tzinfo=UTC)  # 23:30 in Berlin
    for now, frozen in [
        (monday_late, True),
        (monday_late + timedelta(hours=1), True),
        (monday_late + timedelta(hours=2), False),
        (monday_late - timedelta(hours=1), False),
    ]:
        decision = policy.evaluate(proposal, replace(CONTEXT, now=now))
        assert (decision.outcome is DecisionOutcome.DENY) is frozen, now


def test_read_only_action_without_auto_needs_approval(policy_dir: Path) -> None:
    actions = policy_dir / "actions.yaml"
    text = actions.read_text()
    actions.write_text(
        text.replace(
            "    read_only: true\n    auto: true\n    executor:\n      type: command",
            "    read_only: true\n    auto: false\n    executor:\n      type: command",
            1,
        )
    )
    policy = load_policy(policy_dir)
    decision = policy.evaluate(
        Proposal(
            action="collect_diagnostics", service="cart-service", params={"deployment": "cart-api"}
        ),
        CONTEXT,
    )
    assert decision.outcome is DecisionOutcome.REQUIRE_APPROVAL
    assert [h.rule_id for h in decision.reasons] == ["action.needs_approval"]


def test_action_names_is_the_allowlist(policy: Policy) -> None:
    names = policy.action_names()
    assert names == sorted(policy.actions) and "notify_oncall" in names and len(names) >= 9


def test_eligible_approvers_of_unknown_service_are_the_fallback(policy: Policy) -> None:
    assert policy.eligible_approvers("payment-gateway") == [
        "S0PAYMENTS",
        "U0PAYLEAD1",
        "U0PAYSRE02",
    ]
    assert policy.eligible_approvers("nope") == ["S0INCIDENTCMD"]
    assert policy.approvals_required("restart_deployment", "cart-service") == 1
    assert policy.approvals_required("restart_deployment", "payment-gateway") == 2
