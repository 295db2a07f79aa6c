"""`incident-bot policy check | explain | test` against the shipped and broken policy folders."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from bot.cli import policy as commands
from bot.compose import Root
from bot.config import Settings
from bot.errors import PolicyError


def _run(argv: list[str], policy_dir: Path) -> int:
    parser = argparse.ArgumentParser()
    commands.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.handler(args, Root(Settings(POLICY_DIR=policy_dir))))


def test_check_passes_on_shipped_policy(
    policy_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["policy", "check"], policy_dir) == 0
    out = capsys.readouterr().out
    assert "policy OK" in out and "9 actions, 10 services" in out
    assert "every executor is dry-run" in out


def test_check_fails_with_a_clear_message(
    policy_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = policy_dir / "rules.yaml"
    rules.write_text(rules.read_text().replace("max_pending_actions: 3", "max_pending_actions: 0"))
    assert _run(["policy", "check"], policy_dir) == 1
    err = capsys.readouterr().err
    assert "rules.yaml: max_pending_actions: 0 is less than the minimum of 1" in err


def test_check_fails_on_a_malformed_test_case_file(
    policy_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (policy_dir / "tests" / "broken.yaml").write_text("cases:\n  - name: no proposal\n")
    assert _run(["policy", "check"], policy_dir) == 1
    assert "broken.yaml: cases[0]: 'proposal' is a required property" in capsys.readouterr().err


def test_explain_prints_decision_and_trace_as_json(
    policy_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "policy",
        "explain",
        "--action",
        "scale_deployment",
        "--service",
        "search-api",
        "--category",
        "latency",
        "--param",
        "deployment=search-api",
        "--param",
        "replicas=6",
        "--confidence",
        "0.9",
        "--severity",
        "SEV1",
        "--now",
        "2026-11-10T12:00:00+00:00",
    ]
    assert _run(argv, policy_dir) == 0
    decision = json.loads(capsys.readouterr().out)
    assert decision["outcome"] == "require_approval"
    assert decision["approvals_required"] == 1
    assert [r["rule_id"] for r in decision["reasons"]] == ["action.state_changing"]
    assert decision["decided_at"].startswith("2026-11-10T12:00:00")


def test_explain_with_recorded_approval(
    policy_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "policy",
        "explain",
        "--action",
        "restart_deployment",
        "--service",
        "cart-service",
        "--category",
        "latency",
        "--param",
        "deployment=cart-api",
        "--approve",
        "U0CARTDEV1",
        "--now",
        "2026-11-10T12:00:00+00:00",
    ]
    assert _run(argv, policy_dir) == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == "allow"


def test_explain_rejects_a_malformed_param(policy_dir: Path) -> None:
    argv = [
        "policy",
        "explain",
        "--action",
        "notify_oncall",
        "--service",
        "x",
        "--category",
        "latency",
        "--param",
        "novalue",
    ]
    with pytest.raises(PolicyError, match="expected KEY=VALUE"):
        _run(argv, policy_dir)


def test_test_command_passes_on_shipped_cases(
    policy_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["policy", "test"], policy_dir) == 0
    out = capsys.readouterr().out
    assert "PASS  allowlist::" in out and ", 0 failed," in out


def test_test_command_fails_on_a_failing_case(
    policy_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (policy_dir / "tests" / "wrong.yaml").write_text(
        "cases:\n  - name: expects the impossible\n"
        "    proposal: {action: delete_database, service: cart-service}\n"
        "    expect: {outcome: allow}\n"
    )
    assert _run(["policy", "test", "--quiet"], policy_dir) == 1
    out = capsys.readouterr().out
    assert "FAIL  wrong::expects the impossible" in out and "outcome deny, expected allow" in out
    assert "PASS" not in out and ", 1 failed," in out


def test_explain_judges_a_flagged_incident_as_critical(
    policy_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "policy",
        "explain",
        "--action",
        "restart_deployment",
        "--service",
        "cart-service",
        "--category",
        "latency",
        "--param",
        "deployment=cart-api",
        "--approve",
        "U0CARTDEV1",
        "--service-flag",
        "invisible_chars",
        "--now",
        "2026-11-10T12:00:00+00:00",
    ]
    assert _run(argv, policy_dir) == 0
    decision = json.loads(capsys.readouterr().out)
    assert decision["outcome"] == "require_approval"
    assert decision["approvals_required"] == 2
    rules = [r["rule_id"] for r in decision["reasons"]]
    assert "service.lookalike_incident" in rules and "approvals.insufficient" in rules
