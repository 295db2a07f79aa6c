"""Safety invariant 8: the plan a card shows, the hash an approval is bound to, and execution
refusing a plan that changed after it was approved."""

from __future__ import annotations

import json
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from bot import actions
from bot.actions.plans import plan_hash, render_for
from bot.models import ActionState, Category, EventKind, Proposal, Severity, Vote
from bot.policy import EvaluationContext, Policy
from bot.redaction import Redactor
from bot.store.sqlite import SQLiteStore

from .conftest import GROUPS, NOW, RecordingExecutor, executors_for, file_request

SCALE = Proposal(
    action="scale_deployment",
    service="payment-gateway",
    params={"deployment": "payment-gateway-api", "replicas": 12},
)
PAGE = Proposal(
    action="notify_oncall",
    service="cart-service",
    params={"message": "db password=hunter2secret leaked?", "urgency": "high"},
)


def _hash(policy: Policy, proposal: Proposal, revision: str | None = None) -> str:
    service = policy.resolve_service(proposal.service).name
    plan = render_for(policy, proposal)
    return plan_hash(proposal, service, plan, policy.revision if revision is None else revision)


@given(st.permutations(["deployment", "replicas"]))
def test_invariant_8_hash_is_stable_across_key_order(policy: Policy, order: list[str]) -> None:
    reordered = SCALE.model_copy(update={"params": {k: SCALE.params[k] for k in order}})
    assert _hash(policy, reordered) == _hash(policy, SCALE) == actions.current_hash(policy, SCALE)


def test_invariant_8_hash_changes_with_every_input(policy: Policy) -> None:
    base = _hash(policy, SCALE)
    service = policy.resolve_service(SCALE.service).name
    plan = render_for(policy, SCALE)
    variants = {
        "params": _hash(policy, SCALE.model_copy(update={"params": {**SCALE.params,
                                                                    "replicas": 13}})),
        "action": plan_hash(SCALE.model_copy(update={"action": "restart_deployment"}), service,
                            plan, policy.revision),
        "service": plan_hash(SCALE, "payment-gateway-2", plan, policy.revision),
        "plan": plan_hash(SCALE, service, replace(plan, argv=(*plan.argv[:-1], "13")),
                          policy.revision),
        "mode": plan_hash(SCALE, service, replace(plan, mode=plan.mode.__class__("live")),
                          policy.revision),
        "revision": _hash(policy, SCALE, revision="another-revision"),
    }  # fmt: skip
    assert base not in variants.values()
    assert len(set(variants.values())) == len(variants)


def test_the_shown_plan_masks_secrets_but_the_hash_still_sees_them(policy: Policy) -> None:
    binding = actions.bind_plan(policy, PAGE, redactor=Redactor())
    assert binding.plan is not None and binding.problem is None
    assert binding.plan.kind == "page" and binding.plan.body["service"] == PAGE.service
    assert "hunter2secret" not in binding.plan.model_dump_json()
    assert "REDACTED" in binding.plan.body["message"]
    assert binding.plan.read_only and binding.plan.dry_run
    other = PAGE.model_copy(update={"params": {**PAGE.params, "message": "db password=other"}})
    assert actions.bind_plan(policy, other).hash != binding.hash


def test_a_page_plan_shows_what_would_be_sent_not_its_summary_again(policy: Policy) -> None:
    binding = actions.bind_plan(policy, PAGE, redactor=Redactor())
    assert binding.plan is not None
    shown = binding.plan.shown()
    assert shown != binding.plan.summary
    assert json.loads(shown) == binding.plan.body
    assert '"urgency": "high"' in shown and "hunter2secret" not in shown


def test_a_command_plan_reads_as_its_command_line(policy: Policy) -> None:
    binding = actions.bind_plan(policy, SCALE)
    assert binding.plan is not None
    assert binding.plan.shown() == (
        "kubectl --namespace payments scale deployment payment-gateway-api --replicas 12"
    )
    assert not binding.plan.read_only
    assert binding.plan.summary.startswith("Dry run: would run this command")


async def test_invariant_8_a_plan_that_cannot_render_is_blocked_before_anyone_is_asked(
    store: SQLiteStore, policy: Policy
) -> None:
    # An unknown service needs approval (treated as critical) but has no namespace to run in.
    unknown = Proposal(action="clear_cache", service="ledger", params={"scope": "cdn"})
    assert policy.evaluate(unknown, _context()).outcome.value == "require_approval"
    request = await file_request(store, policy, unknown, category=Category.LATENCY)
    assert request.state is ActionState.BLOCKED
    assert request.plan is None and request.plan_hash == ""
    assert request.error and request.error.startswith("the plan cannot be rendered")
    [event] = await store.list_events(request.incident_id)
    assert event.kind == EventKind.ACTION_BLOCKED and "plan_problem" in event.data


def _context() -> EvaluationContext:
    return EvaluationContext(
        category=Category.LATENCY, severity=Severity.SEV2, confidence=0.9, now=NOW
    )


async def _approved(store: SQLiteStore, policy: Policy):  # type: ignore[no-untyped-def]
    request = await file_request(store, policy, SCALE)
    for user in ("U0PAYLEAD1", "U0PAYDEV01"):
        result = await actions.record_vote(
            request.id, user, Vote.APPROVE, store=store, policy=policy, now=NOW,
            group_members=GROUPS, card_hash=actions.card_hash(request.plan_hash),
        )  # fmt: skip
    assert result.request is not None and result.request.state is ActionState.APPROVED
    return result.request


async def test_invariant_8_execution_refused_after_a_policy_edit(
    store: SQLiteStore, policy: Policy, recorder: RecordingExecutor
) -> None:
    request = await _approved(store, policy)
    # The policy files are edited between the approval and the execution: a new revision.
    edited = Policy(
        revision="edited-" + policy.revision,
        actions=policy.actions,
        services=policy.services,
        rules=policy.rules,
    )
    outcome = await actions.execute(
        request.id, store=store, policy=edited, executors=executors_for(recorder), now=NOW,
        group_members=GROUPS,
    )  # fmt: skip
    assert not outcome.ran and recorder.calls == []
    assert outcome.request.state is ActionState.BLOCKED
    assert any("plan changed since it was shown and approved" in p for p in outcome.problems)
    last = (await store.list_events(request.incident_id))[-1]
    assert last.kind == EventKind.ACTION_BLOCKED and "plan changed" in last.message


async def test_invariant_8_execution_runs_the_plan_that_was_approved(
    store: SQLiteStore, policy: Policy, recorder: RecordingExecutor
) -> None:
    request = await _approved(store, policy)
    outcome = await actions.execute(
        request.id, store=store, policy=policy, executors=executors_for(recorder), now=NOW,
        group_members=GROUPS,
    )  # fmt: skip
    assert outcome.ran and [p.argv for p in recorder.calls] == [tuple(request.plan.argv)]


async def test_invariant_8_a_request_without_a_plan_hash_never_runs(
    store: SQLiteStore, policy: Policy, recorder: RecordingExecutor
) -> None:
    request = await _approved(store, policy)
    current = await store.get_action_request(request.id)
    await store.update_action_request(current.model_copy(update={"plan_hash": ""}))
    outcome = await actions.execute(
        request.id, store=store, policy=policy, executors=executors_for(recorder), now=NOW,
        group_members=GROUPS,
    )  # fmt: skip
    assert not outcome.ran and recorder.calls == []
    assert any("no plan was shown" in p for p in outcome.problems)


async def test_invariant_8_a_vote_from_another_card_is_refused(
    store: SQLiteStore, policy: Policy
) -> None:
    request = await file_request(store, policy, SCALE)
    for shown in ("", "abc", "f" * 16, actions.card_hash(request.plan_hash)[:-1] + "x"):
        result = await actions.record_vote(
            request.id, "U0PAYLEAD1", Vote.APPROVE, store=store, policy=policy, now=NOW,
            group_members=GROUPS, card_hash=shown,
        )  # fmt: skip
        assert result.status is actions.VoteStatus.CARD_OUT_OF_DATE and not result.accepted
    assert (await store.get_action_request(request.id)).approvals == []
