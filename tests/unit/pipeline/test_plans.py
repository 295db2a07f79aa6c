"""Safety invariant 8 through the pipeline (real SQLite): a vote counts only for the plan its
card showed; a policy edit re-plans; allowed read-only requests run by themselves."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from bot import actions
from bot.compose import Root
from bot.config import PROJECT_ROOT, load_settings
from bot.models import (
    ActionRequest,
    ActionState,
    Category,
    ConversationRef,
    EventKind,
    Incident,
    Proposal,
    Severity,
    Triage,
)
from bot.notify import RecordingNotifier
from bot.pipeline import Pipeline
from bot.policy import EvaluationContext

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
RESTART = Proposal(
    action="restart_deployment", service="checkout", params={"deployment": "checkout-api"}
)
DIAGNOSE = Proposal(
    action="collect_diagnostics", service="cart-service", params={"deployment": "cart-api"}
)
CARD = ConversationRef(kind="slack", channel="C0INCIDENTS", thread="1790000000.000100")


def unfrozen_policy_dir(destination: Path) -> Path:
    """The shipped policies without freezes (a test must not depend on the day it runs)."""
    shutil.copytree(PROJECT_ROOT / "policies", destination, dirs_exist_ok=True)
    for name, holder in (("rules.yaml", None), ("services.yaml", "services")):
        path = destination / name
        document = yaml.safe_load(path.read_text())
        if holder is None:
            document["freeze"] = []
        else:
            for service in document[holder].values():
                service.pop("freeze", None)
        path.write_text(yaml.safe_dump(document, sort_keys=False))
    return destination


def build(tmp_path: Path, policies: Path) -> tuple[Pipeline, RecordingNotifier]:
    settings = load_settings(
        SQLITE_PATH=str(tmp_path / "bot.db"),
        RUNBOOK_INDEX_PATH=str(tmp_path / "rb.db"),
        RUNBOOK_EMBEDDINGS="none",
        POLICY_DIR=str(policies),
    )
    notifier = RecordingNotifier()
    return Root(settings).runtime(notifier=notifier).pipeline, notifier


@pytest.fixture
async def flow(tmp_path: Path) -> AsyncIterator[tuple[Pipeline, RecordingNotifier]]:
    pipeline, notifier = build(tmp_path, unfrozen_policy_dir(tmp_path / "policies"))
    yield pipeline, notifier
    await pipeline.store.close()


async def filed(pipeline: Pipeline, proposal: Proposal, category: Category) -> ActionRequest:
    """An incident with a triage and one request filed from it, its card posted at CARD."""
    incident = Incident(
        title="t", service=proposal.service, severity=Severity.SEV2, category=category,
        created_at=T0, updated_at=T0,
    )  # fmt: skip
    await pipeline.store.create_incident(incident)
    triage = Triage(
        incident_id=incident.id, category=category, confidence=0.95, created_at=T0,
        proposals=[proposal],
    )  # fmt: skip
    await pipeline.store.add_triage(triage)
    context = EvaluationContext(
        category=category, severity=Severity.SEV2, confidence=0.95, now=T0
    )
    request = await actions.open_request(
        pipeline.store, incident_id=incident.id, triage_id=triage.id, proposal=proposal,
        decision=pipeline.policy.evaluate(proposal, context), policy=pipeline.policy,
        requested_by="incident-bot", now=T0, ttl_seconds=1800, redactor=pipeline.redactor,
    )  # fmt: skip
    return await pipeline.remember_card(request.id, CARD)


def edited_policy(source: Path, destination: Path) -> Path:
    """A copy of ``source`` with one harmless edit: a new revision, the same rules."""
    unfrozen_policy_dir(destination)
    rules = destination / "rules.yaml"
    rules.write_text(rules.read_text() + "\n# edited after the card was posted\n")
    return destination


async def test_the_card_plan_is_stored_with_its_hash(
    flow: tuple[Pipeline, RecordingNotifier],
) -> None:
    pipeline, _ = flow
    request = await filed(pipeline, RESTART, Category.ERROR_RATE)
    assert request.state is ActionState.PENDING_APPROVAL
    assert request.plan is not None
    assert request.plan.argv == [
        "kubectl", "--namespace", "shop", "rollout", "restart", "deployment", "checkout-api",
    ]  # fmt: skip
    assert request.plan_hash == actions.current_hash(pipeline.policy, RESTART)
    opened = (await pipeline.store.list_events(request.incident_id))[-1]
    assert opened.data["plan_hash"] == request.plan_hash


async def test_invariant_8_vote_with_an_old_card_hash_is_refused_and_the_card_refreshed(
    flow: tuple[Pipeline, RecordingNotifier],
) -> None:
    pipeline, notifier = flow
    request = await filed(pipeline, RESTART, Category.ERROR_RATE)
    stale = "0123456789abcdef"
    result = await pipeline.vote(
        request.id, "U0CHKLEAD1", "approve", T0, card=CARD, card_hash=stale
    )
    assert (result.status, result.accepted) == (actions.VoteStatus.CARD_OUT_OF_DATE, False)
    stored = await pipeline.store.get_action_request(request.id)
    assert stored.state is ActionState.PENDING_APPROVAL and stored.approvals == []
    assert ("card_changed", request.incident_id, CARD.channel) in notifier.calls
    kinds = [e.kind for e in await pipeline.store.list_events(request.incident_id)]
    assert kinds[-1] == EventKind.ACTION_VOTE_REFUSED
    # The same click from the card that shows the current plan counts, and the action runs.
    shown = actions.card_hash(stored.plan_hash)
    result = await pipeline.vote(request.id, "U0CHKLEAD1", "approve", T0, card_hash=shown)
    assert result.accepted and result.request is not None
    assert result.request.state is ActionState.SUCCEEDED


async def test_invariant_8_policy_edit_between_card_and_vote_replans(
    flow: tuple[Pipeline, RecordingNotifier], tmp_path: Path
) -> None:
    before, _ = flow
    request = await filed(before, RESTART, Category.ERROR_RATE)
    shown = actions.card_hash(request.plan_hash)
    # The bot restarts with an edited policy; the click comes from the card posted before.
    after, notifier = build(tmp_path, edited_policy(tmp_path / "policies", tmp_path / "edited"))
    try:
        assert after.policy.revision != before.policy.revision
        result = await after.vote(request.id, "U0CHKLEAD1", "approve", T0, card_hash=shown)
        assert result.status is actions.VoteStatus.CARD_OUT_OF_DATE and not result.accepted
        replanned = await after.store.get_action_request(request.id)
        assert replanned.state is ActionState.PENDING_APPROVAL
        assert replanned.plan_hash not in ("", request.plan_hash)
        assert replanned.decision.policy_revision == after.policy.revision
        events = await after.store.list_events(request.incident_id)
        assert [e.kind for e in events][-2:] == [
            EventKind.ACTION_REPLANNED, EventKind.ACTION_VOTE_REFUSED,
        ]  # fmt: skip
        assert ("card_changed", request.incident_id, CARD.channel) in notifier.calls
        # The refreshed card carries the new hash: a vote from it counts.
        fresh = actions.card_hash(replanned.plan_hash)
        result = await after.vote(request.id, "U0CHKLEAD1", "approve", T0, card_hash=fresh)
        assert result.accepted and result.request is not None
        assert result.request.state is ActionState.SUCCEEDED
    finally:
        await after.store.close()


async def test_invariant_8_votes_on_the_old_plan_are_discarded_by_a_replan(
    flow: tuple[Pipeline, RecordingNotifier], tmp_path: Path
) -> None:
    before, _ = flow
    critical = Proposal(
        action="restart_deployment", service="auth-service", params={"deployment": "auth-api"}
    )
    request = await filed(before, critical, Category.ERROR_RATE)
    first = await before.vote(
        request.id, "U0IDLEAD01", "approve", T0, card_hash=actions.card_hash(request.plan_hash)
    )
    assert first.status is actions.VoteStatus.RECORDED
    after, _ = build(tmp_path, edited_policy(tmp_path / "policies", tmp_path / "edited"))
    try:
        stored, changed = await actions.replan(after.store, after.policy, request.id, T0)
        assert changed and stored.approvals == []
        replanned = [
            e for e in await after.store.list_events(request.incident_id)
            if e.kind == EventKind.ACTION_REPLANNED
        ]  # fmt: skip
        assert replanned[0].data["discarded_votes"] == ["U0IDLEAD01"]
        again, changed = await actions.replan(after.store, after.policy, request.id, T0)
        assert not changed and again.plan_hash == stored.plan_hash
    finally:
        await after.store.close()


async def test_allowed_diagnostics_run_at_once_in_dry_run_and_post_evidence(
    flow: tuple[Pipeline, RecordingNotifier],
) -> None:
    pipeline, notifier = flow
    request = await filed(pipeline, DIAGNOSE, Category.LATENCY)
    assert request.state is ActionState.APPROVED
    incident = await pipeline.store.get_incident(request.incident_id)
    [ran], signal = await pipeline.run_allowed(incident, [request], T0)
    assert ran.state is ActionState.SUCCEEDED and ran.result is not None
    assert ran.result["dry_run"] is True and not signal
    events = await pipeline.store.list_events(request.incident_id)
    evidence = [e for e in events if e.kind == EventKind.ACTION_EVIDENCE]
    assert len(evidence) == 1 and evidence[0].data["signal"] is False
    assert "kubectl --namespace shop describe deployment cart-api" in evidence[0].data["output"]
    posted = [c for c in notifier.calls if c[0] == "evidence_gathered"]
    assert posted and posted[0][2].startswith(f"{request.id}:Dry run")


def live_echo_policy(destination: Path) -> Path:
    """The shipped policies with collect_diagnostics live, running ``echo`` (output: signal),
    and no confidence bar, so the offline rules engine's proposal is allowed outright."""
    unfrozen_policy_dir(destination)
    actions_file = destination / "actions.yaml"
    document = yaml.safe_load(actions_file.read_text())
    executor = document["actions"]["collect_diagnostics"]["executor"]
    executor.update(mode="live", argv=["echo", "pods of", "{deployment}", "password=hunter2x"])
    actions_file.write_text(yaml.safe_dump(document, sort_keys=False))
    rules_file = destination / "rules.yaml"
    rules = yaml.safe_load(rules_file.read_text())
    rules["confidence_threshold"] = 0.0
    rules_file.write_text(yaml.safe_dump(rules, sort_keys=False))
    return destination


async def test_live_evidence_with_signal_triggers_exactly_one_retriage(tmp_path: Path) -> None:
    pipeline, notifier = build(tmp_path, live_echo_policy(tmp_path / "live"))
    try:
        alert = {
            "title": "cart-service p99 latency timed out against its budget",
            "service": "cart-service",
            "severity": "high",
            "labels": {"deployment": "cart-api"},
        }
        now = datetime.now(UTC)
        receipt = await pipeline.ingest("generic", json.dumps(alert).encode(), None, now)
        [incident_id] = receipt.new_incident_ids
        result = await pipeline.triage_incident(incident_id, now + timedelta(seconds=1))
        assert result is not None
        ran = [r for r in result.requests if r.proposal.action == "collect_diagnostics"]
        assert ran and ran[0].state is ActionState.SUCCEEDED
        events = await pipeline.store.list_events(incident_id)
        evidence = [e for e in events if e.kind == EventKind.ACTION_EVIDENCE]
        live = [e for e in evidence if e.data["signal"]]
        assert live and "pods of cart-api" in live[0].data["output"]
        assert "hunter2x" not in json.dumps([e.data for e in evidence])
        # One re-triage on the signal, and the re-triage's own evidence stops there.
        triages = await pipeline.store.list_triages(incident_id)
        assert [t.retriage for t in triages] == [False, True]
        assert len(live) == 2
        assert sum(1 for c in notifier.calls if c[0] == "incident_triaged") == 2
    finally:
        await pipeline.store.close()
