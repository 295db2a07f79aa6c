"""Declared incidents are triaged from what the declarer wrote; a person sets the severity."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.errors import NotFound
from bot.models import Category, EventKind, Severity
from bot.notify import RecordingNotifier
from bot.pipeline import Pipeline, SeverityStatus

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
KEY = "AKIAIOSFODNN7EXAMPLE"
# The rules triager (no model) reads this as security, SEV1; the title alone says nothing.
SECURITY_TEXT = "brute force: failed logins from a tor exit node against the admin console"


async def test_a_declared_incident_is_triaged_from_its_description(
    flow: tuple[Pipeline, RecordingNotifier],
) -> None:
    pipeline, notifier = flow
    declared = await pipeline.declare_incident(
        "something odd on the admin side",
        "checkout",
        Severity.SEV0,
        "U0DECLARER",
        T0,
        description=SECURITY_TEXT,
    )
    incident = declared.incident
    alerts = await pipeline.store.list_alerts(incident.id)
    assert [(a.title, a.description) for a in alerts] == [
        ("something odd on the admin side", SECURITY_TEXT)
    ]
    stored = await pipeline.store.get_incident(incident.id)
    assert stored.alert_count == 1
    # Not triaged yet: the sweep would find it should the triage after declaring never run.
    untriaged = await pipeline.store.list_untriaged_incidents()
    assert incident.id in [i.id for i in untriaged]

    result = await pipeline.triage_incident(incident.id, T0, requester="U0DECLARER")

    assert result is not None
    assert result.triage.category is Category.SECURITY
    assert result.triage.severity is Severity.SEV1
    after = await pipeline.store.get_incident(incident.id)
    assert after.category is Category.SECURITY
    assert after.severity is Severity.SEV0  # triage's SEV1 does not lower the declarer's SEV0
    assert after.commander == "U0DECLARER"
    assert all(r.requested_by == "U0DECLARER" for r in result.requests)
    assert ("incident_triaged", incident.id, result.triage.id) in notifier.calls
    kinds = [e.kind for e in await pipeline.timeline_of(incident.id)]
    assert kinds[:2] == [EventKind.INCIDENT_DECLARED, EventKind.TRIAGE_COMPLETED]


async def test_a_declaration_without_description_is_triaged_from_its_title(
    flow: tuple[Pipeline, RecordingNotifier],
) -> None:
    pipeline, _ = flow
    declared = await pipeline.declare_incident(
        SECURITY_TEXT, "checkout", Severity.SEV3, "U0DECLARER", T0
    )
    result = await pipeline.triage_incident(declared.incident.id, T0, requester="U0DECLARER")
    assert result is not None and result.triage.category is Category.SECURITY
    after = await pipeline.store.get_incident(declared.incident.id)
    # Triage may find it worse than declared; it never finds it better.
    assert after.severity is Severity.SEV1
    assert after.commander == "U0DECLARER"


async def test_changing_the_severity_is_on_the_timeline_with_the_reason_redacted(
    flow: tuple[Pipeline, RecordingNotifier],
) -> None:
    pipeline, _ = flow
    incident = (
        await pipeline.declare_incident("checkout 5xx", "checkout", Severity.SEV2, "U0A", T0)
    ).incident
    at = T0 + timedelta(minutes=3)

    changed = await pipeline.change_severity(
        incident.reference, Severity.SEV1, "U0BOB", f"EU down too;  key {KEY} leaked", at
    )

    assert changed.status is SeverityStatus.CHANGED
    assert changed.previous is Severity.SEV2
    assert changed.incident.severity is Severity.SEV1
    assert KEY not in changed.reason and changed.reason.startswith("EU down too; key")
    stored = await pipeline.store.get_incident(incident.id)
    assert stored.severity is Severity.SEV1 and stored.updated_at == at
    [event] = [
        e
        for e in await pipeline.timeline_of(incident.id)
        if e.kind == EventKind.INCIDENT_SEVERITY_CHANGED
    ]
    assert event.actor == "U0BOB" and event.at == at
    assert event.message.startswith("SEV2 -> SEV1: EU down too")
    assert KEY not in event.message
    assert event.data["from_severity"] == "SEV2" and event.data["to_severity"] == "SEV1"


async def test_the_same_severity_changes_nothing_and_a_resolved_incident_is_refused(
    flow: tuple[Pipeline, RecordingNotifier],
) -> None:
    pipeline, _ = flow
    incident = (await pipeline.declare_incident("db slow", "db", Severity.SEV2, "U0A", T0)).incident

    same = await pipeline.change_severity(incident.id, Severity.SEV2, "U0A", "", T0)
    assert same.status is SeverityStatus.UNCHANGED and same.incident.severity is Severity.SEV2

    await pipeline.resolve_incident(incident.id, "U0A", "fixed", T0)
    refused = await pipeline.change_severity(incident.id, Severity.SEV0, "U0A", "worse", T0)
    assert refused.status is SeverityStatus.NOT_OPEN
    stored = await pipeline.store.get_incident(incident.id)
    assert stored.severity is Severity.SEV2
    events = await pipeline.timeline_of(incident.id)
    assert not [e for e in events if e.kind == EventKind.INCIDENT_SEVERITY_CHANGED]

    with pytest.raises(NotFound):
        await pipeline.change_severity("INC-999999", Severity.SEV1, "U0A", "", T0)


async def test_concurrent_changes_each_record_what_they_replaced(
    flow: tuple[Pipeline, RecordingNotifier],
) -> None:
    pipeline, _ = flow
    incident = (
        await pipeline.declare_incident("api 5xx", "api", Severity.SEV3, "U0A", T0)
    ).incident

    results = await asyncio.gather(
        pipeline.change_severity(incident.id, Severity.SEV1, "U0A", "", T0),
        pipeline.change_severity(incident.id, Severity.SEV0, "U0B", "", T0),
    )

    assert {r.status for r in results} == {SeverityStatus.CHANGED}
    events = [
        e
        for e in await pipeline.timeline_of(incident.id)
        if e.kind == EventKind.INCIDENT_SEVERITY_CHANGED
    ]
    assert len(events) == 2
    # The CAS loop serialises them: the second replaced what the first set.
    assert events[0].data["from_severity"] == "SEV3"
    assert events[1].data["from_severity"] == events[0].data["to_severity"]
    stored = await pipeline.store.get_incident(incident.id)
    assert stored.severity.value == events[1].data["to_severity"]


async def test_a_re_triage_leaves_a_severity_a_person_set_alone(
    flow: tuple[Pipeline, RecordingNotifier],
) -> None:
    """The commander lowers to SEV3; the next triage (which reads SEV1) does not raise it."""
    pipeline, _ = flow
    declared = await pipeline.declare_incident(
        "admin console", "checkout", Severity.SEV2, "U0DECLARER", T0, description=SECURITY_TEXT
    )
    incident_id = declared.incident.id
    first = await pipeline.triage_incident(incident_id, T0, requester="U0DECLARER")
    assert first is not None and first.triage.severity is Severity.SEV1
    assert (await pipeline.store.get_incident(incident_id)).severity is Severity.SEV1

    changed = await pipeline.change_severity(
        incident_id, Severity.SEV3, "U0DECLARER", "a test tenant only", T0
    )
    assert changed.status is SeverityStatus.CHANGED
    again = await pipeline.triage_incident(incident_id, T0, requester="U0DECLARER", force=True)
    assert again is not None and again.triage.severity is Severity.SEV1
    after = await pipeline.store.get_incident(incident_id)
    assert after.severity is Severity.SEV3 and after.severity_set_by == "U0DECLARER"
