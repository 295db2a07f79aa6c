"""The card's Recategorize / Severity menus: every category and severity, the incident's own
preselected, a block id naming the incident, gone once it is resolved; and how a menu's
choice is read from a block_actions payload."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.models import Category, Correction, Incident, IncidentStatus, Severity, Triage
from bot.redaction import Redactor
from bot.slack.action_ids import ActionId
from bot.slack.blocks import correction_blocks, make_clean, triage_card
from bot.slack.interactions import read_click

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def incident(**fields: Any) -> Incident:
    return Incident(
        title="checkout slow",
        service="checkout",
        category=Category.LATENCY,
        severity=Severity.SEV2,
        created_at=NOW,
        updated_at=NOW,
        **fields,
    )


def card(of: Incident) -> list[dict[str, Any]]:
    triage = Triage(
        incident_id=of.id,
        category=Category.LATENCY,
        summary="slow",
        root_cause="db",
        provider="offline",
        model="rules",
        created_at=NOW,
    )
    return triage_card(of, triage, [], [], make_clean(Redactor().redact))


def menus(blocks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        element["action_id"]: element
        for block in blocks
        if block["type"] == "actions"
        for element in block["elements"]
        if element["type"] == "static_select"
    }


def test_the_open_card_offers_every_category_with_the_incidents_own_preselected() -> None:
    shown = menus(card(incident()))
    category = shown[ActionId.RECATEGORIZE.value]
    assert [o["value"] for o in category["options"]] == [
        "latency",
        "connectivity",
        "resource_exhaustion",
        "error_rate",
        "deployment",
        "security",
        "unknown",
    ]
    assert [o["text"]["text"] for o in category["options"]][2] == "Resource exhaustion"
    assert category["initial_option"] == {
        "text": {"type": "plain_text", "text": "Latency"},
        "value": "latency",
    }
    assert category["placeholder"] == {"type": "plain_text", "text": "Recategorize…"}
    severity = shown[ActionId.SET_SEVERITY.value]
    assert [o["value"] for o in severity["options"]] == ["SEV0", "SEV1", "SEV2", "SEV3"]
    assert severity["initial_option"]["value"] == "SEV2"


def test_the_block_id_names_the_incident_and_changes_with_a_correction() -> None:
    before = incident()
    (block,) = correction_blocks(before)
    assert block["block_id"] == f"correct:{before.id}:latency:SEV2:-"  # nobody commands yet
    corrected = before.model_copy(
        update={
            "category": Category.SECURITY,
            "severity": Severity.SEV0,
            "correction": Correction(
                category=Category.SECURITY,
                severity=Severity.SEV0,
                from_category=Category.LATENCY,
                from_severity=Severity.SEV2,
                by="U0ALICE01",
                reason="from the card",
                at=NOW,
            ),
        }
    )
    blocks = card(corrected)
    (after,) = correction_blocks(corrected)
    assert after["block_id"] == f"correct:{before.id}:security:SEV0:-"
    assert menus(blocks)[ActionId.RECATEGORIZE.value]["initial_option"]["value"] == "security"
    line = next(b for b in blocks if b.get("block_id") == "correction")["text"]["text"]
    assert line == (
        ":pencil2: Corrected to *security* (SEV0) by <@U0ALICE01> at 02:00 UTC "
        "(triage said *latency*, SEV2): from the card"
    )


@pytest.mark.parametrize("status", [IncidentStatus.RESOLVED])
def test_no_menus_once_the_incident_is_no_longer_open(status: IncidentStatus) -> None:
    closed = incident(status=status)
    assert correction_blocks(closed) == []
    shown = json.dumps(card(closed))
    assert ActionId.RECATEGORIZE.value not in shown
    assert ActionId.SET_SEVERITY.value not in shown


def test_a_menus_choice_is_read_from_its_selected_option() -> None:
    body = {
        "user": {"id": "U0ALICE01"},
        "channel": {"id": "C0WARROOM1"},
        "container": {"type": "message", "message_ts": "1.000002", "channel_id": "C0WARROOM1"},
        "message": {"ts": "1.000002"},
    }
    action = {
        "type": "static_select",
        "action_id": ActionId.RECATEGORIZE.value,
        "block_id": "correct:inc-0123456789:latency:SEV2",
        "selected_option": {"text": {"type": "plain_text", "text": "x"}, "value": "deployment"},
    }
    click = read_click(body, action)
    assert (click.value, click.user_id, click.message_ts) == ("deployment", "U0ALICE01", "1.000002")
    assert click.block_id == "correct:inc-0123456789:latency:SEV2"
    # Deselecting sends no option: nothing is chosen.
    assert read_click(body, {**action, "selected_option": None}).value == ""
