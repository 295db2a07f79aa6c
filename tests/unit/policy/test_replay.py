"""`incident-bot policy replay`: past decisions re-made under an edited copy of the policy.

The history is a real SQLite store seeded through the store API with decisions the shipped
policy made; the edits are one loosening and one tightening change of a copy of policies/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from bot.cli import policy as commands
from bot.compose import Root
from bot.config import Settings
from bot.models import (
    ActionRequest,
    ActionState,
    Category,
    Decision,
    DecisionOutcome,
    Incident,
    Proposal,
    Severity,
    Triage,
)
from bot.policy import Policy, load_policy
from bot.policy.engine import EvaluationContext
from bot.policy.replay import ChangeKind, Filed, classify, group, redecide
from bot.store.sqlite import SQLiteStore
from tests.unit.policy.conftest import QUIET_NOW, SHIPPED


def _decision(outcome: DecisionOutcome, required: int = 0, approvers: list[str] | None = None
              ) -> Decision:
    return Decision(outcome=outcome, action="restart_deployment", service="checkout",
                    approvals_required=required, eligible_approvers=approvers or ["U1"])


ALLOW, APPROVAL, DENY = (DecisionOutcome.ALLOW, DecisionOutcome.REQUIRE_APPROVAL,
                         DecisionOutcome.DENY)


@pytest.mark.parametrize(
    ("before", "after", "expected", "loosens"),
    [
        (_decision(ALLOW), _decision(APPROVAL, 1), (ChangeKind.ALLOW_TO_APPROVAL,), False),
        (_decision(APPROVAL, 1), _decision(DENY), (ChangeKind.APPROVAL_TO_DENY,), False),
        (_decision(DENY), _decision(ALLOW), (ChangeKind.DENY_TO_ALLOW,), True),
        (_decision(DENY), _decision(APPROVAL, 1), (ChangeKind.DENY_TO_APPROVAL,), True),
        (_decision(APPROVAL, 2), _decision(APPROVAL, 1), (ChangeKind.APPROVALS_DOWN,), True),
        (_decision(APPROVAL, 1), _decision(APPROVAL, 2), (ChangeKind.APPROVALS_UP,), False),
        (_decision(APPROVAL, 1, ["U1"]), _decision(APPROVAL, 1, ["U1", "U2"]),
         (ChangeKind.APPROVERS_ADDED,), True),
        (_decision(APPROVAL, 1, ["U1", "U2"]), _decision(APPROVAL, 1, ["U2"]),
         (ChangeKind.APPROVERS_REMOVED,), False),
        (_decision(APPROVAL, 1), _decision(APPROVAL, 1), (), False),
        # a denial lists approvers too, but nobody is asked: not an approver change
        (_decision(DENY, 0, ["U1"]), _decision(DENY, 0, ["U9"]), (), False),
    ],
)
def test_classify_names_each_kind_of_change(
    before: Decision, after: Decision, expected: tuple[ChangeKind, ...], loosens: bool
) -> None:
    changes = classify(before, after)
    assert changes == expected
    assert any(c.loosens for c in changes) is loosens


def _filed(policy: Policy, proposal: Proposal, category: Category, flags: tuple[str, ...] = ()
           ) -> Filed:
    context = EvaluationContext(category=category, severity=Severity.SEV2, confidence=0.9,
                                now=QUIET_NOW, service_flags=flags)
    return Filed("act-1", "inc-1", proposal, context, policy.evaluate(proposal, context))


RESTART_CHECKOUT = Proposal(action="restart_deployment", service="checkout",
                            params={"deployment": "checkout-api"})
RESTART_PAYMENTS = Proposal(action="restart_deployment", service="payment-gateway",
                            params={"deployment": "payment-gateway-api"})


def _edit(policy_dir: Path, file: str, old: str, new: str) -> Path:
    path = policy_dir / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return policy_dir


def _loosened(tmp_path: Path) -> Path:
    """payment-gateway is no longer critical: its actions need one approval, not two."""
    target = tmp_path / "loosened"
    shutil.copytree(SHIPPED, target)
    return _edit(target, "services.yaml", "payment-gateway:\n    tier: critical",
                 "payment-gateway:\n    tier: standard")


def _tightened(tmp_path: Path) -> Path:
    """restart_deployment is no longer allowed for error_rate incidents."""
    target = tmp_path / "tightened"
    shutil.copytree(SHIPPED, target)
    before = ("actions: [notify_oncall, collect_diagnostics, restart_canary, restart_deployment,\n"
              "              rollback_deployment, toggle_feature_flag]")
    after = before.replace(" restart_deployment,", "")
    return _edit(target, "rules.yaml", before, after)


def test_a_critical_service_in_the_old_policy_gates_a_loosening(
    policy: Policy, tmp_path: Path
) -> None:
    replayed = redecide(_filed(policy, RESTART_PAYMENTS, Category.LATENCY),
                        load_policy(_loosened(tmp_path)), policy)
    assert replayed.changes == (ChangeKind.APPROVALS_DOWN,)
    assert replayed.critical and replayed.gates


def test_a_flagged_incident_counts_as_critical(policy: Policy, tmp_path: Path) -> None:
    new = load_policy(_loosened(tmp_path))
    replayed = redecide(_filed(policy, RESTART_CHECKOUT, Category.ERROR_RATE, ("mixed_script",)),
                        new, policy)
    assert replayed.critical and not replayed.changes


def test_tightening_a_standard_service_does_not_gate(policy: Policy, tmp_path: Path) -> None:
    replayed = redecide(_filed(policy, RESTART_CHECKOUT, Category.ERROR_RATE),
                        load_policy(_tightened(tmp_path)), policy)
    assert replayed.changes == (ChangeKind.APPROVAL_TO_DENY,)
    assert not replayed.critical and not replayed.gates
    (only,) = group([replayed])
    assert only.incidents == ("inc-1",) and not only.gates


# The command on a stored history ---------------------------------------------------------------


async def _seed(path: Path, policy: Policy) -> dict[str, str]:
    """Two incidents judged by the shipped policy, plus one request older than the window."""
    store = SQLiteStore(path)
    seeded: dict[str, str] = {}
    cases = [
        ("checkout", Category.ERROR_RATE, RESTART_CHECKOUT, QUIET_NOW),
        ("payment-gateway", Category.LATENCY, RESTART_PAYMENTS, QUIET_NOW + timedelta(minutes=5)),
        ("checkout", Category.ERROR_RATE, RESTART_CHECKOUT, QUIET_NOW - timedelta(days=60)),
    ]
    for n, (service, category, proposal, at) in enumerate(cases):
        incident = Incident(title=f"{service} trouble", service=service, severity=Severity.SEV2,
                            category=category, created_at=at, updated_at=at)
        await store.create_incident(incident)
        triage = Triage(incident_id=incident.id, category=category, severity=Severity.SEV2,
                        confidence=0.9, proposals=[proposal], created_at=at)
        await store.add_triage(triage)
        context = EvaluationContext(category=category, severity=Severity.SEV2, confidence=0.9,
                                    now=at)
        decision = policy.evaluate(proposal, context)
        assert decision.outcome is DecisionOutcome.REQUIRE_APPROVAL
        await store.add_action_request(ActionRequest(
            incident_id=incident.id, triage_id=triage.id, proposal=proposal, decision=decision,
            state=ActionState.PENDING_APPROVAL, requested_by="incident-bot", created_at=at,
            updated_at=at))
        seeded[f"{service}-{n}"] = incident.id
    await store.close()
    return seeded


@pytest.fixture
def history(tmp_path: Path, policy: Policy) -> tuple[Path, dict[str, str]]:
    path = tmp_path / "history.db"
    return path, asyncio.run(_seed(path, policy))


def _replay(argv: list[str], db: Path, tmp_path: Path) -> int:
    parser = argparse.ArgumentParser()
    commands.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["policy", "replay", *argv])
    settings = Settings(POLICY_DIR=SHIPPED, SQLITE_PATH=db,
                        RUNBOOK_INDEX_PATH=tmp_path / "runbooks.db", RUNBOOK_EMBEDDINGS="none")
    return int(args.handler(args, Root(settings)))


SINCE = (QUIET_NOW - timedelta(days=1)).isoformat()


def test_an_unchanged_copy_changes_nothing(
    history: tuple[Path, dict[str, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "same"
    shutil.copytree(SHIPPED, copy)
    assert _replay(["--against", str(copy), "--since", SINCE], history[0], tmp_path) == 0
    out = capsys.readouterr().out
    assert "2 replayed: 2 unchanged, 0 changed" in out  # the 60-day-old request is outside


def test_loosening_a_critical_service_fails_and_names_the_incident(
    history: tuple[Path, dict[str, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, seeded = history
    assert _replay(["--against", str(_loosened(tmp_path)), "--since", SINCE], db, tmp_path) == 1
    out = capsys.readouterr().out
    (gate,) = [line for line in out.splitlines() if line.startswith("GATE")]
    assert "approvals_required down" in gate and "payment-gateway (critical)" in gate
    assert seeded["payment-gateway-1"] in gate
    assert seeded["checkout-0"] not in out


def test_tightening_passes_and_lists_what_changes(
    history: tuple[Path, dict[str, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, seeded = history
    argv = ["--against", str(_tightened(tmp_path)), "--since", SINCE, "--json"]
    assert _replay(argv, db, tmp_path) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["summary"] == {"replayed": 2, "unchanged": 1, "changed": 1, "loosened": 0,
                                 "tightened": 1, "gating": 0}
    (changed,) = report["changed"]
    assert changed["incident_id"] == seeded["checkout-0"]
    assert changed["changes"] == ["approval->deny"]
    assert changed["before"]["outcome"] == "require_approval"
    assert "category.action_not_allowed" in changed["after"]["rules"]


def test_the_whole_window_reaches_back_to_since(
    history: tuple[Path, dict[str, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, seeded = history
    since = (QUIET_NOW - timedelta(days=90)).isoformat()
    argv = ["--against", str(_tightened(tmp_path)), "--since", since, "--json"]
    assert _replay(argv, db, tmp_path) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["replayed"] == 3
    (only,) = report["groups"]
    assert set(only["incidents"]) == {seeded["checkout-0"], seeded["checkout-2"]}


def test_policy_test_cases_serve_as_history_without_a_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing_db = tmp_path / "never-created.db"
    assert _replay(["--against", str(_loosened(tmp_path)), "--cases"], missing_db, tmp_path) == 1
    out = capsys.readouterr().out
    assert "cases" in out and "GATE" in out
    assert not missing_db.exists()
