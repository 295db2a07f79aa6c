"""Who leads an incident: the on-call commander of alert-born incidents, the reporter of a
report, the first to acknowledge otherwise; roles handed over with ``assign_role``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.compose import Root
from bot.config import load_settings
from bot.models import BOT_ACTOR, Event, EventKind, Incident
from bot.notify import RecordingNotifier
from bot.pipeline import AckStatus, Pipeline
from bot.pipeline.storm import is_storm_key

# Outside every freeze window of the shipped policies.
T0 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
# policies/services.yaml: checkout's on-call commander and escalation list.
CHECKOUT_ONCALL = "U0CHKONCALL"
CHECKOUT_ESCALATION = ["U0CHKLEAD1", "S0CHECKOUT"]


def alert(title: str, service: str = "checkout", n: int = 1) -> bytes:
    return json.dumps(
        {
            "title": title,
            "service": service,
            "severity": "critical",
            "labels": {"alertname": title.replace(" ", ""), "instance": f"pod-{n}"},
        }
    ).encode()


def build(tmp_path: Path, notifier: RecordingNotifier, **settings: str | int) -> Pipeline:
    loaded = load_settings(
        SQLITE_PATH=str(tmp_path / "bot.db"),
        RUNBOOK_INDEX_PATH=str(tmp_path / "rb.db"),
        RUNBOOK_EMBEDDINGS="none",
        INCIDENT_ADMINS="U0ADMIN001",
        **settings,
    )
    return Root(loaded).runtime(notifier=notifier).pipeline


@pytest.fixture
async def flow(tmp_path: Path) -> AsyncIterator[tuple[Pipeline, RecordingNotifier]]:
    notifier = RecordingNotifier()
    pipeline = build(tmp_path, notifier)
    try:
        yield pipeline, notifier
    finally:
        await pipeline.store.close()


async def opened_by_alert(pipeline: Pipeline, title: str, service: str = "checkout") -> Incident:
    receipt = await pipeline.ingest("generic", alert(title, service), "application/json", T0)
    assert len(receipt.new_incident_ids) == 1
    return await pipeline.store.get_incident(receipt.new_incident_ids[0])


def assignments(events: list[Event]) -> list[Event]:
    return [e for e in events if e.kind == EventKind.INCIDENT_ROLE_ASSIGNED]


# on-call commander -------------------------------------------------------------------------------
async def test_an_alert_born_incident_is_led_by_the_services_oncall_commander(
    flow: tuple[Pipeline, RecordingNotifier],
) -> None:
    pipeline, _ = flow
    incident = await opened_by_alert(pipeline, "checkout 5xx")
    assert incident.commander == CHECKOUT_ONCALL
    [assigned] = assignments(await pipeline.timeline_of(incident.id))
    assert assigned.actor == BOT_ACTOR
    assert CHECKOUT_ONCALL in assigned.message and "On-call commander" in assigned.message
    assert assigned.data["role"] == "commander" and assigned.data["source"] == "oncall"
    assert assigned.data["user"] == CHECKOUT_ONCALL and assigned.data["previous"] is None

    # A repeat of the alert joins the incident: no second assignment.
    await pipeline.ingest("generic", alert("checkout 5xx"), "application/json", T0)
    assert len(assignments(await pipeline.timeline_of(incident.id))) == 1

    # The on-call commander leads; acknowledging someone else does not take command from them.
    acked = await pipeline.acknowledge(incident.id, "U0RESPOND1", T0 + timedelta(minutes=2))
    assert acked.status is AckStatus.ACKNOWLEDGED
    assert acked.incident.commander == CHECKOUT_ONCALL


@pytest.mark.parametrize(
    "service",
    [
        "search-api",  # known, no oncall.commander
        "no-such-service",  # unknown
        "chеckout",  # a look-alike of checkout (Cyrillic e): never matches the known entry
    ],
)
async def test_without_an_oncall_commander_the_first_to_acknowledge_leads(
    flow: tuple[Pipeline, RecordingNotifier], service: str
) -> None:
    pipeline, _ = flow
    incident = await opened_by_alert(pipeline, f"{service} errors", service)
    assert incident.commander is None
    assert assignments(await pipeline.timeline_of(incident.id)) == []
    acked = await pipeline.acknowledge(incident.id, "U0FIRST01", T0 + timedelta(minutes=1))
    assert acked.incident.commander == "U0FIRST01"


async def test_a_reported_incident_is_led_by_its_reporter_not_the_oncall(
    flow: tuple[Pipeline, RecordingNotifier],
) -> None:
    pipeline, _ = flow
    incident, _ = await pipeline.report("checkout pods crash looping", "checkout", "U0REPORTER", T0)
    stored = await pipeline.store.get_incident(incident.id)
    assert stored.commander == "U0REPORTER"
    [assigned] = assignments(await pipeline.timeline_of(incident.id))
    assert assigned.actor == "U0REPORTER" and assigned.data["source"] == "reporter"


async def test_a_storm_incident_is_led_by_its_first_alerts_oncall_commander(
    tmp_path: Path,
) -> None:
    pipeline = build(tmp_path, RecordingNotifier(), STORM_THRESHOLD=1, STORM_WINDOW_SECONDS=60)
    try:
        for n in range(4):
            await pipeline.ingest(
                "generic", alert(f"checkout backlog {n}", n=n), "application/json", T0
            )
        incidents = await pipeline.store.list_incidents(limit=100)
        storms = [i for i in incidents if is_storm_key(i.group_key)]
        assert len(storms) == 1
        assert storms[0].commander == CHECKOUT_ONCALL
        [assigned] = assignments(await pipeline.timeline_of(storms[0].id))
        assert assigned.data["source"] == "oncall"
    finally:
        await pipeline.store.close()
