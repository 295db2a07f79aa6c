"""Status updates: on the timeline (redacted), the incident's last-update time, told once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.errors import NotFound
from bot.models import EventKind, Severity
from bot.notify import RecordingNotifier
from bot.pipeline import Pipeline

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
KEY = "AKIAIOSFODNN7EXAMPLE"


async def test_an_update_is_on_the_timeline_sets_the_last_update_and_is_posted(
    flow: tuple[Pipeline, RecordingNotifier],
) -> None:
    pipeline, notifier = flow
    declared = await pipeline.declare_incident(
        "checkout 5xx", "checkout", Severity.SEV1, "U0ALICE", T0
    )
    incident = declared.incident
    assert incident.last_update_at is None
    at = T0 + timedelta(minutes=12)

    posted = await pipeline.post_update(incident.id, "U0BOB", f"rolled back; key {KEY} rotated", at)

    assert posted.last_update_at == at
    stored = await pipeline.store.get_incident(incident.id)
    assert stored.last_update_at == at
    updates = [
        e
        for e in await pipeline.timeline_of(incident.id)
        if e.kind == EventKind.INCIDENT_STATUS_UPDATE
    ]
    assert len(updates) == 1
    assert updates[0].actor == "U0BOB"
    assert "rolled back" in updates[0].message
    assert KEY not in updates[0].message
    told = [c for c in notifier.calls if c[0] == "status_update"]
    assert len(told) == 1
    assert told[0][1] == incident.id
    assert told[0][2].startswith("U0BOB:rolled back")
    assert KEY not in told[0][2]


async def test_an_update_names_the_incident_by_number_and_refuses_unknown_ones(
    flow: tuple[Pipeline, RecordingNotifier],
) -> None:
    pipeline, notifier = flow
    first = (await pipeline.declare_incident("db slow", "db", Severity.SEV2, "U0A", T0)).incident
    second = (await pipeline.declare_incident("api 5xx", "api", Severity.SEV1, "U0A", T0)).incident
    assert second.number is not None

    posted = await pipeline.post_update(
        f"inc-{second.number}", "U0A", "mitigated", T0 + timedelta(minutes=5)
    )

    assert posted.id == second.id
    assert (await pipeline.store.get_incident(first.id)).last_update_at is None
    with pytest.raises(NotFound):
        await pipeline.post_update("INC-999999", "U0A", "nothing", T0)
    assert [c[1] for c in notifier.calls if c[0] == "status_update"] == [second.id]
