"""``incident-bot eval triage``: score a model (or the rules engine) on labelled alerts."""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path

from bot.cli.terminal import say
from bot.compose import Root
from bot.triage.evaluation import evaluate, load_cases, report_lines

PROVIDERS = ("openai", "azure", "rules")


async def _score(args: argparse.Namespace, root: Root) -> int:
    cases = load_cases(args.file)
    with tempfile.TemporaryDirectory(prefix="incident-bot-eval-") as tmp:
        # A throw-away store: the triager keeps its token counter there, nothing else.
        store = root.offline(Path(tmp)).store()
        try:
            triager = root.evaluation_triager(
                store,
                args.provider,
                base_url=args.base_url,
                model=args.model,
                api_key_env=args.api_key_env,
            )
            name = args.provider
            if args.provider != "rules":
                name += f":{args.model or 'configured model'}"
            evaluation = await evaluate(name, triager, cases)
        finally:
            await store.close()
    if args.json:
        print(json.dumps(evaluation.summary(), indent=2))
    else:
        say("\n".join(report_lines(evaluation, cases)))
    return 0


def cmd_triage(args: argparse.Namespace, root: Root) -> int:
    """Triage every labelled alert of FILE and print the figures."""
    return asyncio.run(_score(args, root))


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``eval`` command group."""
    group = subparsers.add_parser("eval", help="score a triager on labelled alerts")
    sub = group.add_subparsers(dest="eval_command", required=True)
    triage = sub.add_parser(
        "triage",
        help="category accuracy, severity, schema-valid and fallback rates, tokens and cost",
        description=(
            "Triage each alert of a labelled JSONL file (one {'alert': generic payload, "
            "'expected': {'category', 'severity'}} per line) with the chosen provider and "
            "print the figures. Unset options keep the configured LLM_* / OPENAI_* / AZURE_* "
            "values."
        ),
    )
    triage.add_argument("file", type=Path, help="labelled JSONL (see tests/data/README.md)")
    triage.add_argument("--provider", choices=PROVIDERS, default="openai")
    triage.add_argument(
        "--base-url", default="", help="OpenAI-compatible base URL (…/v1), or the Azure endpoint"
    )
    triage.add_argument("--model", default="", help="model name, or the Azure deployment")
    triage.add_argument(
        "--api-key-env",
        default="",
        metavar="VAR",
        help="environment variable holding the API key (default: OPENAI_API_KEY / "
        "AZURE_OPENAI_API_KEY)",
    )
    triage.add_argument("--json", action="store_true", help="print the figures as JSON")
    triage.set_defaults(handler=cmd_triage)
