"""The card's Acknowledge button: shown until someone acknowledges, gone once they have."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bot.models import Category, Incident, IncidentStatus, Triage
from bot.redaction import Redactor
from bot.slack.action_ids import ActionId
from bot.slack.blocks import make_clean, triage_card

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def card(incident: Incident) -> list[dict[str, object]]:
    triage = Triage(
        incident_id=incident.id,
        category=Category.ERROR_RATE,
        summary="5xx",
        root_cause="deploy",
        provider="offline",
        model="rules",
        created_at=NOW,
    )
    return triage_card(incident, triage, [], [], make_clean(Redactor().redact))


def acknowledge_buttons(blocks: list[dict[str, object]]) -> list[dict[str, object]]:
    return [
        element
        for block in blocks
        if block["type"] == "actions"
        for element in block["elements"]  # type: ignore[attr-defined]
        if element["action_id"] == ActionId.ACKNOWLEDGE.value
    ]


def test_an_unacknowledged_open_incident_offers_acknowledge_with_its_id() -> None:
    incident = Incident(title="checkout 5xx", service="checkout", created_at=NOW, updated_at=NOW)
    buttons = acknowledge_buttons(card(incident))
    assert [b["value"] for b in buttons] == [incident.id]


def test_the_button_is_gone_once_acknowledged_or_resolved() -> None:
    taken = Incident(
        title="t", service="checkout", created_at=NOW, updated_at=NOW,
        acknowledged_at=NOW, acknowledged_by="U0ALICE",
    )
    assert acknowledge_buttons(card(taken)) == []
    closed = Incident(
        title="t", service="checkout", created_at=NOW, updated_at=NOW,
        status=IncidentStatus.RESOLVED,
    )
    assert acknowledge_buttons(card(closed)) == []
    assert ActionId.ACKNOWLEDGE.value not in json.dumps(card(closed))
