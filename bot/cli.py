"""The ``incident-bot`` command line: serve, demo, ingest, triage, incidents, timeline, ..."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot import __version__, logs
from bot.app import Services, build_services
from bot.clock import utcnow
from bot.config import Settings, load_settings
from bot.errors import BotError, ConfigError, NotFound, PayloadError
from bot.ingest import SOURCES
from bot.models import IncidentStatus
from bot.redaction import Redactor
from bot.reports import incident_summary, triage_report

log = logging.getLogger(__name__)

# Areas that contribute their own subcommands through register(subparsers).
COMMAND_MODULES = ("bot.policy.commands", "bot.retrieval.commands")


def _read_input(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    return Path(name).read_bytes()


def _guess_source(path: str, data: bytes) -> str:
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


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Run the HTTP server (and Slack, when configured)."""
    from bot.server import serve

    return serve(settings, host=args.host, port=args.port, socket_mode=args.socket_mode)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Walk bundled sample alerts through every stage, offline."""
    from bot.demo import run_demo

    return asyncio.run(run_demo(settings))


async def _with_services(settings: Settings, work: Any) -> int:
    services = build_services(settings)
    try:
        return int(await work(services))
    finally:
        await services.store.close()


def cmd_incidents(args: argparse.Namespace, settings: Settings) -> int:
    """List incidents, most recent first."""

    async def work(services: Services) -> int:
        status = IncidentStatus(args.status) if args.status else None
        found = await services.store.list_incidents(status, limit=args.limit)
        if args.json:
            print(json.dumps([i.model_dump(mode="json") for i in found], indent=2))
        elif not found:
            print("no incidents")
        for incident in [] if args.json else found:
            print(incident_summary(incident))
        return 0

    return asyncio.run(_with_services(settings, work))


def cmd_timeline(args: argparse.Namespace, settings: Settings) -> int:
    """Print one incident's timeline."""
    from bot.timeline import render_text

    async def work(services: Services) -> int:
        try:
            await services.store.get_incident(args.id)
        except NotFound:
            print(f"error: no incident {args.id!r}", file=sys.stderr)
            return 1
        events = await services.store.list_events(args.id)
        if args.json:
            print(json.dumps([e.model_dump(mode="json") for e in events], indent=2))
        else:
            print(render_text(events) or "(no events)")
        return 0

    return asyncio.run(_with_services(settings, work))


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    """Feed one payload from a file or stdin; print the alerts and the incident they joined."""

    async def work(services: Services) -> int:
        data = _read_input(args.file)
        source = args.source or _guess_source(args.file, data)
        try:
            receipt = await services.pipeline.ingest(source, data, "application/json", utcnow())
        except PayloadError as exc:
            print(json.dumps({"error": str(exc), "status": exc.status}), file=sys.stderr)
            return 2
        out = {
            "source": source,
            "received": receipt.received,
            "stored": receipt.stored,
            "duplicates": receipt.duplicates,
            "alerts": [a.model_dump(mode="json") for a in receipt.alerts],
            "incidents": [
                (await services.store.get_incident(i)).model_dump(mode="json")
                for i in receipt.incident_ids
            ],
        }
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0

    return asyncio.run(_with_services(settings, work))


def cmd_triage(args: argparse.Namespace, settings: Settings) -> int:
    """Ingest, triage and judge each file; one JSON object per line, in order."""

    async def work(services: Services) -> int:
        status = 0
        for name in args.files:
            try:
                data = _read_input(name)
            except OSError as exc:
                print(json.dumps({"file": name, "error": f"cannot read: {exc.strerror}"}))
                status = 1
                continue
            line = await _triage_one(services, name, data, args.source)
            status = status or (1 if "error" in line else 0)
            print(json.dumps(line, ensure_ascii=False), flush=True)
        return status

    return asyncio.run(_with_services(settings, work))


async def _triage_one(
    services: Services, name: str, data: bytes, source: str | None
) -> dict[str, Any]:
    chosen = source or _guess_source(name, data)
    now = utcnow()
    try:
        receipt = await services.pipeline.ingest(chosen, data, "application/json", now)
    except PayloadError as exc:
        return {"file": name, "error": str(exc), "status": exc.status}
    if not receipt.incident_ids:
        return {"file": name, "error": "no incident: the payload only resolved alerts"}
    result = await services.pipeline.triage_incident(receipt.incident_ids[0], now, force=True)
    if result is None:
        return {"file": name, "error": "triage is already running for this incident elsewhere"}
    return triage_report(result)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="incident-bot",
        description="ChatOps incident response: ingest alerts, triage, propose governed actions.",
    )
    parser.add_argument("--version", action="version", version=f"incident-bot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

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

    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        logs.configure(settings.log_level, Redactor(settings.redact_extra_patterns).redact)
        return int(args.handler(args, settings))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except BotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
