"""The hash chain and evidence-bundle checks (bot/audit.py), on values only."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot import audit
from bot.models import (
    ActionRequest,
    ActionState,
    Approval,
    Decision,
    DecisionOutcome,
    Event,
    EventKind,
    Incident,
    Proposal,
)

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def _chain(n: int, incident_id: str = "inc-1", legacy: int = 0) -> list[Event]:
    events: list[Event] = []
    for i in range(n):
        event = Event(incident_id=incident_id, at=T0 + timedelta(seconds=i), actor="u",
                      kind=EventKind.NOTE, message=f"step {i} — ünïcode", seq=i + 1,
                      data={"n": i, "nested": {"b": 1, "a": [1, 2]}})
        events.append(event if i < legacy else audit.chained(event, events[-1] if events else None))
    return events


def test_the_hash_is_sha256_of_prev_and_canonical_json() -> None:
    first, second = _chain(2)
    body = second.model_dump(mode="json")
    del body["prev_hash"], body["hash"]
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert "—" in text and " " not in text.replace("step 1 — ünïcode", "")
    expected = hashlib.sha256((first.hash + text).encode("utf-8")).hexdigest()
    assert second.prev_hash == first.hash and second.hash == expected
    assert first.prev_hash == audit.GENESIS


def test_an_intact_chain_verifies_and_reports_its_head() -> None:
    events = _chain(5)
    report = audit.verify_chain("inc-1", events)
    assert report.ok and report.events == 5 and report.legacy == 0
    assert report.head == events[-1].hash


def test_a_stored_round_trip_keeps_the_chain() -> None:
    events = [Event.model_validate_json(e.model_dump_json()) for e in _chain(4)]
    assert audit.verify_chain("inc-1", events).ok


def test_an_edited_message_names_its_link() -> None:
    events = _chain(5)
    stored_hash = events[2].hash
    events[2] = events[2].model_copy(update={"message": "nothing happened"})
    broken = audit.verify_chain("inc-1", events).broken
    assert broken is not None
    assert (broken.seq, broken.what, broken.found) == (3, "hash", stored_hash)
    assert broken.expected == audit.digest(events[2].prev_hash, events[2])
    assert "inc-1 seq 3" in broken.describe()


def test_a_deleted_event_breaks_the_next_link() -> None:
    events = _chain(5)
    del events[1]
    broken = audit.verify_chain("inc-1", events).broken
    assert broken is not None and (broken.seq, broken.what) == (3, "prev_hash")
    assert broken.expected == events[0].hash


def test_legacy_events_before_the_chain_are_unchained_not_broken() -> None:
    events = _chain(5, legacy=2)
    report = audit.verify_chain("inc-1", events)
    assert report.ok and report.legacy == 2
    # the first chained event links to the last legacy one's digest, so editing it shows
    edited = list(events)
    edited[1] = edited[1].model_copy(update={"message": "rewritten"})
    broken = audit.verify_chain("inc-1", edited).broken
    assert broken is not None and (broken.seq, broken.what) == (3, "prev_hash")


def test_stripping_hashes_inside_the_chain_is_a_break() -> None:
    events = _chain(4)
    events[2] = events[2].model_copy(update={"prev_hash": "", "hash": ""})
    broken = audit.verify_chain("inc-1", events).broken
    assert broken is not None and broken.seq == 3
    assert broken.what == "unchained event inside the chain"


def test_an_event_of_another_incident_is_a_break() -> None:
    events = _chain(3)
    events[1] = events[1].model_copy(update={"incident_id": "inc-2"})
    broken = audit.verify_chain("inc-1", events).broken
    assert broken is not None and broken.what == "incident id"


def test_decision_facts_carry_outcome_rules_revision_and_plan() -> None:
    request = _request()
    facts = audit.decision_facts(request)
    assert facts["outcome"] == "require_approval" and facts["policy_revision"] == "rev-1"
    assert facts["decision_id"] == request.decision.id
    assert facts["proposal"]["action"] == "restart_deployment"
    if "plan_hash" in ActionRequest.model_fields:
        planned = request.model_copy(update={"plan_hash": "abc"})
        assert audit.decision_facts(planned)["plan_hash"] == "abc"


# evidence bundles -------------------------------------------------------------------------------


def _request() -> ActionRequest:
    decision = Decision(outcome=DecisionOutcome.REQUIRE_APPROVAL, action="restart_deployment",
                        service="checkout", approvals_required=1, policy_revision="rev-1")
    return ActionRequest(
        id="act-1", incident_id="inc-1",
        proposal=Proposal(action="restart_deployment", service="checkout"),
        decision=decision, state=ActionState.APPROVED, requested_by="incident-bot",
        created_at=T0, updated_at=T0,
        approvals=[Approval(request_id="act-1", user_id="U1", at=T0)],
    )


def _bundle() -> dict[str, Any]:
    incident = Incident(id="inc-1", title="t", service="checkout", created_at=T0, updated_at=T0)
    request = _request()
    filed = Event(incident_id="inc-1", at=T0, actor="incident-bot",
                  kind=EventKind.ACTION_PENDING_APPROVAL, message="filed", seq=1,
                  data={"request_id": request.id, **audit.decision_facts(request)})
    vote = Event(incident_id="inc-1", at=T0, actor="U1", kind=EventKind.ACTION_APPROVED,
                 message="approve", seq=2, data={"request_id": request.id, "vote": "approve"})
    first = audit.chained(filed, None)
    events = [first, audit.chained(vote, first)]
    return audit.build_bundle(incident.model_dump(mode="json"), [], [],
                              [request.model_dump(mode="json")], events, T0.isoformat())


def test_a_fresh_bundle_verifies() -> None:
    bundle = json.loads(json.dumps(_bundle()))  # as read back from the file
    report = audit.verify_bundle(bundle)
    assert report.ok, report.problems
    assert bundle["chain"]["head"] == bundle["events"][-1]["hash"]


def test_an_edited_event_in_a_bundle_names_the_link() -> None:
    bundle = _bundle()
    bundle["events"][1]["message"] = "deny"
    report = audit.verify_bundle(bundle)
    assert report.chain.broken is not None and report.chain.broken.seq == 2
    assert not report.ok


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda b: b["decisions"][0]["decision"].update(outcome="allow"), "outcome"),
        (lambda b: b["decisions"][0]["decision"].update(policy_revision="rev-2"),
         "policy_revision"),
        (lambda b: b["votes"][0].update(user_id="U9"), "vote approve by U9"),
        (lambda b: b["chain"].update(head="0" * 64), "chain head"),
    ],
)
def test_records_that_disagree_with_the_events_are_named(edit: Any, problem: str) -> None:
    bundle = _bundle()
    edit(bundle)
    report = audit.verify_bundle(bundle)
    assert report.chain.ok and not report.ok
    assert any(problem in p for p in report.problems), report.problems


def test_a_file_that_is_not_a_bundle_is_refused() -> None:
    with pytest.raises(ValueError, match="not an evidence bundle"):
        audit.verify_bundle({"format": "something else"})
