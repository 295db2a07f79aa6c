"""Fixtures for action tests: a real SQLite store, the shipped policy, a recording executor."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot import actions
from bot.actions import ExecutionPlan
from bot.config import PROJECT_ROOT
from bot.models import ActionRequest, Category, Incident, Proposal, Severity, Triage
from bot.policy import EvaluationContext, Policy, load_policy
from bot.ports import Executor, RunReport
from bot.store.sqlite import SQLiteStore

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
TTL = 1800.0
REQUESTER = "U0ONCALL01"
GROUPS = {"S0PAYMENTS": frozenset({"U0PAYDEV01", "U0PAYDEV02"})}


class RecordingExecutor:
    """A test double for the side effect: records each plan it is asked to run."""

    def __init__(self) -> None:
        self.calls: list[ExecutionPlan] = []
        self._lock = threading.Lock()

    async def run(self, plan: ExecutionPlan) -> RunReport:
        with self._lock:
            self.calls.append(plan)
        await asyncio.sleep(0)  # give racing tasks a chance to interleave
        return RunReport(ok=True, detail={"recorded": plan.describe()})


@pytest.fixture(scope="session")
def policy() -> Policy:
    return load_policy(PROJECT_ROOT / "policies")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    db = SQLiteStore(tmp_path / "bot.db")
    yield db
    await db.close()


@pytest.fixture
def recorder() -> RecordingExecutor:
    return RecordingExecutor()


def executors_for(recorder: RecordingExecutor) -> dict[str, Executor]:
    return {"dry_run": recorder, "http": recorder, "command": recorder}


async def file_request(
    store: SQLiteStore,
    policy: Policy,
    proposal: Proposal,
    *,
    category: Category = Category.LATENCY,
    confidence: float = 0.9,
    now: datetime = NOW,
    requester: str = REQUESTER,
) -> ActionRequest:
    """Open an incident with a triage, judge the proposal, and file the request as the bot does."""
    incident = Incident(
        title="t",
        service=proposal.service,
        severity=Severity.SEV2,
        category=category,
        created_at=now,
        updated_at=now,
    )
    await store.create_incident(incident)
    triage = Triage(
        incident_id=incident.id,
        category=category,
        confidence=confidence,
        created_at=now,
        proposals=[proposal],
    )
    await store.add_triage(triage)
    context = EvaluationContext(
        category=category,
        severity=Severity.SEV2,
        confidence=confidence,
        now=now,
        requester=requester,
    )
    decision = policy.evaluate(proposal, context)
    return await actions.open_request(
        store,
        incident_id=incident.id,
        triage_id=triage.id,
        proposal=proposal,
        decision=decision,
        policy=policy,
        requested_by=requester,
        now=now,
        ttl_seconds=TTL,
    )
