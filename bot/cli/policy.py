"""`incident-bot policy check | explain | test`: validate, explain and test the policy folder."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.cli.terminal import say
from bot.clock import utcnow
from bot.compose import Root
from bot.errors import PolicyError
from bot.models import Approval, Category, Decision, Proposal, Severity
from bot.policy import replay
from bot.policy.cases import load_cases, run_case
from bot.policy.engine import EvaluationContext, Policy
from bot.policy.files import display_name
from bot.policy.loader import load_policy
from bot.policy.replay import Filed


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
    replay = commands.add_parser(
        "replay",
        help="re-decide stored proposals under the policy in DIR; non-zero when a change "
        "loosens a decision on a critical service",
    )
    replay.add_argument("--against", type=Path, required=True, metavar="DIR")
    replay.add_argument(
        "--since", default="30d", help="how far back: 30d, 12h, 90m, or an RFC 3339 time"
    )
    replay.add_argument(
        "--baseline",
        choices=["stored", "current"],
        default="stored",
        help="compare with the decision each request got (stored) or with POLICY_DIR's "
        "decision on the same input (current)",
    )
    replay.add_argument(
        "--cases",
        action="store_true",
        help="replay POLICY_DIR/tests/*.yaml instead of the store (no database needed)",
    )
    replay.add_argument("--json", action="store_true")
    replay.set_defaults(handler=cmd_replay)


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


def parse_since(text: str, now: datetime) -> datetime:
    """``30d``, ``12h``, ``90m`` before ``now``, or an RFC 3339 time."""
    units = {"d": "days", "h": "hours", "m": "minutes"}
    number, unit = text[:-1], text[-1:]
    if unit in units and number.isdigit():
        return now - timedelta(**{units[unit]: int(number)})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise PolicyError(f"--since {text!r}: expected 30d, 12h, 90m or an RFC 3339 time") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _case_history(old: Policy, policy_dir: Path) -> list[Filed]:
    return [
        Filed(
            request_id=case.id,
            incident_id=Path(case.file).name,
            proposal=case.proposal,
            context=case.context,
            decision=old.evaluate(case.proposal, case.context),
        )
        for case in load_cases(policy_dir)
    ]


def cmd_replay(args: argparse.Namespace, root: Root) -> int:
    """Re-decide history under ``--against``; print the changes grouped; 1 on a gating one."""
    new = load_policy(args.against)
    old = root.policy()
    since = parse_since(args.since, utcnow())
    if args.cases:
        results = [replay.redecide(f, new, old) for f in _case_history(old, root.policy_dir)]
        source = f"{display_name(root.policy_dir / 'tests')} cases"
    else:

        async def history() -> list[replay.Replayed]:
            runtime = root.runtime()
            try:
                found: list[replay.Replayed] = []
                async for filed in runtime.pipeline.decision_history(since):
                    if args.baseline == "current":
                        filed = replace(filed, decision=old.evaluate(filed.proposal, filed.context))
                    found.append(replay.redecide(filed, new, old))
                return found
            finally:
                await runtime.store.close()

        results = asyncio.run(history())
        source = f"decisions since {since.isoformat()} ({args.baseline} baseline)"
    groups = replay.group(results)
    counts = replay.summary(results)
    if args.json:
        print(json.dumps(_replay_json(counts, groups, results), indent=2, ensure_ascii=False))
    else:
        _print_replay(source, new, args.against, counts, groups)
    return 1 if counts["gating"] else 0


def _print_replay(
    source: str,
    new: Policy,
    against: Path,
    counts: dict[str, int],
    groups: list[replay.ChangeGroup],
) -> None:
    say(f"policy replay: {source} under {display_name(against)} (revision {new.revision[:12]})")
    say(
        f"  {counts['replayed']} replayed: {counts['unchanged']} unchanged, {counts['changed']} "
        f"changed ({counts['loosened']} loosened, {counts['tightened']} tightened), "
        f"{counts['gating']} loosen a critical service"
    )
    for found in groups:
        mark = "GATE " if found.gates else "     "
        critical = " (critical)" if found.critical else ""
        shown = ", ".join(found.incidents[:10]) + (" ..." if len(found.incidents) > 10 else "")
        say(
            f"{mark} {', '.join(c.value for c in found.change)}: {found.action} on "
            f"{found.service}{critical}: {len(found.requests)} decisions, incidents {shown}"
        )


def _replay_json(
    counts: dict[str, int], groups: list[replay.ChangeGroup], results: list[replay.Replayed]
) -> dict[str, Any]:
    def decision(d: Decision) -> dict[str, Any]:
        return {
            "outcome": d.outcome.value,
            "approvals_required": d.approvals_required,
            "eligible_approvers": d.eligible_approvers,
            "rules": [hit.rule_id for hit in d.reasons],
            "policy_revision": d.policy_revision,
        }

    return {
        "summary": counts,
        "groups": [
            {
                "changes": [c.value for c in g.change],
                "action": g.action,
                "service": g.service,
                "critical": g.critical,
                "gates": g.gates,
                "requests": list(g.requests),
                "incidents": list(g.incidents),
            }
            for g in groups
        ],
        "changed": [
            {
                "request_id": r.filed.request_id,
                "incident_id": r.filed.incident_id,
                "action": r.filed.proposal.action,
                "service": r.after.service,
                "changes": [c.value for c in r.changes],
                "critical": r.critical,
                "gates": r.gates,
                "before": decision(r.filed.decision),
                "after": decision(r.after),
            }
            for r in results
            if r.changes
        ],
    }
