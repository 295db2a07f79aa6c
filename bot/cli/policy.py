"""`incident-bot policy check | explain | test`: validate, explain and test the policy folder."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from bot.clock import utcnow
from bot.compose import Root
from bot.errors import PolicyError
from bot.models import Approval, Category, Proposal, Severity
from bot.policy.cases import load_cases, run_case
from bot.policy.engine import EvaluationContext
from bot.policy.files import display_name
from bot.policy.loader import load_policy


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``policy`` command and its subcommands."""
    policy = subparsers.add_parser("policy", help="validate, explain and test the policy folder")
    commands = policy.add_subparsers(dest="policy_command", required=True)
    check = commands.add_parser("check", help="validate the policy files (non-zero on problems)")
    check.set_defaults(handler=cmd_check)
    explain = commands.add_parser("explain", help="evaluate one proposal and print the decision")
    explain.add_argument("--action", required=True)
    explain.add_argument("--service", required=True)
    explain.add_argument("--category", required=True, choices=[c.value for c in Category])
    explain.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a parameter; VALUE is read as JSON when it parses, else text",
    )
    explain.add_argument("--confidence", type=float, default=1.0)
    explain.add_argument("--severity", default="SEV2", choices=[s.value for s in Severity])
    explain.add_argument("--requester", default="incident-bot")
    explain.add_argument("--pending", type=int, default=0, help="open requests on the incident")
    explain.add_argument(
        "--approve",
        action="append",
        default=[],
        metavar="USER_ID",
        help="an approval already recorded (repeatable)",
    )
    explain.add_argument(
        "--service-flag",
        action="append",
        default=[],
        metavar="FLAG",
        help="a flag of the incident's service name, as the bot stored it (repeatable)",
    )
    explain.add_argument("--now", help="evaluation time, RFC 3339 (default: the current time)")
    explain.set_defaults(handler=cmd_explain)
    test = commands.add_parser("test", help="run the policy test cases in POLICY_DIR/tests")
    test.add_argument("-q", "--quiet", action="store_true", help="print failures only")
    test.set_defaults(handler=cmd_test)


def cmd_check(args: argparse.Namespace, root: Root) -> int:
    """Load and validate the policy folder; print a summary or every problem found."""
    try:
        policy = load_policy(root.policy_dir)
        cases = load_cases(root.policy_dir)
    except PolicyError as exc:
        print(f"policy check FAILED:\n{exc}", file=sys.stderr)
        return 1
    print(f"policy OK: {display_name(root.policy_dir)} revision {policy.revision[:12]}")
    print(
        f"  {len(policy.actions)} actions, {len(policy.services)} services, {len(cases)} test cases"
    )
    live = [name for name, spec in policy.actions.items() if spec.executor.mode.value == "live"]
    print(f"  live actions: {', '.join(live) if live else 'none (every executor is dry-run)'}")
    return 0


def _param(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise PolicyError(f"--param {text!r}: expected KEY=VALUE")
    try:
        return key, json.loads(raw)
    except ValueError:
        return key, raw


def cmd_explain(args: argparse.Namespace, root: Root) -> int:
    """Evaluate one proposal and print the Decision with its trace as JSON."""
    policy = load_policy(root.policy_dir)
    now = datetime.fromisoformat(args.now) if args.now else utcnow()
    proposal = Proposal(
        action=args.action, service=args.service, params=dict(_param(p) for p in args.param)
    )
    context = EvaluationContext(
        category=Category(args.category),
        severity=Severity(args.severity),
        confidence=args.confidence,
        now=now,
        requester=args.requester,
        pending_actions=args.pending,
        approvals=tuple(
            Approval(request_id="explain", user_id=user, at=now) for user in args.approve
        ),
        service_flags=tuple(args.service_flag),
    )
    decision = policy.evaluate(proposal, context)
    print(json.dumps(decision.model_dump(mode="json"), indent=2, ensure_ascii=False))
    return 0


def cmd_test(args: argparse.Namespace, root: Root) -> int:
    """Run every policy test case; print pass/fail per case and a summary."""
    policy = load_policy(root.policy_dir)
    cases = load_cases(root.policy_dir)
    if not cases:
        print(f"no test cases in {display_name(root.policy_dir / 'tests')}", file=sys.stderr)
        return 1
    failed = 0
    for case in cases:
        result = run_case(policy, case)
        if result.passed:
            if not args.quiet:
                print(f"PASS  {case.id}")
            continue
        failed += 1
        print(f"FAIL  {case.id}")
        for problem in result.problems:
            print(f"      {problem}")
    print(f"{len(cases) - failed} passed, {failed} failed, {len(cases)} cases")
    return 1 if failed else 0
