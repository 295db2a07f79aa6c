"""The triage card's Block Kit: order, buttons, escaping, redaction and Slack's limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bot.models import (
    ActionRequest,
    ActionState,
    Alert,
    Category,
    Decision,
    DecisionOutcome,
    Incident,
    Plan,
    Proposal,
    RuleHit,
    Triage,
)
from bot.redaction import Redactor
from bot.reports import render_card_text
from bot.slack.action_ids import ActionId
from bot.slack.blocks import make_clean, triage_card

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
REDACTOR = Redactor()
VOTES = (ActionId.APPROVE, ActionId.DENY)


def incident() -> Incident:
    return Incident(title="checkout 5xx", service="checkout", created_at=NOW, updated_at=NOW)


def triage(inc: Incident) -> Triage:
    return Triage(
        incident_id=inc.id,
        category=Category.ERROR_RATE,
        summary="errors <!channel> spike",
        root_cause="bad pod",
        confidence=0.9,
        created_at=NOW,
    )


def request(inc: Incident, state: ActionState, outcome: DecisionOutcome) -> ActionRequest:
    return ActionRequest(
        incident_id=inc.id,
        proposal=Proposal(
            action="restart_deployment", service="checkout", params={"deployment": "checkout-api"}
        ),
        decision=Decision(
            outcome=outcome,
            action="restart_deployment",
            service="checkout",
            approvals_required=1,
            eligible_approvers=["S0CHECKOUT", "U0CHKLEAD1"],
            reasons=[RuleHit(rule_id="category.allowed", effect="deny", reason="not for this")],
        ),
        state=state,
        requested_by="incident-bot",
        created_at=NOW,
        updated_at=NOW,
    )


def alert(inc: Incident) -> Alert:
    return Alert(
        source="generic",
        fingerprint="f",
        group_key="g",
        service="checkout",
        title="<@U0EVERYONE> 5xx & more",
        description="password=hunter2secret in logs",
        labels={"deployment": "checkout-api"},
        received_at=NOW,
        incident_id=inc.id,
    )


def elements(blocks: list[dict[str, object]]) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    for block in blocks:
        if block["type"] == "actions":
            found.extend(block["elements"])  # type: ignore[arg-type]
    return found


def test_buttons_only_for_pending_requests_and_values_are_ids() -> None:
    inc = incident()
    tri = triage(inc)
    pending = request(inc, ActionState.PENDING_APPROVAL, DecisionOutcome.REQUIRE_APPROVAL)
    blocked = request(inc, ActionState.BLOCKED, DecisionOutcome.DENY)
    blocks = triage_card(inc, tri, [pending, blocked], [alert(inc)], make_clean(REDACTOR.redact))
    votes = [e for e in elements(blocks) if e["action_id"] in (ActionId.APPROVE, ActionId.DENY)]
    assert {e["value"] for e in votes} == {f"{pending.id}:{pending.plan_hash[:16]}"}
    feedback = [e for e in elements(blocks) if e["action_id"] in (ActionId.HELPFUL,)]
    assert [e["value"] for e in feedback] == [tri.id]
    text = json.dumps(blocks)
    assert "Blocked: not for this" in text
    assert pending.decision.id in text and blocked.decision.id in text


def test_evidence_comes_before_any_button() -> None:
    inc = incident()
    pending = request(inc, ActionState.PENDING_APPROVAL, DecisionOutcome.REQUIRE_APPROVAL)
    blocks = triage_card(inc, triage(inc), [pending], [alert(inc)], make_clean(REDACTOR.redact))
    evidence = next(i for i, b in enumerate(blocks) if b.get("block_id") == "evidence")
    first_actions = next(i for i, b in enumerate(blocks) if b["type"] == "actions")
    assert evidence < first_actions


def test_untrusted_text_is_escaped_and_redacted() -> None:
    inc = incident()
    blocks = triage_card(inc, triage(inc), [], [alert(inc)], make_clean(REDACTOR.redact))
    text = json.dumps(blocks)
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    assert "<@U0EVERYONE>" not in text
    assert "5xx &amp; more" in text
    assert "hunter2secret" not in text


def test_many_proposals_stay_within_slack_limits() -> None:
    inc = incident()
    many = [
        request(inc, ActionState.PENDING_APPROVAL, DecisionOutcome.REQUIRE_APPROVAL)
        for _ in range(25)
    ]
    long_alert = alert(inc)
    long_alert.description = "x" * 7000
    blocks = triage_card(inc, triage(inc), many, [long_alert] * 5, make_clean(REDACTOR.redact))
    assert len(blocks) <= 50
    for block in blocks:
        body = block.get("text")
        if isinstance(body, dict):
            assert len(body["text"]) <= 3000


def test_card_and_plain_text_fallback_show_the_same_proposals() -> None:
    inc = incident()
    tri = triage(inc)
    pending = request(inc, ActionState.PENDING_APPROVAL, DecisionOutcome.REQUIRE_APPROVAL)
    text = render_card_text(inc, tri, [pending], [alert(inc)], REDACTOR)
    blocks = json.dumps(triage_card(inc, tri, [pending], [alert(inc)], make_clean(REDACTOR.redact)))
    for shared in (pending.decision.id, "restart_deployment", "checkout-api", inc.id, "bad pod"):
        assert shared in text and shared in blocks


def planned(inc: Incident, proposal: Proposal, argv: list[str], read_only: bool) -> ActionRequest:
    pending = request(inc, ActionState.PENDING_APPROVAL, DecisionOutcome.REQUIRE_APPROVAL)
    plan = Plan(
        kind="command", mode="live", read_only=read_only, argv=argv,
        summary="Will run this command (no shell)",
    )  # fmt: skip
    return pending.model_copy(
        update={"proposal": proposal, "plan": plan, "plan_hash": "ab12" * 16}
    )


RESTART_ARGV = "kubectl --namespace shop rollout restart deployment checkout-api".split()


def test_the_card_shows_the_plan_under_its_proposal_and_buttons_carry_its_hash() -> None:
    inc = incident()
    pending = planned(inc, request(inc, ActionState.PENDING_APPROVAL, "require_approval").proposal,
                      RESTART_ARGV, read_only=False)  # fmt: skip
    blocks = triage_card(inc, triage(inc), [pending], [alert(inc)], make_clean(REDACTOR.redact))
    ids = [b.get("block_id") for b in blocks]
    proposal_at, plan_at = ids.index(f"proposal:{pending.id}"), ids.index(f"plan:{pending.id}")
    assert plan_at == proposal_at + 1 and blocks[plan_at + 1]["type"] == "actions"
    text = blocks[plan_at]["text"]["text"]
    assert text.startswith("*Plan* (changes state): Will run this command (no shell):\n```")
    assert "kubectl --namespace shop rollout restart deployment checkout-api" in text
    values = {e["value"] for e in elements(blocks) if e["action_id"] in VOTES}
    assert values == {f"{pending.id}:{'ab12' * 4}"}


def test_approve_on_a_state_changing_plan_opens_a_confirm_dialog_within_limits() -> None:
    inc = incident()
    hostile = "<!channel> " + "x" * 5000
    proposal = Proposal(action="restart_deployment " + hostile, service="checkout " + hostile)
    changing = planned(inc, proposal, ["kubectl", hostile, "y" * 600], read_only=False)
    reading = planned(inc, proposal, ["kubectl", "get", "pods"], read_only=True)
    blocks = triage_card(inc, triage(inc), [changing, reading], [], make_clean(REDACTOR.redact))
    approve = [e for e in elements(blocks) if e["action_id"] == ActionId.APPROVE]
    deny = [e for e in elements(blocks) if e["action_id"] == ActionId.DENY]
    assert all("confirm" not in e for e in deny)
    confirm = approve[0]["confirm"]
    assert "confirm" not in approve[1]  # a read-only plan changes nothing: no dialog
    limits = {"title": 100, "text": 300, "confirm": 30, "deny": 30}
    for field, limit in limits.items():
        assert confirm[field]["type"] == "plain_text"
        assert 0 < len(confirm[field]["text"]) <= limit
    assert confirm["text"]["text"].startswith("Will run this command (no shell): kubectl")
    assert confirm["text"]["text"].endswith("… (cut)")
    assert "<!channel>" not in json.dumps(confirm)


def test_a_plan_with_secrets_and_fences_is_redacted_and_cannot_break_its_code_block() -> None:
    inc = incident()
    pending = planned(inc, request(inc, ActionState.PENDING_APPROVAL, "require_approval").proposal,
                      ["curl", "password=hunter2secret", "```", "<!here>"],
                      read_only=False)  # fmt: skip
    blocks = triage_card(inc, triage(inc), [pending], [], make_clean(REDACTOR.redact))
    text = next(b for b in blocks if b.get("block_id") == f"plan:{pending.id}")["text"]["text"]
    assert "hunter2secret" not in text and "<!here>" not in text
    assert text.count("```") == 2
