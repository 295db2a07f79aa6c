"""Undo (the inverse filed through policy with the captured values) and break-glass (a freeze
answered with a justification and one more approval), over real SQLite and real programs."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot import actions
from bot.actions import VoteStatus
from bot.compose import Root
from bot.config import PROJECT_ROOT, load_settings
from bot.models import (
    ActionRequest,
    ActionState,
    Category,
    EventKind,
    Incident,
    Proposal,
    Severity,
    Triage,
    Vote,
)
from bot.notify import RecordingNotifier
from bot.pipeline import GlassStatus, Pipeline, UndoStatus
from bot.policy import EvaluationContext

QUIET = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
FROZEN = datetime(2026, 12, 28, 12, 0, tzinfo=UTC)  # inside the shipped year-end freeze
LEAD = "U0CHKLEAD1"  # approves for checkout (services.yaml)
GLASS = "U0GLASS001"
ONCALL = "U0ONCALL01"
SCALE = Proposal(
    action="scale_deployment",
    service="checkout",
    params={"deployment": "checkout-api", "replicas": 6},
)


def live_policy(target: Path, *, live: bool) -> Path:
    """The shipped policies; scale_deployment runs ``echo`` live and reads 3 replicas first."""
    shutil.copytree(PROJECT_ROOT / "policies", target)
    actions_file = target / "actions.yaml"
    document: dict[str, Any] = yaml.safe_load(actions_file.read_text())
    scale = document["actions"]["scale_deployment"]
    if live:
        scale["executor"] = {
            "type": "command",
            "mode": "live",
            "argv": ["echo", "scaled", "{deployment}", "{replicas}"],
        }
        scale["capture"][0]["read"] = {
            "type": "command",
            "argv": ["echo", '{"spec": {"replicas": 3}}'],
        }
    actions_file.write_text(yaml.safe_dump(document, sort_keys=False))
    rules_file = target / "rules.yaml"
    rules: dict[str, Any] = yaml.safe_load(rules_file.read_text())
    rules["break_glass_approvers"] = [GLASS]
    rules_file.write_text(yaml.safe_dump(rules, sort_keys=False))
    return target


async def flow_for(tmp_path: Path, *, live: bool) -> tuple[Pipeline, RecordingNotifier]:
    settings = load_settings(
        SQLITE_PATH=str(tmp_path / "bot.db"),
        RUNBOOK_INDEX_PATH=str(tmp_path / "rb.db"),
        RUNBOOK_EMBEDDINGS="none",
        POLICY_DIR=str(live_policy(tmp_path / "policies", live=live)),
    )
    notifier = RecordingNotifier()
    return Root(settings).runtime(notifier=notifier).pipeline, notifier


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[tuple[Pipeline, RecordingNotifier]]:
    pipeline, notifier = await flow_for(tmp_path, live=True)
    yield pipeline, notifier
    await pipeline.store.close()


@pytest.fixture
async def dry(tmp_path: Path) -> AsyncIterator[tuple[Pipeline, RecordingNotifier]]:
    pipeline, notifier = await flow_for(tmp_path, live=False)
    yield pipeline, notifier
    await pipeline.store.close()


async def filed(pipeline: Pipeline, now: datetime, proposal: Proposal = SCALE) -> ActionRequest:
    """An open latency incident on checkout with ``proposal`` filed as the bot's request."""
    incident = Incident(
        title="checkout slow",
        service="checkout",
        severity=Severity.SEV2,
        category=Category.LATENCY,
        created_at=now,
        updated_at=now,
    )
    await pipeline.store.create_incident(incident)
    triage = Triage(
        incident_id=incident.id, category=Category.LATENCY, confidence=0.9, created_at=now
    )
    await pipeline.store.add_triage(triage)
    context = EvaluationContext(
        category=Category.LATENCY, severity=Severity.SEV2, confidence=0.9, now=now
    )
    return await actions.open_request(
        pipeline.store,
        incident_id=incident.id,
        triage_id=triage.id,
        proposal=proposal,
        decision=pipeline.policy.evaluate(proposal, context),
        policy=pipeline.policy,
        requested_by="incident-bot",
        now=now,
        ttl_seconds=1800,
    )


async def test_undo_files_the_inverse_with_the_captured_value_through_approvals(
    live: tuple[Pipeline, RecordingNotifier],
) -> None:
    pipeline, _ = live
    request = await filed(pipeline, QUIET)
    voted = await pipeline.vote(request.id, LEAD, Vote.APPROVE, QUIET)
    assert voted.request is not None and voted.request.state is ActionState.SUCCEEDED
    assert [(c.name, c.value, c.simulated) for c in voted.request.captures] == [
        ("previous_replicas", 3, False)
    ]
    assert voted.request.result["argv"] == ["echo", "scaled", "checkout-api", "6"]

    undo = await pipeline.request_undo(request.id, ONCALL, QUIET + timedelta(minutes=1))
    assert undo.status is UndoStatus.FILED and undo.request is not None
    inverse = undo.request
    assert inverse.undo_of == request.id and inverse.requested_by == ONCALL
    assert inverse.proposal.action == "scale_deployment"
    assert inverse.proposal.params == {"deployment": "checkout-api", "replicas": 3}
    assert inverse.state is ActionState.PENDING_APPROVAL  # through policy, never a shortcut

    again = await pipeline.request_undo(request.id, LEAD, QUIET + timedelta(minutes=2))
    assert again.status is UndoStatus.ALREADY_UNDONE and again.request is not None
    assert again.request.id == inverse.id
    own = await pipeline.vote(inverse.id, ONCALL, Vote.APPROVE, QUIET + timedelta(minutes=3))
    assert own.status is VoteStatus.REQUESTER and not own.accepted

    kinds = [e.kind for e in await pipeline.store.list_events(request.incident_id)]
    assert EventKind.ACTION_CAPTURED in kinds and EventKind.ACTION_UNDO_REQUESTED in kinds


async def test_a_dry_run_captures_nothing_so_no_undo(
    dry: tuple[Pipeline, RecordingNotifier],
) -> None:
    pipeline, _ = dry
    request = await filed(pipeline, QUIET)
    voted = await pipeline.vote(request.id, LEAD, Vote.APPROVE, QUIET)
    assert voted.request is not None and voted.request.state is ActionState.SUCCEEDED
    [captured] = voted.request.captures
    assert captured.simulated and captured.value is None and "kubectl" in captured.read
    undo = await pipeline.request_undo(request.id, ONCALL, QUIET)
    assert undo.status is UndoStatus.NOT_UNDOABLE and "dry run" in undo.problem


async def test_undo_is_refused_once_the_incident_is_resolved(
    live: tuple[Pipeline, RecordingNotifier],
) -> None:
    pipeline, _ = live
    request = await filed(pipeline, QUIET)
    await pipeline.vote(request.id, LEAD, Vote.APPROVE, QUIET)
    incident = await pipeline.store.get_incident(request.incident_id)
    await pipeline.resolve_incident(incident.id, LEAD, "over", QUIET)
    undo = await pipeline.request_undo(request.id, ONCALL, QUIET)
    assert undo.status is UndoStatus.INCIDENT_CLOSED


async def test_break_glass_needs_one_more_approval_from_the_group(
    live: tuple[Pipeline, RecordingNotifier],
) -> None:
    pipeline, notifier = live
    blocked = await filed(pipeline, FROZEN)
    assert blocked.state is ActionState.BLOCKED and blocked.decision.break_glass_possible

    short = await pipeline.break_glass(blocked.id, ONCALL, "now", FROZEN)
    assert short.status is GlassStatus.JUSTIFICATION
    result = await pipeline.break_glass(
        blocked.id, ONCALL, "Checkout is down for everyone; scaling cannot wait.", FROZEN
    )
    assert result.status is GlassStatus.FILED and result.request is not None
    glass = result.request
    assert glass.state is ActionState.PENDING_APPROVAL
    assert glass.break_glass is not None and glass.break_glass.by == ONCALL
    assert glass.decision.approvals_required == 2  # one usual (standard, medium) plus one
    assert GLASS in glass.decision.eligible_approvers
    assert ("glass_broken", blocked.incident_id, glass.id) in notifier.calls
    assert (await pipeline.store.get_action_request(blocked.id)).state is ActionState.BLOCKED

    twice = await pipeline.break_glass(blocked.id, LEAD, "Another good reason here.", FROZEN)
    assert twice.status is GlassStatus.ALREADY_BROKEN

    first = await pipeline.vote(glass.id, LEAD, Vote.APPROVE, FROZEN)
    assert first.status is VoteStatus.RECORDED  # the usual approval alone is not enough
    second = await pipeline.vote(glass.id, GLASS, Vote.APPROVE, FROZEN)
    assert second.status is VoteStatus.APPROVED and second.request is not None
    # Execution re-checked policy with the recorded break-glass and ran it.
    assert second.request.state is ActionState.SUCCEEDED
    kinds = [e.kind for e in await pipeline.store.list_events(blocked.incident_id)]
    assert EventKind.ACTION_BREAK_GLASS in kinds


async def test_break_glass_is_refused_where_the_freeze_does_not_allow_it(
    live: tuple[Pipeline, RecordingNotifier], tmp_path: Path
) -> None:
    pipeline, _ = live
    quiet = await filed(pipeline, QUIET)
    assert quiet.state is ActionState.PENDING_APPROVAL
    result = await pipeline.break_glass(quiet.id, ONCALL, "It is urgent, truly urgent.", QUIET)
    assert result.status is GlassStatus.NOT_BLOCKED
    unknown = Proposal(
        action="scale_deployment",
        service="checkout",
        params={"deployment": "not-ours", "replicas": 2},
    )
    blocked = await filed(pipeline, FROZEN, unknown)
    assert blocked.state is ActionState.BLOCKED and not blocked.decision.break_glass_possible
    refused = await pipeline.break_glass(blocked.id, ONCALL, "It is urgent, truly urgent.", FROZEN)
    assert refused.status is GlassStatus.NOT_ALLOWED and "not-ours" in refused.problem
