"""The markdown post-incident review is built from stored values only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.models import (
    ActionRequest,
    ActionState,
    Approval,
    Decision,
    DecisionOutcome,
    Event,
    Feedback,
    Incident,
    IncidentStatus,
    Proposal,
    RunbookRef,
    Triage,
    Vote,
)
from bot.postmortem import PostmortemFacts, build_postmortem

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


def test_open_incident_says_so_and_asks_to_resolve() -> None:
    f = facts()
    f.incident.status, f.incident.resolved_at = IncidentStatus.OPEN, None
    f.triages, f.requests, f.events = [], [], []
    text = build_postmortem(f, T0 + timedelta(minutes=30))
    assert "still open" in text and "**Duration**: 0h 30m" in text
    assert "never triaged" in text and "No remediation was proposed" in text
    assert "Resolve the incident" in text
