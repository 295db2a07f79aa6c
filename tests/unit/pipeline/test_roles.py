"""Who leads an incident: the on-call commander of alert-born incidents, the reporter of a
report, the first to acknowledge otherwise; roles handed over with ``assign_role``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.compose import Root
from bot.config import load_settings
from bot.models import (
    BOT_ACTOR,
    ActionRequest,
    ActionState,
    Decision,
    DecisionOutcome,
    Event,
    EventKind,
    Incident,
    Proposal,
    Role,
)
from bot.notify import RecordingNotifier
from bot.pipeline import AckStatus, AssignStatus, Pipeline
from bot.pipeline.escalation import PERSON_OR_GROUP, people_to_tell
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


# whom escalations reach ------------------------------------------------------------------------
async def plain_incident(
    pipeline: Pipeline, service: str = "checkout", commander: str | None = None
) -> Incident:
    incident = Incident(
        title=f"{service} slow", service=service, commander=commander, created_at=T0, updated_at=T0
    )
    await pipeline.store.create_incident(incident)
    return await pipeline.store.get_incident(incident.id)


def waiting(incident: Incident, state: ActionState = ActionState.PENDING_APPROVAL) -> ActionRequest:
    return ActionRequest(
        incident_id=incident.id,
        proposal=Proposal(action="restart_deployment", service=incident.service),
        decision=Decision(
            outcome=DecisionOutcome.REQUIRE_APPROVAL,
            action="restart_deployment",
            service=incident.service,
            approvals_required=1,
            eligible_approvers=["S0CHECKOUT"],
        ),
        state=state,
        requested_by=BOT_ACTOR,
        created_at=T0,
        updated_at=T0,
        expires_at=T0 + timedelta(hours=2),
        claimed_by="replica-x" if state is ActionState.EXECUTING else None,
        claim_expires_at=T0 + timedelta(seconds=30) if state is ActionState.EXECUTING else None,
    )


@pytest.mark.parametrize(
    ("service", "commander", "first", "later"),
    [
        # The commander first; later escalations add the on-call escalation list.
        ("checkout", "U0LEAD0001", ["U0LEAD0001"], ["U0LEAD0001", *CHECKOUT_ESCALATION]),
        # Nobody leads: the escalation list at once (user and group ids).
        ("auth-service", None, ["U0IDLEAD01", "S0IDENTITY"], ["U0IDLEAD01", "S0IDENTITY"]),
        # No commander and no escalation list: the approvers' ids (owners are team names).
        ("cart-service", None, ["S0CHECKOUT", "U0CARTDEV1"], ["S0CHECKOUT", "U0CARTDEV1"]),
        # A service policy does not know: its fallback approvers.
        ("no-such-service", None, ["S0INCIDENTCMD"], ["S0INCIDENTCMD"]),
    ],
)
async def test_escalations_reach_the_commander_then_the_oncall_list_never_the_channel(
    flow: tuple[Pipeline, RecordingNotifier],
    service: str,
    commander: str | None,
    first: list[str],
    later: list[str],
) -> None:
    pipeline, notifier = flow
    incident = await plain_incident(pipeline, service, commander)
    request = waiting(incident)
    await pipeline.store.add_action_request(request)
    every = pipeline.options.reminder_seconds
    for step in (1, 2, 3):
        assert await pipeline.remind_waiting(T0 + timedelta(seconds=every * step + 1)) == 1
    assert notifier.nudges == [(request.id, False), (request.id, True), (request.id, True)]
    assert notifier.pinged == [
        ("reminded", request.id, tuple(first)),
        ("reminded", request.id, tuple(later)),
    ]
    escalated = [
        e for e in await pipeline.timeline_of(incident.id) if e.kind == EventKind.ACTION_ESCALATED
    ]
    assert [e.data["people"] for e in escalated] == [first, later]


async def test_an_unknown_outcome_pings_people_not_the_channel(
    flow: tuple[Pipeline, RecordingNotifier],
) -> None:
    pipeline, notifier = flow
    incident = await plain_incident(pipeline, "checkout")
    request = waiting(incident, ActionState.EXECUTING)
    await pipeline.store.add_action_request(request)
    await pipeline.settle_lapsed_executions(T0 + timedelta(minutes=5))
    assert notifier.pinged == [("request_updated", request.id, tuple(CHECKOUT_ESCALATION))]


def test_people_to_tell_is_never_the_channel_and_only_ids(
    flow: tuple[Pipeline, RecordingNotifier],
) -> None:
    pipeline, _ = flow
    policy = pipeline.policy
    led = Incident(title="x", service="checkout", commander="U0LEAD0001", created_at=T0,
                   updated_at=T0)
    assert people_to_tell(policy, led) == ("U0LEAD0001",)
    assert people_to_tell(policy, led, later=True) == ("U0LEAD0001", *CHECKOUT_ESCALATION)
    # A commander that is no id (an old record, a typo) is nobody to mention.
    odd = led.model_copy(update={"commander": "<!here>"})
    assert people_to_tell(policy, odd) == tuple(CHECKOUT_ESCALATION)
    for service in ("checkout", "payment-gateway", "no-such-service", "multiple"):
        nobody = led.model_copy(update={"service": service, "commander": None})
        people = people_to_tell(policy, nobody)
        assert people and all(PERSON_OR_GROUP.fullmatch(p) for p in people), (service, people)


# /incident assign -----------------------------------------------------------------------------
async def test_anyone_may_take_command_of_an_incident_nobody_leads(
    flow: tuple[Pipeline, RecordingNotifier],
) -> None:
    pipeline, _ = flow
    incident = await plain_incident(pipeline, "search-api")
    result = await pipeline.assign_role(incident.id, Role.COMMANDER, "U0ALICE01", "U0ANYONE1", T0)
    assert result.status is AssignStatus.ASSIGNED and result.previous is None
    assert result.incident.commander == "U0ALICE01"
    [event] = assignments(await pipeline.timeline_of(incident.id))
    assert event.actor == "U0ANYONE1"
    assert event.data == {
        "role": "commander", "user": "U0ALICE01", "previous": None, "source": "assigned"
    }


async def test_only_the_commander_approvers_or_admins_hand_a_role_over(
    flow: tuple[Pipeline, RecordingNotifier],
) -> None:
    pipeline, _ = flow
    incident = await plain_incident(pipeline, "checkout", commander="U0ALICE01")
    refused = await pipeline.assign_role(incident.id, Role.COMMANDER, "U0EVE0001", "U0EVE0001", T0)
    assert refused.status is AssignStatus.NOT_ALLOWED
    stored = await pipeline.store.get_incident(incident.id)
    assert stored.commander == "U0ALICE01" and stored.version == incident.version
    assert assignments(await pipeline.timeline_of(incident.id)) == []

    # The commander hands command over; then the old commander may no longer.
    # Named by its number, as people say it.
    handed = await pipeline.assign_role(
        incident.reference, Role.COMMANDER, "U0BOB0001", "U0ALICE01", T0
    )
    assert handed.status is AssignStatus.ASSIGNED and handed.previous == "U0ALICE01"
    late = await pipeline.assign_role(incident.id, Role.SCRIBE, "U0ALICE01", "U0ALICE01", T0)
    assert late.status is AssignStatus.NOT_ALLOWED
    # An approver of checkout (policies/services.yaml) and an admin may, whoever commands.
    by_approver = await pipeline.assign_role(
        incident.id, Role.COMMANDER, "U0CAROL01", "U0CHKLEAD1", T0
    )
    assert by_approver.status is AssignStatus.ASSIGNED and by_approver.previous == "U0BOB0001"
    by_admin = await pipeline.assign_role(incident.id, Role.COMMS, "U0DAVE001", "U0ADMIN001", T0)
    assert by_admin.status is AssignStatus.ASSIGNED
    history = [(e.actor, e.data["role"], e.data["previous"], e.data["user"])
               for e in assignments(await pipeline.timeline_of(incident.id))]
    assert history == [
        ("U0ALICE01", "commander", "U0ALICE01", "U0BOB0001"),
        ("U0CHKLEAD1", "commander", "U0BOB0001", "U0CAROL01"),
        ("U0ADMIN001", "comms", None, "U0DAVE001"),
    ]


async def test_scribe_and_comms_are_kept_beside_the_commander(
    flow: tuple[Pipeline, RecordingNotifier],
) -> None:
    pipeline, _ = flow
    incident = await plain_incident(pipeline, "checkout", commander="U0ALICE01")
    await pipeline.assign_role(incident.id, Role.SCRIBE, "U0SCRIBE1", "U0ALICE01", T0)
    await pipeline.assign_role(incident.id, Role.COMMS, "U0COMMS01", "U0ALICE01", T0)
    again = await pipeline.assign_role(incident.id, Role.SCRIBE, "U0SCRIBE1", "U0ALICE01", T0)
    assert again.status is AssignStatus.UNCHANGED
    moved = await pipeline.assign_role(incident.id, Role.SCRIBE, "U0SCRIBE2", "U0ALICE01", T0)
    assert moved.previous == "U0SCRIBE1"
    stored = await pipeline.store.get_incident(incident.id)
    assert stored.commander == "U0ALICE01"
    assert stored.roles == {Role.SCRIBE: "U0SCRIBE2", Role.COMMS: "U0COMMS01"}
    assert len(assignments(await pipeline.timeline_of(incident.id))) == 3


async def test_a_resolved_incident_changes_nothing(
    flow: tuple[Pipeline, RecordingNotifier],
) -> None:
    pipeline, _ = flow
    incident = await plain_incident(pipeline, "checkout", commander="U0ALICE01")
    await pipeline.resolve_incident(incident.id, "U0ALICE01", "fixed", T0)
    closed = await pipeline.store.get_incident(incident.id)
    for actor in ("U0ALICE01", "U0ADMIN001"):
        result = await pipeline.assign_role(incident.id, Role.COMMANDER, "U0BOB0001", actor, T0)
        assert result.status is AssignStatus.NOT_OPEN
    after = await pipeline.store.get_incident(incident.id)
    assert (after.commander, after.version) == ("U0ALICE01", closed.version)
    assert assignments(await pipeline.timeline_of(incident.id)) == []


async def test_racing_handovers_by_the_commander_give_command_away_once(
    flow: tuple[Pipeline, RecordingNotifier],
) -> None:
    pipeline, _ = flow
    incident = await plain_incident(pipeline, "checkout", commander="U0ALICE01")
    heirs = [f"U0HEIR{n:03d}" for n in range(6)]
    results = await asyncio.gather(
        *(pipeline.assign_role(incident.id, Role.COMMANDER, h, "U0ALICE01", T0) for h in heirs)
    )
    winners = [r for r in results if r.status is AssignStatus.ASSIGNED]
    assert len(winners) == 1
    assert {r.status for r in results if r not in winners} == {AssignStatus.NOT_ALLOWED}
    stored = await pipeline.store.get_incident(incident.id)
    assert stored.commander == winners[0].user
    assert len(assignments(await pipeline.timeline_of(incident.id))) == 1
