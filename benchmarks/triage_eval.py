"""Triage quality on the labelled sets: category accuracy, severity within one level, confusion.

    .venv/bin/python -m benchmarks.triage_eval [--data FILE] [--show-misses]

Two splits by default (tests/data/README.md says how they were made): the development split
``triage_eval.jsonl``, which rules may be written from, and the held-back split
``triage_eval_heldout.jsonl``, which they must not be: its misses are never printed. Each line
is a generic-source payload plus the expected category and severity; the payload goes through
the real generic parser, then the offline rules engine (always) and, when OPENAI_BASE_URL is
set, the configured OpenAI-compatible model (LLM_MODEL, OPENAI_API_KEY). The scoring is
``bot.triage.evaluation``, the same code as ``incident-bot eval triage``. The baseline is the
majority class: a triager must beat "always say the most common category".
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
from pathlib import Path

from benchmarks.report import figure
from bot.compose import Root
from bot.config import load_settings
from bot.triage.evaluation import (
    Case,
    Evaluation,
    confusion_lines,
    evaluate,
    load_cases,
    majority_share,
)

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
SPLITS = {"dev": DATA / "triage_eval.jsonl", "heldout": DATA / "triage_eval_heldout.jsonl"}
# Issue 17.4: on the held-back split, the rules engine's targets.
TARGET_ACCURACY = 0.90
TARGET_PER_CATEGORY = 0.80


def print_table(split: str, scores: list[Evaluation], cases: list[Case]) -> None:
    """One row per triager, plus the majority-class baseline."""
    majority, baseline = majority_share(cases)
    print(f"\n== {split}: {len(cases)} labelled alerts; majority {majority!r} = {baseline:.1%}")
    header = f"{'triager':<22}{'category acc':>13}{'vs baseline':>12}{'sev ±1':>8}"
    print(header + f"{'sev exact':>10}{'ms/alert':>10}{'fallbacks':>10}")
    for score in scores:
        per_alert = 1000 * score.seconds / max(1, len(score.results))
        print(
            f"{score.name:<22}{score.accuracy:>13.1%}{score.accuracy / baseline:>11.2f}x"
            f"{score.severity_within_one:>8.1%}{score.severity_exact:>10.1%}"
            f"{per_alert:>10.2f}{score.fallbacks:>10}"
        )


def print_misses(score: Evaluation) -> None:
    """The cases a triager got wrong, for reading (development split only)."""
    print(f"\nmisses ({score.name})")
    for case, triage in score.results:
        if triage.category.value != case.category:
            print(
                f"  expected {case.category:<20} got {triage.category.value:<20} "
                f"{triage.confidence:.2f}  {str(case.alert.get('title', ''))[:60]}"
            )


def report(split: str, score: Evaluation, cases: list[Case]) -> None:
    """Machine-readable figures for benchmarks.run_all."""
    _, baseline = majority_share(cases)
    rules = score.name == "rules"
    worst = min((v for v in score.recall().values() if v is not None), default=0.0)
    held = split == "heldout" and rules
    figure(
        f"{score.name} category accuracy ({split})",
        score.accuracy,
        "fraction",
        baseline=baseline,
        target=f">= {TARGET_ACCURACY}" if held else "",
        met=score.accuracy >= TARGET_ACCURACY if held else None,
    )
    figure(
        f"{score.name} worst category recall ({split})",
        worst,
        "fraction",
        target=f">= {TARGET_PER_CATEGORY}" if held else "",
        met=worst >= TARGET_PER_CATEGORY if held else None,
    )
    figure(f"{score.name} severity within 1 ({split})", score.severity_within_one, "fraction")


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, help="one labelled file instead of both splits")
    parser.add_argument("--show-misses", action="store_true", help="misses of the dev split")
    args = parser.parse_args(argv)
    # Fallback warnings are counted in the table; one log line per alert is noise here.
    logging.basicConfig(level=logging.ERROR)
    splits = {"custom": args.data} if args.data else SPLITS
    for split, path in splits.items():
        cases = load_cases(path)
        with tempfile.TemporaryDirectory() as tmp:
            rules_root = Root(load_settings(LLM_PROVIDER="rules"))
            store = rules_root.offline(Path(tmp)).store()
            scores = [await evaluate("rules", rules_root.evaluation_triager(store, "rules"), cases)]
            if os.environ.get("OPENAI_BASE_URL"):
                model_root = Root(load_settings(LLM_PROVIDER="openai"))
                triager = model_root.evaluation_triager(store, "openai")
                name = f"openai:{os.environ.get('LLM_MODEL', 'configured')}"
                scores.append(await evaluate(name, triager, cases))
            await store.close()
        print_table(split, scores, cases)
        for score in scores:
            print()
            print("\n".join(confusion_lines(score)))
            if args.show_misses and split != "heldout":
                print_misses(score)
        print()
        for score in scores:
            report(split, score, cases)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
