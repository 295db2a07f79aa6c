"""``incident-bot serve | demo | ingest | triage | incidents | timeline``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bot.cli.terminal import say
from bot.clock import utcnow
from bot.compose import Root
from bot.errors import NotFound, PayloadError
from bot.ingest import SOURCES
from bot.models import IncidentStatus
from bot.postmortem import Escaping, build_postmortem, people_in
from bot.reports import incident_summary, triage_report
from bot.runtime import Runtime
from bot.slack.markup import code, markdown
from bot.timeline import render_text


def _read_input(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    return Path(name).read_bytes()


def guess_source(path: str, data: bytes) -> str:
    """The alert source a file most likely came from: its name, else its content."""
    lowered = path.lower()
    for source in SOURCES:
        if source in lowered:
            return source
    text = data[:4096].decode("utf-8", "replace")
    if '"groupKey"' in text and '"orgId"' in text:
        return "grafana"
    if '"groupKey"' in text:
        return "alertmanager"
    if '"event_type"' in text and '"incident.' in text:
        return "pagerduty"
    return "generic"


def _json(value: Any) -> None:
    # json.dumps escapes every control character, so JSON output is terminal-safe as it is.
    print(json.dumps(value, indent=2, ensure_ascii=False), flush=True)


def _with_runtime(root: Root, work: Callable[[Runtime], Awaitable[int]]) -> int:
    async def run() -> int:
        runtime = root.runtime()
        try:
            return int(await work(runtime))
        finally:
            await runtime.store.close()

    return asyncio.run(run())


def cmd_serve(args: argparse.Namespace, root: Root) -> int:
    """Run the HTTP server (and Slack, when configured)."""
    return root.serve(host=args.host, port=args.port, socket_mode=args.socket_mode)


def cmd_demo(args: argparse.Namespace, root: Root) -> int:
    """Walk bundled sample alerts through every stage, offline."""
    from bot.cli.demo import run_demo

    return asyncio.run(run_demo(root))


def cmd_incidents(args: argparse.Namespace, root: Root) -> int:
    """List incidents, most recent first."""

    async def work(runtime: Runtime) -> int:
        status = IncidentStatus(args.status) if args.status else None
        found = await runtime.pipeline.incidents(status, limit=args.limit)
        if args.json:
            _json([i.model_dump(mode="json") for i in found])
            return 0
        if not found:
            say("no incidents")
        for incident in found:
            say(incident_summary(incident))
        return 0

    return _with_runtime(root, work)


def cmd_timeline(args: argparse.Namespace, root: Root) -> int:
    """Print one incident's timeline."""

    async def work(runtime: Runtime) -> int:
        try:
            await runtime.pipeline.incident(args.id)
        except NotFound:
            say(f"error: no incident {args.id!r}", error=True)
            return 1
        events = await runtime.pipeline.timeline_of(args.id)
        if args.json:
            _json([e.model_dump(mode="json") for e in events])
        else:
            redact = runtime.pipeline.redactor.redact
            say(redact(render_text(events)) or "(no events)")
        return 0

    return _with_runtime(root, work)


def cmd_postmortem(args: argparse.Namespace, root: Root) -> int:
    """Write one incident's post-incident review as markdown (display names when Slack is
    configured), to ``--out`` or stdout."""

    async def work(runtime: Runtime) -> int:
        try:
            await runtime.pipeline.incident(args.id)
        except NotFound:
            say(f"error: no incident {args.id!r}", error=True)
            return 1
        facts = await runtime.pipeline.postmortem_facts(args.id)
        names = await root.people().names(people_in(facts))
        review = build_postmortem(facts, utcnow(), Escaping(value=markdown, code=code), names)
        review = runtime.pipeline.redactor.redact(review)
        if args.out == "-":
            say(review.rstrip("\n"))
        else:
            Path(args.out).write_text(review, encoding="utf-8")
            say(f"wrote {args.out} ({len(review):,} characters)")
        return 0

    return _with_runtime(root, work)


def cmd_ingest(args: argparse.Namespace, root: Root) -> int:
    """Feed one payload from a file or stdin; print the alerts and the incident they joined."""

    async def work(runtime: Runtime) -> int:
        data = _read_input(args.file)
        source = args.source or guess_source(args.file, data)
        pipeline = runtime.pipeline
        try:
            receipt = await pipeline.ingest(source, data, "application/json", utcnow())
        except PayloadError as exc:
            print(json.dumps({"error": str(exc), "status": exc.status}), file=sys.stderr)
            return 2
        redactor = pipeline.redactor
        _json(
            {
                **receipt.summary(),
                "alerts": [redactor.redact_obj(a.model_dump(mode="json")) for a in receipt.alerts],
                "incidents": [
                    redactor.redact_obj((await pipeline.incident(i)).model_dump(mode="json"))
                    for i in receipt.incident_ids
                ],
            }
        )
        return 0

    return _with_runtime(root, work)


def cmd_triage(args: argparse.Namespace, root: Root) -> int:
    """Ingest, triage and judge each file; one JSON object per line, in order."""

    async def work(runtime: Runtime) -> int:
        status = 0
        for name in args.files:
            try:
                data = _read_input(name)
            except OSError as exc:
                print(json.dumps({"file": name, "error": f"cannot read: {exc.strerror}"}))
                status = 1
                continue
            line = await _triage_one(runtime, name, data, args.source)
            status = status or (1 if "error" in line else 0)
            print(json.dumps(line, ensure_ascii=False), flush=True)
        return status

    return _with_runtime(root, work)


async def _triage_one(
    runtime: Runtime, name: str, data: bytes, source: str | None
) -> dict[str, Any]:
    chosen = source or guess_source(name, data)
    now = utcnow()
    pipeline = runtime.pipeline
    try:
        receipt = await pipeline.ingest(chosen, data, "application/json", now)
    except PayloadError as exc:
        return {"file": name, "error": str(exc), "status": exc.status}
    if not receipt.incident_ids:
        return {"file": name, "error": "no incident: the payload only resolved alerts"}
    result = await pipeline.triage_incident(receipt.incident_ids[0], now, force=True)
    if result is None:
        return {"file": name, "error": "triage is already running for this incident elsewhere"}
    return triage_report(result)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add serve, demo, ingest, triage, incidents and timeline."""
    serve = sub.add_parser("serve", help="run the HTTP server (webhooks, Slack events, health)")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    serve.add_argument("--socket-mode", action="store_true", help="talk to Slack over Socket Mode")
    serve.set_defaults(handler=cmd_serve)

    demo = sub.add_parser("demo", help="walk sample alerts through every stage, offline")
    demo.set_defaults(handler=cmd_demo)

    ingest = sub.add_parser("ingest", help="ingest one payload from a file or - (stdin)")
    ingest.add_argument("--source", choices=SOURCES, help="payload format (guessed if omitted)")
    ingest.add_argument("file", help="payload file, or - for stdin")
    ingest.set_defaults(handler=cmd_ingest)

    triage = sub.add_parser("triage", help="ingest + triage + policy for payload files; JSON lines")
    triage.add_argument("--source", choices=SOURCES, help="payload format (guessed if omitted)")
    triage.add_argument("files", nargs="+", help="payload files, or - for stdin")
    triage.set_defaults(handler=cmd_triage)

    incidents = sub.add_parser("incidents", help="list incidents, most recent first")
    incidents.add_argument("--status", choices=[s.value for s in IncidentStatus])
    incidents.add_argument("--limit", type=int, default=50)
    incidents.add_argument("--json", action="store_true", help="print JSON")
    incidents.set_defaults(handler=cmd_incidents)

    timeline = sub.add_parser("timeline", help="show an incident's timeline")
    timeline.add_argument("id", help="incident id, e.g. inc-3f9a1c7e2b")
    timeline.add_argument("--json", action="store_true", help="print JSON")
    timeline.set_defaults(handler=cmd_timeline)

    review = sub.add_parser("postmortem", help="write an incident's post-incident review (md)")
    review.add_argument("id", help="incident id, e.g. inc-3f9a1c7e2b")
    review.add_argument("--out", default="-", help="file to write (default - for stdout)")
    review.set_defaults(handler=cmd_postmortem)
