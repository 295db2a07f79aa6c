"""The Home tab view: approvals with the card's own buttons, within the 100-block limit."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bot.models import (
    ActionRequest,
    ActionState,
    Decision,
    DecisionOutcome,
    Incident,
    Plan,
    Proposal,
    Severity,
)
from bot.pipeline import Awaiting
from bot.redaction import Redactor
from bot.slack.action_ids import ActionId
from bot.slack.blocks import make_clean, vote_value
from bot.slack.home import home_view
from bot.slack.markup import LIMITS

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
CLEAN = make_clean(Redactor().redact)


def incident(title: str = "checkout 5xx", severity: Severity = Severity.SEV1) -> Incident:
    return Incident(
        title=title, service="checkout", severity=severity, created_at=NOW, updated_at=NOW
    )


def pending(inc: Incident) -> ActionRequest:
    return ActionRequest(
        incident_id=inc.id,
        proposal=Proposal(action="restart_deployment", service="checkout"),
        decision=Decision(
            outcome=DecisionOutcome.REQUIRE_APPROVAL,
            action="restart_deployment",
            service="checkout",
            approvals_required=1,
            eligible_approvers=["S0CHECKOUT"],
        ),
        state=ActionState.PENDING_APPROVAL,
        requested_by="incident-bot",
        plan=Plan(
            kind="command", mode="live", summary="Will run this", argv=["kubectl", "rollout"]
        ),
        plan_hash="ab12" * 16,
        created_at=NOW,
        updated_at=NOW,
    )


def test_each_pending_approval_carries_the_same_buttons_as_the_card() -> None:
    inc = incident()
    request = pending(inc)
    view = home_view(Awaiting("U0VIEWER01", approvals=[(inc, request)]), CLEAN)
    assert view["type"] == "home"
    actions = [b for b in view["blocks"] if b["type"] == "actions"]
    assert [a["block_id"] for a in actions] == [f"vote:{request.id}"]
    buttons = actions[0]["elements"]
    assert [b["action_id"] for b in buttons] == [ActionId.APPROVE.value, ActionId.DENY.value]
    assert {b["value"] for b in buttons} == {vote_value(request)}
    assert "confirm" in buttons[0]  # a state-changing plan asks again, as on the card


def test_sections_say_when_nothing_waits() -> None:
    shown = json.dumps(home_view(Awaiting("U0VIEWER01"), CLEAN))
    assert "Nothing waits for your approval" in shown
    assert "You command no open incident" in shown and "No open SEV0 or SEV1" in shown


def test_many_items_stay_within_the_home_block_limit_and_hostile_titles_are_escaped() -> None:
    hostile = incident("<!channel> *boom* " + "x" * 5_000)
    awaiting = Awaiting(
        "U0VIEWER01",
        approvals=[(hostile, pending(hostile)) for _ in range(80)],
        commanded=[hostile] * 40,
        severe=[hostile] * 40,
    )
    blocks = home_view(awaiting, CLEAN)["blocks"]
    assert len(blocks) <= LIMITS.home_blocks
    shown = json.dumps(blocks)
    assert "<!channel>" not in shown and "more waiting (cut)" in shown
    for block in blocks:
        text = block.get("text")
        if isinstance(text, dict):
            assert len(text["text"]) <= LIMITS.section_text
