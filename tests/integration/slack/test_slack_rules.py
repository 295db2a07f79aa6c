"""The Slack stand-in's rules for a static_select menu (Block Kit's select menu and option
object limits), so a card that breaks them is refused as Slack would refuse it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.models import Category, Incident, IncidentStatus, Triage
from bot.redaction import Redactor
from bot.slack.blocks import make_clean, triage_card
from tests.integration.slack.slack_rules import message_problem

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def open_incident() -> Incident:
    return Incident(title="checkout slow", service="checkout", created_at=NOW, updated_at=NOW)


def triage() -> Triage:
    return Triage(
        incident_id="inc-0123456789",
        category=Category.LATENCY,
        summary="slow",
        root_cause="db",
        provider="offline",
        model="rules",
        created_at=NOW,
    )


def test_the_card_with_its_menus_passes_the_stand_ins_rules() -> None:
    blocks = triage_card(open_incident(), triage(), [], [], make_clean(Redactor().redact))
    assert any(e.get("type") == "static_select" for b in blocks for e in b.get("elements", []))
    assert message_problem({"text": "card", "blocks": blocks}) is None


def select(**changes: Any) -> dict[str, Any]:
    option = {"text": {"type": "plain_text", "text": "Latency"}, "value": "latency"}
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": "pick",
        "placeholder": {"type": "plain_text", "text": "Pick…"},
        "options": [option],
        "initial_option": option,
    }
    element.update(changes)
    return {"text": "x", "blocks": [{"type": "actions", "elements": [element]}]}


def many(count: int) -> list[dict[str, Any]]:
    return [
        {"text": {"type": "plain_text", "text": f"o{n}"}, "value": f"o{n}"} for n in range(count)
    ]


@pytest.mark.parametrize(
    "changes",
    [
        {"options": many(101)},
        {"options": []},
        {"options": [{"text": {"type": "plain_text", "text": "x" * 76}, "value": "v"}]},
        {"options": [{"text": {"type": "mrkdwn", "text": "x"}, "value": "v"}]},
        {"options": [{"text": {"type": "plain_text", "text": "x"}, "value": "v" * 151}]},
        {"placeholder": {"type": "plain_text", "text": "x" * 151}},
        {"action_id": "a" * 256},
        {"initial_option": {"text": {"type": "plain_text", "text": "Other"}, "value": "other"}},
    ],
)
def test_the_stand_in_refuses_a_static_select_slack_refuses(changes: dict[str, Any]) -> None:
    assert message_problem(select(**changes)) == "invalid_blocks"


def test_the_stand_in_accepts_a_static_select_at_its_limits() -> None:
    widest = [{"text": {"type": "plain_text", "text": "x" * 75}, "value": "v" * 150}]
    assert message_problem(select(options=many(100), initial_option=None)) is None
    assert message_problem(select(options=widest, initial_option=widest[0])) is None
    assert message_problem(select(placeholder={"type": "plain_text", "text": "x" * 150})) is None


def people_menu(**changes: Any) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "users_select",
        "action_id": "hand",
        "placeholder": {"type": "plain_text", "text": "Hand command to…"},
        "initial_user": "U0COMMAND1",
    }
    element.update(changes)
    return {"text": "x", "blocks": [{"type": "actions", "elements": [element]}]}


def test_the_card_offers_its_commander_in_a_people_menu_the_stand_in_accepts() -> None:
    incident = open_incident().model_copy(update={"commander": "U0COMMAND1"})
    blocks = triage_card(incident, triage(), [], [], make_clean(Redactor().redact))
    [menu] = [e for b in blocks for e in b.get("elements", []) if e["type"] == "users_select"]
    assert menu["initial_user"] == "U0COMMAND1" and menu["action_id"] == "incident_hand_over"
    assert message_problem({"text": "card", "blocks": blocks}) is None
    resolved = incident.model_copy(update={"status": IncidentStatus.RESOLVED})
    closed = triage_card(resolved, triage(), [], [], make_clean(Redactor().redact))
    assert not [e for b in closed for e in b.get("elements", []) if e["type"] == "users_select"]


@pytest.mark.parametrize(
    "changes",
    [
        {"placeholder": {"type": "plain_text", "text": "x" * 151}},
        {"placeholder": {"type": "mrkdwn", "text": "x"}},
        {"initial_user": "C0CHANNEL1"},
        {"action_id": "a" * 256},
    ],
)
def test_the_stand_in_refuses_a_people_menu_slack_refuses(changes: dict[str, Any]) -> None:
    assert message_problem(people_menu()) is None
    assert message_problem(people_menu(**changes)) == "invalid_blocks"
