"""Resolving an incident redraws its latest card, so what only an open incident offers (the
Acknowledge button, the correction menus) leaves it."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.models import Category, ConversationRef, Incident, IncidentStatus, Triage
from bot.notify import RecordingNotifier
from bot.pipeline import Pipeline

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


async def test_resolving_redraws_the_card_of_an_incident_without_requests(
    flow: tuple[Pipeline, RecordingNotifier],
) -> None:
    pipeline, notifier = flow
    card = ConversationRef(kind="slack", channel="C0WARROOM1", thread="1.000001")
    incident = Incident(
        title="checkout slow",
        service="checkout",
        commander="U0LEAD",
        card=card,
        created_at=T0,
        updated_at=T0,
    )
    await pipeline.store.create_incident(incident)
    await pipeline.store.add_triage(
        Triage(
            incident_id=incident.id,
            category=Category.LATENCY,
            summary="slow",
            root_cause="db",
            provider="offline",
            model="rules",
            created_at=T0,
        )
    )
    await pipeline.resolve_incident(incident.id, "U0LEAD", "fixed", T0)
    assert ("card_changed", incident.id, "C0WARROOM1") in notifier.calls
    stored = await pipeline.store.get_incident(incident.id)
    assert stored.status is IncidentStatus.RESOLVED
