"""Post-action verification through the pipeline: real SQLite, a scripted Metrics port."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from bot import actions
from bot.actions.plans import card_hash
from bot.compose import Root
from bot.config import PROJECT_ROOT, load_settings
from bot.evidence.series import Series
from bot.models import (
    BOT_ACTOR,
    ActionState,
    Category,
    EventKind,
    Proposal,
    Severity,
    Triage,
    Verification,
)
from bot.notify import RecordingNotifier
from bot.pipeline import Pipeline
from bot.policy import EvaluationContext

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
ALERT = (
    b'{"title": "VERIFY checkout errors", "service": "checkout", "severity": "high",'
    b' "labels": {"deployment": "checkout-api"}}'
)


class ScriptedMetrics:
    """The Metrics port answering from a script: one list of series per query, in order."""

    def __init__(self) -> None:
        self.answers: list[list[Series]] = []
        self.asked: list[str] = []

    async def query(self, expr: str, at: datetime | None = None) -> list[Series]:
        self.asked.append(expr)
        return self.answers.pop(0) if self.answers else []

    async def query_range(
        self, expr: str, start: datetime, end: datetime, step_seconds: float
    ) -> list[Series]:
        return []


@pytest.fixture
async def flow(
    tmp_path: Path,
) -> AsyncIterator[tuple[Pipeline, RecordingNotifier, ScriptedMetrics]]:
    policy_dir = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "policies", policy_dir)
    actions_file = policy_dir / "actions.yaml"
    document = yaml.safe_load(actions_file.read_text())
    document["actions"]["restart_deployment"]["verify"] = {
        "expr": 'errors{deployment="{deployment}"} < 0.02',
        "within_seconds": 600,
    }
    actions_file.write_text(yaml.safe_dump(document, sort_keys=False))
    settings = load_settings(
        SQLITE_PATH=str(tmp_path / "bot.db"),
        RUNBOOK_INDEX_PATH=str(tmp_path / "rb.db"),
        RUNBOOK_EMBEDDINGS="none",
        POLICY_DIR=str(policy_dir),
    )
    notifier = RecordingNotifier()
    pipeline = Root(settings).runtime(notifier=notifier).pipeline
    metrics = ScriptedMetrics()
    pipeline.metrics = metrics
    yield pipeline, notifier, metrics
    await pipeline.store.close()


async def succeeded_restart(pipeline: Pipeline) -> str:
    """A restart filed on an open incident, approved by the service's lead, run (dry run)."""
    receipt = await pipeline.ingest("generic", ALERT, "application/json", T0)
    incident_id = receipt.new_incident_ids[0]
    triage = Triage(
        incident_id=incident_id, category=Category.ERROR_RATE, confidence=0.9, created_at=T0
    )
    await pipeline.store.add_triage(triage)
    proposal = Proposal(
        action="restart_deployment", service="checkout", params={"deployment": "checkout-api"}
    )
    context = EvaluationContext(
        category=Category.ERROR_RATE, severity=Severity.SEV2, confidence=0.9, now=T0,
        requester=BOT_ACTOR,
    )
    request = await actions.open_request(
        pipeline.store,
        incident_id=incident_id,
        triage_id=triage.id,
        proposal=proposal,
        decision=pipeline.policy.evaluate(proposal, context),
        policy=pipeline.policy,
        requested_by=BOT_ACTOR,
        now=T0,
        ttl_seconds=1800,
    )
    outcome = await pipeline.vote(
        request.id, "U0CHKLEAD1", "approve", T0 + timedelta(minutes=1),
        card_hash=card_hash(request.plan_hash),
    )
    assert outcome.request is not None and outcome.request.state is ActionState.SUCCEEDED
    return request.id


async def test_a_window_opens_on_success_and_closes_verified_once_the_check_holds(
    flow: tuple[Pipeline, RecordingNotifier, ScriptedMetrics],
) -> None:
    pipeline, notifier, metrics = flow
    request_id = await succeeded_restart(pipeline)
    watched = await pipeline.store.get_action_request(request_id)
    assert watched.verify_until == T0 + timedelta(minutes=11)
    metrics.answers = [[], [Series({}, ((1.0, 0.004),))]]
    assert await pipeline.verify_due(T0 + timedelta(minutes=2)) == []  # empty: not yet
    decided = await pipeline.verify_due(T0 + timedelta(minutes=3))
    assert [r.verification for r in decided] == [Verification.VERIFIED]
    assert metrics.asked == ['errors{deployment="checkout-api"} < 0.02'] * 2
    assert await pipeline.verify_due(T0 + timedelta(minutes=4)) == []  # decided once
    incident_id = watched.incident_id
    kinds = [e.kind for e in await pipeline.store.list_events(incident_id)]
    assert kinds.count(EventKind.ACTION_VERIFYING) == 1 and EventKind.ACTION_VERIFIED in kinds
    assert ("request_verified", incident_id, f"{request_id}:verified") in notifier.calls


async def test_a_window_that_ends_first_is_not_verified_and_triages_again_with_the_check(
    flow: tuple[Pipeline, RecordingNotifier, ScriptedMetrics],
) -> None:
    pipeline, notifier, metrics = flow
    request_id = await succeeded_restart(pipeline)
    metrics.answers = [[Series({}, ((1.0, 0.0),))]] * 3
    assert await pipeline.verify_due(T0 + timedelta(minutes=10)) == []
    decided = await pipeline.verify_due(T0 + timedelta(minutes=11))
    assert [r.verification for r in decided] == [Verification.NOT_VERIFIED]
    incident = await pipeline.store.get_incident(decided[0].incident_id)
    assert "did not hold" in incident.evidence[-1].text
    triages = await pipeline.store.list_triages(incident.id)
    assert len(triages) == 2 and triages[-1].retriage
    assert ("request_verified", incident.id, f"{request_id}:not_verified") in notifier.calls


async def test_an_unreachable_backend_decides_nothing_until_the_window_ends(
    flow: tuple[Pipeline, RecordingNotifier, ScriptedMetrics],
) -> None:
    pipeline, _, _ = flow
    request_id = await succeeded_restart(pipeline)
    pipeline.metrics = None  # as if Prometheus went away after the window opened
    assert await pipeline.verify_due(T0 + timedelta(minutes=5)) == []
    assert (await pipeline.store.get_action_request(request_id)).verification is None
    decided = await pipeline.verify_due(T0 + timedelta(minutes=12))
    assert [r.verification for r in decided] == [Verification.NOT_VERIFIED]
