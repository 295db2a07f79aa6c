"""``incident-bot audit verify | export``: check the timeline's hash chains, write and check
evidence bundles."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot import audit
from bot.cli.terminal import say
from bot.clock import utcnow
from bot.compose import Root
from bot.runtime import Runtime

DEFAULT_VERIFY_LIMIT = 10_000


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``audit`` command and its subcommands."""
    group = subparsers.add_parser(
        "audit", help="verify the tamper-evident timeline, export evidence"
    )
    commands = group.add_subparsers(dest="audit_command", required=True)
    verify = commands.add_parser(
        "verify", help="check the hash chains (all incidents, one, or a bundle); non-zero if broken"
    )
    verify.add_argument("incident_id", nargs="?", help="only this incident")
    verify.add_argument("--bundle", type=Path, help="check an evidence bundle offline instead")
    verify.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_VERIFY_LIMIT,
        help="at most this many incidents, most recently updated first",
    )
    verify.add_argument("--json", action="store_true", help="one JSON object per incident")
    verify.set_defaults(handler=cmd_verify)
    export = commands.add_parser("export", help="write an incident's evidence bundle (JSON)")
    export.add_argument("incident_id")
    export.add_argument("--out", type=Path, required=True, help="the file to write")
    export.set_defaults(handler=cmd_export)


def _with_runtime(root: Root, work: Callable[[Runtime], Awaitable[int]]) -> int:
    async def run() -> int:
        runtime = root.runtime()
        try:
            return int(await work(runtime))
        finally:
            await runtime.store.close()

    return asyncio.run(run())


def _show(report: audit.ChainReport, as_json: bool) -> None:
    if as_json:
        say(
            json.dumps(
                {
                    "incident_id": report.incident_id,
                    "ok": report.ok,
                    "events": report.events,
                    "legacy": report.legacy,
                    "head": report.head,
                    "broken": None
                    if report.broken is None
                    else {
                        "seq": report.broken.seq,
                        "event_id": report.broken.event_id,
                        "what": report.broken.what,
                        "expected": report.broken.expected,
                        "found": report.broken.found,
                    },
                },
                ensure_ascii=False,
            )
        )
        return
    if report.broken is not None:
        say(f"BROKEN  {report.broken.describe()}")
        return
    legacy = f", {report.legacy} unchained (legacy)" if report.legacy else ""
    head = f" head {report.head[:16]}" if report.head else ""
    say(f"OK      {report.incident_id}: {report.events} events{legacy}{head}")


def cmd_verify(args: argparse.Namespace, root: Root) -> int:
    """Verify chains in the store (or one bundle offline); 1 when any link is broken."""
    if args.bundle is not None:
        return _verify_bundle(args.bundle, args.json)

    async def work(runtime: Runtime) -> int:
        if args.incident_id:
            reports = [await runtime.pipeline.audit_chain(args.incident_id)]
        else:
            reports = await runtime.pipeline.audit_chains(args.limit)
        for report in reports:
            _show(report, args.json)
        broken = sum(not r.ok for r in reports)
        if not args.json:
            say(f"{len(reports)} incidents checked, {broken} broken")
        return 1 if broken else 0

    return _with_runtime(root, work)


def _verify_bundle(path: Path, as_json: bool) -> int:
    try:
        bundle = json.loads(path.read_text(encoding="utf-8"))
        report = audit.verify_bundle(bundle)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        say(f"bundle {path}: unreadable: {exc!r}", error=True)
        return 1
    _show(report.chain, as_json)
    for problem in report.problems:
        say(f"MISMATCH {problem}")
    if not as_json:
        say(f"bundle {path}: {'OK' if report.ok else 'FAILED'}")
    return 0 if report.ok else 1


def cmd_export(args: argparse.Namespace, root: Root) -> int:
    """Write one incident's evidence bundle to ``--out``."""

    async def work(runtime: Runtime) -> int:
        bundle = await runtime.pipeline.evidence(args.incident_id, utcnow())
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(bundle, indent=2, ensure_ascii=False), encoding="utf-8")
        chain = bundle["chain"]
        say(
            f"wrote {args.out}: {chain['events']} events ({chain['legacy']} unchained), "
            f"chain head {chain['head'] or '(none)'}"
        )
        return 0

    return _with_runtime(root, work)
