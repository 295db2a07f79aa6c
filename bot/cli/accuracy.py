"""``incident-bot report accuracy``: triage precision/recall and confusion per provider and
prompt version, from corrections and feedback, and what became of proposals."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from bot import accuracy
from bot.cli.policy import parse_since
from bot.cli.terminal import say
from bot.clock import utcnow
from bot.compose import Root
from bot.models import ActionRequest


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``report`` command and its ``accuracy`` subcommand."""
    group = subparsers.add_parser("report", help="reports over the stored record")
    commands = group.add_subparsers(dest="report_command", required=True)
    scored = commands.add_parser(
        "accuracy", help="triage accuracy from corrections and feedback; proposal outcomes"
    )
    scored.add_argument(
        "--since", default="30d", help="how far back: 30d, 12h, 90m, or an RFC 3339 time"
    )
    scored.add_argument("--json", action="store_true", help="one JSON object")
    scored.set_defaults(handler=cmd_accuracy)


def cmd_accuracy(args: argparse.Namespace, root: Root) -> int:
    """Print the scorecards and the proposal outcome shares."""
    since = parse_since(args.since, utcnow())

    async def read() -> tuple[list[accuracy.Judged], list[ActionRequest]]:
        runtime = root.runtime()
        try:
            judged = await runtime.pipeline.judged_triages(since)
            requests = [r async for r in runtime.pipeline.proposals_since(since)]
            return judged, requests
        finally:
            await runtime.store.close()

    judged, requests = asyncio.run(read())
    cards = accuracy.score(judged)
    shares = accuracy.outcome_shares(requests)
    if args.json:
        say(json.dumps(as_json(cards, shares, len(requests), since.isoformat()), sort_keys=True))
        return 0
    say(f"triage accuracy since {since.isoformat()}: {len(judged)} triaged incidents")
    for card in cards:
        say("")
        say(render(card))
    say("")
    say(f"proposals: {len(requests)}")
    for name, share in shares.items():
        say(f"  {name:<13} {share:6.1%}")
    return 0


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def render(card: accuracy.Scorecard) -> str:
    """One scorecard as text: the summary, per-category figures, the confusion matrix."""
    lines = [
        f"{card.provider} (prompt {card.prompt_version}): {card.correct}/{card.judged} right "
        f"(accuracy {_ratio(card.accuracy)}), {card.disputed} disputed, {card.unjudged} "
        "without a verdict",
        f"  {'category':<20} {'precision':>9} {'recall':>7} {'support':>8}",
    ]
    rows = card.categories()
    for row in rows:
        lines.append(
            f"  {row.category.value:<20} {_ratio(row.precision):>9} {_ratio(row.recall):>7}"
            f" {row.support:>8}"
        )
    if rows:
        names = [row.category for row in rows]
        lines.append("  confusion (rows: corrected/confirmed, columns: triaged)")
        lines.append("  " + " " * 20 + "".join(f"{c.value[:10]:>11}" for c in names))
        for truth in names:
            counts = "".join(f"{card.confusion[(truth, p)]:>11}" for p in names)
            lines.append(f"  {truth.value:<20}{counts}")
    return "\n".join(lines)


def as_json(
    cards: list[accuracy.Scorecard], shares: dict[str, float], proposals: int, since: str
) -> dict[str, Any]:
    """The report as one JSON-ready object."""
    return {
        "since": since,
        "providers": [
            {
                "provider": card.provider,
                "prompt_version": card.prompt_version,
                "judged": card.judged,
                "correct": card.correct,
                "disputed": card.disputed,
                "unjudged": card.unjudged,
                "accuracy": card.accuracy,
                "categories": {
                    row.category.value: {
                        "precision": row.precision,
                        "recall": row.recall,
                        "support": row.support,
                    }
                    for row in card.categories()
                },
                "confusion": [
                    {"truth": t.value, "triaged": p.value, "count": n}
                    for (t, p), n in sorted(card.confusion.items())
                ],
            }
            for card in cards
        ],
        "proposals": proposals,
        "outcomes": shares,
    }
