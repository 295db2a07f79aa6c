"""Invariants 2 and 8 as a property: for any request, the executor runs iff every condition
holds, the plan approved (its hash) being what the current policy renders included."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from bot import actions
from bot.errors import ActionError
from bot.models import (
    ActionRequest,
    ActionState,
    Approval,
    Category,
    Decision,
    DecisionOutcome,
    Incident,
    Proposal,
    Severity,
    Triage,
    Vote,
)
from bot.policy import EvaluationContext, Policy
from bot.policy.documents import Tier
from bot.store.sqlite import SQLiteStore

from .conftest import GROUPS, NOW, REQUESTER, RecordingExecutor, executors_for

FROZEN = datetime(2026, 12, 24, 10, 0, tzinfo=UTC)
SERVICES = [
    "payment-gateway",
    "auth-service",
    "cart-service",
    "search-api",
    "batch-reports",
    "p\u0430yment-gateway",
    "c\u0430rt-service",
    "cart\u200b-service",
    "CART-SERVICE",
    "ledger",
    "",
    "cart-service; rm -rf /",
]
USERS = [
    "U0PAYLEAD1",
    "U0PAYSRE02",
    "U0PAYDEV01",
    "U0CARTDEV1",
    "U0CHKDEV01",
    "U0IDLEAD01",
    "U0SRCHLEAD",
    REQUESTER,
    "U0RANDOM99",
    "S0PAYMENTS",
]
MEMBERS = {**GROUPS, "S0CHECKOUT": frozenset({"U0CHKDEV01"})}


def _params(
    action: str, service: str, policy: Policy, clean: bool = False
) -> st.SearchStrategy[dict[str, Any]]:
    known = policy.services.get(service)
    deployments = sorted(known.deployments) if known else ["cart-api"]
    hostile = [] if clean else ["other-api", "--all", "x; rm -rf /"]
    deployment = st.sampled_from(deployments + hostile)
    valid = {
        "notify_oncall": st.fixed_dictionaries({"message": st.text(min_size=1, max_size=20)}),
        "collect_diagnostics": st.fixed_dictionaries({"deployment": deployment}),
        "clear_cache": st.fixed_dictionaries({"scope": st.sampled_from(["cdn", "application"])}),
        "restart_canary": st.fixed_dictionaries({"deployment": deployment}),
        "restart_deployment": st.fixed_dictionaries({"deployment": deployment}),
        "scale_deployment": st.fixed_dictionaries(
            {"deployment": deployment, "replicas": st.integers(-2, 60)}
        ),
        "rollback_deployment": st.fixed_dictionaries(
            {"deployment": deployment, "version": st.sampled_from(["v1.2.3", "1.2", "latest"])}
        ),
        "toggle_feature_flag": st.fixed_dictionaries(
            {"flag": st.sampled_from(["f", "$(id)"]), "enabled": st.booleans()}
        ),
        "failover_region": st.fixed_dictionaries(
            {"from_region": st.just("eastus"), "to_region": st.sampled_from(["westus2", "moon"])}
        ),
    }
    junk = st.dictionaries(st.text(max_size=10), st.text(max_size=10) | st.integers(), max_size=3)
    if clean:
        return valid.get(action, junk)
    return valid.get(action, junk) | junk


@st.composite
def scenarios(draw: st.DrawFn, policy: Policy) -> dict[str, Any]:
    action = draw(
        st.sampled_from(policy.action_names())
        | st.sampled_from(["drop_tables", "restart_deployment; rm -rf /", "notify_oncall\u200b"])
    )
    if draw(st.booleans()):
        return _favourable(draw, policy, draw(st.sampled_from(policy.action_names())))
    service = draw(st.sampled_from(SERVICES))
    votes = draw(
        st.lists(
            st.tuples(st.sampled_from(USERS), st.sampled_from([Vote.APPROVE] * 4 + [Vote.DENY])),
            max_size=3,
        )
    )
    return {
        "proposal": Proposal(
            action=action, service=service, params=draw(_params(action, service, policy))
        ),
        "approvals": [Approval(request_id="r", user_id=u, vote=v, at=NOW) for u, v in votes],
        "category": draw(st.sampled_from(list(Category))),
        "confidence": draw(st.sampled_from([0.3, 0.9])),
        "state": draw(
            st.sampled_from(
                [ActionState.APPROVED] * 4
                + [ActionState.PENDING_APPROVAL, ActionState.EXECUTING, ActionState.SUCCEEDED]
            )
        ),
        "now": draw(st.sampled_from([NOW, NOW, FROZEN])),
        "expires_in": draw(st.sampled_from([600, 600, 0, -60])),
        "plan": draw(st.sampled_from(["current"] * 4 + ["stale", "none"])),
    }


def _favourable(draw: st.DrawFn, policy: Policy, action: str) -> dict[str, Any]:
    """A scenario close to runnable, so the property sees many runs as well as refusals."""
    service = draw(st.sampled_from(sorted(policy.services)))
    listed = policy.eligible_approvers(service)
    people = sorted(
        {u for a in listed for u in MEMBERS.get(a, frozenset({a})) if not u.startswith("S")}
    )
    voters = draw(st.lists(st.sampled_from(people), max_size=3, unique=True)) if people else []
    categories = [
        c for c in Category if action in policy.rules.categories.get(c.value, frozenset())
    ]
    return {
        "proposal": Proposal(
            action=action,
            service=service,
            params=draw(_params(action, service, policy, clean=True)),
        ),
        "approvals": [Approval(request_id="r", user_id=u, at=NOW) for u in voters],
        "category": draw(st.sampled_from(categories or [Category.LATENCY])),
        "confidence": 0.9,
        "state": ActionState.APPROVED,
        "now": NOW,
        "expires_in": 600,
        "plan": "current",
    }


def _eligible(user: str, approvers: list[str]) -> bool:
    if user.startswith("S"):
        return False
    return user in approvers or any(user in MEMBERS.get(a, frozenset()) for a in approvers)


def _conditions(policy: Policy, s: dict[str, Any]) -> dict[str, bool]:
    proposal: Proposal = s["proposal"]
    spec = policy.actions.get(proposal.action)
    approvers = policy.eligible_approvers(proposal.service)
    context = EvaluationContext(
        category=s["category"],
        severity=Severity.SEV2,
        confidence=s["confidence"],
        now=s["now"],
        requester=REQUESTER,
        approvals=tuple(s["approvals"]),
        group_members=MEMBERS,
    )
    return {
        "in_allowlist": spec is not None,
        "params_valid": spec is not None
        and Draft202012Validator(spec.params_schema).is_valid(proposal.params),
        "policy_allows": policy.evaluate(proposal, context).outcome is DecisionOutcome.ALLOW,
        "approvers_ok": all(
            a.vote is Vote.APPROVE and a.user_id != REQUESTER and _eligible(a.user_id, approvers)
            for a in s["approvals"]
        ),
        "unexpired": s["expires_in"] > 0,
        "claimable": s["state"] is ActionState.APPROVED,
        "plan_bound": bool(_plan_hash(policy, s)) and _plan_hash(policy, s) == _now_hash(policy, s),
    }


def _now_hash(policy: Policy, s: dict[str, Any]) -> str:
    try:
        return actions.current_hash(policy, s["proposal"])
    except ActionError:
        return ""


def _plan_hash(policy: Policy, s: dict[str, Any]) -> str:
    """The hash stored on the request: what was approved, an older plan's, or none."""
    return {"current": _now_hash(policy, s), "stale": "0" * 64, "none": ""}[s["plan"]]


async def _run(policy: Policy, s: dict[str, Any], recorder: RecordingExecutor) -> Any:
    store = SQLiteStore(":memory:")
    incident = Incident(
        title="t", service="x", category=s["category"], created_at=NOW, updated_at=NOW
    )
    await store.create_incident(incident)
    triage = Triage(
        incident_id=incident.id, category=s["category"], confidence=s["confidence"], created_at=NOW
    )
    await store.add_triage(triage)
    request = ActionRequest(
        incident_id=incident.id,
        triage_id=triage.id,
        proposal=s["proposal"],
        # The stored decision claims allow: execute must not take its word for it.
        decision=Decision(outcome=DecisionOutcome.ALLOW, action="a", service="s"),
        state=s["state"],
        requested_by=REQUESTER,
        approvals=s["approvals"],
        created_at=NOW,
        updated_at=NOW,
        expires_at=s["now"] + timedelta(seconds=s["expires_in"]),
        plan_hash=_plan_hash(policy, s),
    )
    await store.add_action_request(request)
    outcome = await actions.execute(
        request.id,
        store=store,
        policy=policy,
        executors=executors_for(recorder),
        now=s["now"],
        group_members=MEMBERS,
    )
    await store.close()
    return outcome


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_invariant_2_executor_runs_only_when_every_condition_holds(
    policy: Policy, data: st.DataObject
) -> None:
    scenario = data.draw(scenarios(policy))
    recorder = RecordingExecutor()
    outcome = asyncio.run(_run(policy, scenario, recorder))
    conditions = _conditions(policy, scenario)
    should_run = all(conditions.values())
    event("ran" if should_run else "refused")
    assert (len(recorder.calls) == 1) is should_run, conditions
    assert outcome.ran is should_run and len(recorder.calls) <= 1
    if should_run:
        distinct = {a.user_id for a in scenario["approvals"]}
        service = scenario["proposal"].service
        standard = {n for n, spec in policy.services.items() if spec.tier is Tier.STANDARD}
        if not (service.isascii() and service.lower() in standard):
            assert len(distinct) >= 2  # invariant 3: critical means two people
