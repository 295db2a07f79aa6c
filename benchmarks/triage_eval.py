"""Triage quality on a labelled set: category accuracy, severity within one level, confusion.

    .venv/bin/python -m benchmarks.triage_eval [--data tests/data/triage_eval.jsonl] [--show-misses]

Each line of the set is a generic-source payload plus the expected category and severity. The
payload goes through the real generic ingest parser, then the offline rules engine (always) and,
when OPENAI_BASE_URL is set, the configured OpenAI-compatible model (LLM_MODEL, OPENAI_API_KEY).
The baseline is the majority class: a triager must beat "always say the most common category".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.report import figure
from bot.compose.llm import build_triager
from bot.config import load_settings
from bot.ingest import parse_payload
from bot.models import Alert, Category, Incident, Severity, Triage
from bot.ports import Triager
from bot.store.sqlite import SQLiteStore

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
ACTIONS = [
    "notify_oncall",
    "collect_diagnostics",
    "clear_cache",
    "restart_canary",
    "restart_deployment",
    "scale_deployment",
    "rollback_deployment",
    "toggle_feature_flag",
    "failover_region",
]
CATEGORIES = [c.value for c in Category]


@dataclass
class Case:
    alert: dict[str, Any]
    category: str
    severity: Severity


@dataclass
class Score:
    name: str
    results: list[tuple[Case, Triage]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def accuracy(self) -> float:
        return _ratio(sum(t.category.value == c.category for c, t in self.results), self.results)

    @property
    def severity_within_one(self) -> float:
        good = sum(abs(t.severity.rank - c.severity.rank) <= 1 for c, t in self.results)
        return _ratio(good, self.results)

    @property
    def severity_exact(self) -> float:
        return _ratio(sum(t.severity is c.severity for c, t in self.results), self.results)


def _ratio(good: int, items: list[Any]) -> float:
    return good / len(items) if items else 0.0


def load_cases(path: Path) -> list[Case]:
    """Read the labelled JSONL set."""
    cases = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            expected = row["expected"]
            cases.append(Case(row["alert"], expected["category"], Severity(expected["severity"])))
    return cases


def to_incident(case: Case) -> tuple[Incident, list[Alert]]:
    """Parse the payload with the real generic source and open an incident for it."""
    body = json.dumps(case.alert).encode()
    alerts = parse_payload("generic", body, "application/json", received_at=NOW).alerts
    incident = Incident(
        title=alerts[0].title, service=alerts[0].service, created_at=NOW, updated_at=NOW
    )
    return incident, alerts


async def run(name: str, triager: Triager, cases: list[Case]) -> Score:
    """Triage every case with one triager."""
    score = Score(name)
    started = time.perf_counter()
    for case in cases:
        incident, alerts = to_incident(case)
        triage = await triager.triage(incident, alerts, [], ACTIONS, NOW)
        score.results.append((case, triage))
    score.seconds = time.perf_counter() - started
    return score


def print_confusion(score: Score) -> None:
    """Rows: expected category; columns: predicted."""
    counts = Counter((c.category, t.category.value) for c, t in score.results)
    width = max(len(c) for c in CATEGORIES) + 1
    short = [c[:6] for c in CATEGORIES]
    print(f"\nconfusion matrix ({score.name}; rows expected, columns predicted)")
    print(" " * width + " ".join(f"{s:>6}" for s in short))
    for expected in CATEGORIES:
        row = " ".join(f"{counts[(expected, got)]:>6}" for got in CATEGORIES)
        print(f"{expected:<{width}}{row}")


def print_table(scores: list[Score], cases: list[Case]) -> None:
    """One row per triager, plus the majority-class baseline."""
    majority, majority_count = Counter(c.category for c in cases).most_common(1)[0]
    baseline = majority_count / len(cases)
    print(f"labelled alerts: {len(cases)}; majority class {majority!r} = {baseline:.1%}")
    header = f"{'triager':<22}{'category acc':>13}{'vs baseline':>12}{'sev ±1':>8}"
    print(header + f"{'sev exact':>10}{'ms/alert':>10}{'fallbacks':>10}")
    for score in scores:
        fallbacks = sum(t.execution_status.value != "COMPLETED" for _, t in score.results)
        per_alert = 1000 * score.seconds / max(1, len(score.results))
        print(
            f"{score.name:<22}{score.accuracy:>13.1%}{score.accuracy / baseline:>11.2f}x"
            f"{score.severity_within_one:>8.1%}{score.severity_exact:>10.1%}"
            f"{per_alert:>10.2f}{fallbacks:>10}"
        )


def print_misses(score: Score) -> None:
    """The cases a triager got wrong, for reading, not for tuning the set."""
    print(f"\nmisses ({score.name})")
    for case, triage in score.results:
        if triage.category.value != case.category:
            print(
                f"  expected {case.category:<20} got {triage.category.value:<20} "
                f"{triage.confidence:.2f}  {case.alert['title'][:60]}"
            )


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "tests" / "data" / "triage_eval.jsonl")
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args(argv)
    # Fallback warnings are counted in the table; one log line per alert is noise here.
    logging.basicConfig(level=logging.ERROR)
    cases = load_cases(args.data)
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "bench.db")
        scores = [
            await run("rules", build_triager(load_settings(LLM_PROVIDER="rules"), store), cases)
        ]
        if os.environ.get("OPENAI_BASE_URL"):
            settings = load_settings(LLM_PROVIDER="openai", LLM_DAILY_TOKEN_BUDGET=0)
            name = f"openai:{settings.llm_model}"
            scores.append(await run(name, build_triager(settings, store), cases))
        await store.close()
    print_table(scores, cases)
    for score in scores:
        print_confusion(score)
        if args.show_misses:
            print_misses(score)
    majority = Counter(c.category for c in cases).most_common(1)[0][1] / len(cases)
    for score in scores:
        figure(
            f"{score.name} category accuracy",
            score.accuracy,
            "fraction",
            baseline=majority,
            target=">= 0.80 (rules)" if score.name == "rules" else "",
            met=score.accuracy >= 0.8 if score.name == "rules" else None,
        )
        figure(f"{score.name} severity within 1", score.severity_within_one, "fraction")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
