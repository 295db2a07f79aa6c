"""The markdown post-incident review is built from stored values only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.models import (
    ActionRequest,
    ActionState,
    Alert,
    Approval,
    Decision,
    DecisionOutcome,
    Event,
    EventKind,
    Feedback,
    Incident,
    IncidentStatus,
    Proposal,
    RunbookRef,
    Triage,
    Vote,
)
from bot.postmortem import PostmortemFacts, build_postmortem, people_in

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def facts() -> PostmortemFacts:
    inc = Incident(
        title="checkout | 5xx",
        service="checkout",
        status=IncidentStatus.RESOLVED,
        commander="U0IC",
        created_at=T0,
        updated_at=T0,
        resolved_at=T0 + timedelta(minutes=95),
    )
    decision = Decision(
        outcome=DecisionOutcome.REQUIRE_APPROVAL,
        action="restart_deployment",
        service="checkout",
        approvals_required=1,
    )
    done = ActionRequest(
        incident_id=inc.id,
        proposal=Proposal(action="restart_deployment", service="checkout"),
        decision=decision,
        state=ActionState.SUCCEEDED,
        requested_by="incident-bot",
        approvals=[
            Approval(
                request_id="act-1", user_id="U0CHK", vote=Vote.APPROVE, at=T0 + timedelta(minutes=5)
            )
        ],
        result={"mode": "dry_run"},
        created_at=T0,
        updated_at=T0,
    )
    expired = done.model_copy(
        update={
            "id": "act-expired00",
            "state": ActionState.EXPIRED,
            "approvals": [],
            "result": None,
        }
    )
    return PostmortemFacts(
        incident=inc,
        events=[
            Event(
                incident_id=inc.id,
                at=T0,
                actor="generic",
                kind="incident.opened",
                message="Opened | by alert",
            )
        ],
        triages=[
            Triage(
                incident_id=inc.id,
                summary="errors",
                root_cause="bad pod",
                runbooks=[RunbookRef(id="deploy-5xx-spike", version="3")],
                created_at=T0,
            )
        ],
        requests=[done, expired],
        feedback=[Feedback(incident_id=inc.id, user_id="U1", helpful=False, at=T0)],
    )


def test_review_has_every_section_with_the_recorded_facts() -> None:
    text = build_postmortem(facts(), T0 + timedelta(hours=3))
    for heading in (
        "# Post-incident review",
        "## Timeline",
        "## Triage",
        "## Actions and approvals",
        "## Follow-ups",
    ):
        assert heading in text
    assert "**Duration**: 1h 35m" in text
    assert "approve by U0CHK at 02:05:00" in text
    assert "`deploy-5xx-spike@3`" in text
    assert "Opened \\| by alert" in text  # a pipe cannot break the table
    assert "act-expired00" in text and "expired unapproved" in text
    assert "marked not helpful 1 time(s)" in text
    assert "- Result: dry run: recorded, nothing ran" in text
    assert "\n\n### **" in text.split("## Actions and approvals", 1)[1].split("### **", 1)[1]
    assert "errors. Remediation that ran:" in text  # the summary ends its sentence


def test_open_incident_says_so_and_asks_to_resolve() -> None:
    f = facts()
    f.incident.status, f.incident.resolved_at = IncidentStatus.OPEN, None
    f.triages, f.requests, f.events = [], [], []
    text = build_postmortem(f, T0 + timedelta(minutes=30))
    assert "still open" in text and "**Duration**: 0h 30m" in text
    assert "never triaged" in text and "No remediation was proposed" in text
    assert "Resolve the incident" in text


def test_review_has_impact_key_times_factors_and_owned_follow_ups() -> None:
    f = facts()
    f.events += [
        Event(
            incident_id=f.incident.id,
            at=T0 + timedelta(minutes=3),
            actor="U0CHK",
            kind=EventKind.NOTE,
            message="rolled back the canary",
        ),
        Event(
            incident_id=f.incident.id,
            at=T0 + timedelta(minutes=4),
            actor="U0IC",
            kind=EventKind.NOTE,
            message="customers see 502 on pay",
            data={"pinned": True, "message_ts": "1.2"},
        ),
    ]
    names = {"U0CHK": "Chloe | Checkout", "U0IC": "Ines"}
    text = build_postmortem(f, T0 + timedelta(hours=3), names=names)
    for heading in ("## Summary", "## Impact", "## Key times", "## Contributing factors"):
        assert heading in text
    assert "- **Services**: checkout" in text
    # acknowledged is derived from the first human response when the incident has no ack time
    assert (
        "| Acknowledged | 2026-11-24 02:03:00 UTC | derived (no acknowledgement recorded): "
        "first response, note by Chloe \\| Checkout |"
    ) in text
    assert "| Mitigated | 2026-11-24 02:00:00 UTC | first state-changing action" in text
    assert "**Time to acknowledge**: 0h 03m" in text
    assert "| **Chloe \\| Checkout** | note | rolled back the canary |" in text
    assert "| **Ines** | pinned message | customers see 502 on pay |" in text
    assert "approve by Chloe \\| Checkout at 02:05:00" in text
    assert "Triage hypothesis (check it): bad pod" in text
    assert "_To fill in:_ what made this possible" in text
    assert "expired unapproved" in text and "— owner: Ines" in text
    assert "- [ ] _To fill in:_ the fix that prevents a recurrence — owner: _to assign_" in text
    assert "U0CHK" not in text.split("## Triage")[0]  # people by name, not id


def test_people_in_lists_every_user_the_review_names() -> None:
    assert people_in(facts()) == {"U0IC", "U0CHK"}


def test_summary_and_impact_give_the_same_duration_from_the_first_alert() -> None:
    """An alert that fired 20 minutes before the incident was filed: both say 1h 55m."""
    f = facts()
    f.alerts = [
        Alert(
            source="alertmanager",
            fingerprint="fp1",
            group_key="g1",
            service="checkout",
            title="5xx",
            starts_at=T0 - timedelta(minutes=20),
            received_at=T0,
            incident_id=f.incident.id,
        )
    ]
    text = build_postmortem(f, T0 + timedelta(hours=3))
    assert "- **Duration**: 1h 55m · **Alerts**" in text
    assert "- **Duration**: 1h 55m (detected to resolved)" in text


def test_user_ids_inside_timeline_messages_are_named_in_the_file() -> None:
    f = facts()
    f.events.append(
        Event(
            incident_id=f.incident.id,
            at=T0 + timedelta(minutes=1),
            actor="incident-bot",
            kind=EventKind.INCIDENT_ROLE_ASSIGNED,
            message="On-call commander U0CHKONCALL of checkout assigned; WARNING U2 stays",
        )
    )
    assert "U0CHKONCALL" in people_in(f) and "WARNING" not in people_in(f)
    names = {"U0CHKONCALL": "Dana Oncall", "U0IC": "Ines", "U0CHK": "Chloe"}
    text = build_postmortem(f, T0 + timedelta(hours=3), names=names)
    assert "On-call commander Dana Oncall of checkout assigned; WARNING U2 stays" in text
    assert "U0CHKONCALL" not in text
