"""A follow-up alert that joins while the triage card is being posted (after the card was drawn,
before it was placed) still refreshes the card's counts and gets its threaded line."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.compose import Root
from bot.config import load_settings
from bot.models import ActionRequest, Alert, ConversationRef, Incident, Triage
from bot.notify import RecordingNotifier
from bot.pipeline import Pipeline

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
CARD = ConversationRef(kind="slack", channel="C0INCIDENTS", thread="1790000001.000001")


class PostingTakesAWhile(RecordingNotifier):
    """The fake notifier, whose card post lets ``meanwhile`` happen before it lands."""

    def __init__(self) -> None:
        super().__init__()
        self.meanwhile: Callable[[], Awaitable[object]] | None = None
        self.drawn_counts: list[int] = []
        self.redrawn_counts: list[int] = []

    async def incident_triaged(
        self, incident: Incident, triage: Triage, requests: list[ActionRequest], alerts: list[Alert]
    ) -> ConversationRef | None:
        await super().incident_triaged(incident, triage, requests, alerts)
        self.drawn_counts.append(incident.alert_count)
        if self.meanwhile is not None:
            await self.meanwhile()
        return CARD

    async def card_changed(
        self,
        incident: Incident,
        triage: Triage,
        requests: list[ActionRequest],
        alerts: list[Alert],
        card: ConversationRef,
    ) -> None:
        await super().card_changed(incident, triage, requests, alerts, card)
        self.redrawn_counts.append(incident.alert_count)


def alert(minute: int) -> bytes:
    return json.dumps(
        {
            "title": "checkout 5xx error rate above SLO",
            "service": "checkout",
            "severity": "high",
            "starts_at": f"2026-11-24T02:{minute:02d}:00Z",
            "labels": {"alertname": "CheckoutErrors"},
        }
    ).encode()


@pytest.fixture
async def flow(tmp_path: Path) -> AsyncIterator[tuple[Pipeline, PostingTakesAWhile]]:
    settings = load_settings(
        SQLITE_PATH=str(tmp_path / "bot.db"),
        RUNBOOK_INDEX_PATH=str(tmp_path / "rb.db"),
        RUNBOOK_EMBEDDINGS="none",
    )
    notifier = PostingTakesAWhile()
    pipeline = Root(settings).runtime(notifier=notifier).pipeline
    try:
        yield pipeline, notifier
    finally:
        await pipeline.store.close()


async def test_an_alert_joining_while_the_card_is_posted_is_counted_on_it_and_told(
    flow: tuple[Pipeline, PostingTakesAWhile],
) -> None:
    pipeline, notifier = flow
    first = await pipeline.ingest("generic", alert(1), "application/json", T0)
    [incident_id] = first.new_incident_ids
    joined: list[str] = []

    async def second_alert() -> None:
        receipt = await pipeline.ingest("generic", alert(2), "application/json", T0)
        joined.extend(receipt.incident_ids)

    notifier.meanwhile = second_alert
    assert await pipeline.triage_incident(incident_id, T0) is not None
    assert joined == [incident_id]  # the second alert joined the incident mid-post
    assert notifier.drawn_counts == [1]
    # When it joined there was no card to refresh and no thread to tell; now there is.
    calls = [(name, who) for name, who, _ in notifier.calls if who == incident_id]
    posted = calls.index(("incident_triaged", incident_id))
    assert ("card_changed", incident_id) in calls[posted:] and 2 in notifier.redrawn_counts
    assert ("alert_joined", incident_id) in calls[posted:]
    told = [c for c in notifier.calls if c[0] == "alert_joined"]
    assert told == [("alert_joined", incident_id, CARD.channel)]
    stored = await pipeline.store.get_incident(incident_id)
    assert stored.alert_count == 2 and stored.card == CARD


async def test_no_alert_joining_means_no_line(
    flow: tuple[Pipeline, PostingTakesAWhile],
) -> None:
    pipeline, notifier = flow
    first = await pipeline.ingest("generic", alert(1), "application/json", T0)
    [incident_id] = first.new_incident_ids
    assert await pipeline.triage_incident(incident_id, T0) is not None
    assert "alert_joined" not in [name for name, _, _ in notifier.calls]
