"""Scoring a triager on labelled alerts: what the benchmark and ``incident-bot eval triage`` share.

A labelled set is JSONL, one ``{"alert": <generic webhook payload>, "expected": {"category",
"severity"}}`` per line (blank lines and ``#`` lines skipped; tests/data/README.md). Each alert
goes through the real generic parser, then the triager; the figures are category accuracy with
a confusion matrix, severity within one level, the share of model replies that were
schema-valid, the fallback rate, and tokens and cost as the triager reported them.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.errors import PayloadError
from bot.ingest import parse_payload
from bot.models import Alert, Category, ExecutionStatus, Incident, Severity, TokenUsage, Triage
from bot.ports import Triager

# Fixed, so a set scores the same on every run (the rules engine reads no clock, models none).
EVAL_NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
# Every action the shipped policy knows: proposals are filtered against this list.
EVAL_ACTIONS = [
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


@dataclass(frozen=True)
class Case:
    """One labelled alert."""

    alert: dict[str, Any]
    category: str
    severity: Severity


def parse_cases(text: str, source: str) -> list[Case]:
    """Cases from JSONL text; a bad line raises PayloadError naming ``source`` and the line."""
    cases = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            row = json.loads(line)
            expected = row["expected"]
            category = Category(expected["category"]).value
            cases.append(Case(dict(row["alert"]), category, Severity(expected["severity"])))
        except (ValueError, KeyError, TypeError) as exc:
            raise PayloadError(f"{source}:{number}: not a labelled alert: {exc!r}") from None
    if not cases:
        raise PayloadError(f"{source}: no labelled alerts")
    return cases


def load_cases(path: Path) -> list[Case]:
    """Read a labelled JSONL file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PayloadError(f"{path}: cannot read: {exc}") from None
    return parse_cases(text, str(path))


def to_incident(case: Case, now: datetime = EVAL_NOW) -> tuple[Incident, list[Alert]]:
    """Parse the payload with the real generic source and open an incident for it."""
    body = json.dumps(case.alert).encode()
    alerts = parse_payload("generic", body, "application/json", received_at=now).alerts
    incident = Incident(
        title=alerts[0].title, service=alerts[0].service, created_at=now, updated_at=now
    )
    return incident, alerts


def _ratio(good: int, total: int) -> float:
    return good / total if total else 0.0


@dataclass
class Evaluation:
    """A triager's results on a set, and the figures drawn from them."""

    name: str
    results: list[tuple[Case, Triage]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def accuracy(self) -> float:
        """Share of alerts whose final triage (fallbacks included) has the expected category."""
        good = sum(t.category.value == c.category for c, t in self.results)
        return _ratio(good, len(self.results))

    @property
    def severity_within_one(self) -> float:
        """Share of alerts whose severity is at most one level from the expected one."""
        good = sum(abs(t.severity.rank - c.severity.rank) <= 1 for c, t in self.results)
        return _ratio(good, len(self.results))

    @property
    def severity_exact(self) -> float:
        """Share of alerts with exactly the expected severity."""
        return _ratio(sum(t.severity is c.severity for c, t in self.results), len(self.results))

    @property
    def fallbacks(self) -> int:
        """Alerts whose triage did not come from the triager itself (fallback or failure)."""
        return sum(t.execution_status is not ExecutionStatus.COMPLETED for _, t in self.results)

    @property
    def fallback_rate(self) -> float:
        """Share of alerts that ended in the fallback (or failed)."""
        return _ratio(self.fallbacks, len(self.results))

    @property
    def replies(self) -> int:
        """Model replies received (0 for the rules engine)."""
        return sum(len(t.raw_responses) for _, t in self.results)

    @property
    def schema_valid_rate(self) -> float:
        """Share of model replies that passed validation: one per completed triage, none in a
        fallback. 1.0 when no reply was received (the rules engine writes its own output)."""
        if not self.replies:
            return 1.0
        completed = sum(
            t.execution_status is ExecutionStatus.COMPLETED and bool(t.raw_responses)
            for _, t in self.results
        )
        return completed / self.replies

    @property
    def usage(self) -> TokenUsage:
        """Tokens and estimated cost over the whole set."""
        total = TokenUsage()
        for _, triage in self.results:
            total = total + triage.usage
        return total

    def confusion(self) -> dict[str, dict[str, int]]:
        """Counts by expected category (rows) and predicted category (columns)."""
        counts = Counter((c.category, t.category.value) for c, t in self.results)
        return {row: {col: counts[(row, col)] for col in CATEGORIES} for row in CATEGORIES}

    def recall(self) -> dict[str, float | None]:
        """Per expected category, the share predicted right (None when the set has none)."""
        matrix = self.confusion()
        out: dict[str, float | None] = {}
        for category, row in matrix.items():
            total = sum(row.values())
            out[category] = row[category] / total if total else None
        return out

    def summary(self) -> dict[str, Any]:
        """The figures as one JSON-ready mapping."""
        usage = self.usage
        return {
            "triager": self.name,
            "alerts": len(self.results),
            "category_accuracy": round(self.accuracy, 4),
            "category_recall": {
                k: (round(v, 4) if v is not None else None) for k, v in self.recall().items()
            },
            "severity_within_one": round(self.severity_within_one, 4),
            "severity_exact": round(self.severity_exact, 4),
            "schema_valid_rate": round(self.schema_valid_rate, 4),
            "model_replies": self.replies,
            "fallback_rate": round(self.fallback_rate, 4),
            "fallbacks": self.fallbacks,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
            "cost_usd": round(usage.cost_usd, 6),
            "seconds": round(self.seconds, 3),
            "confusion": self.confusion(),
        }


def majority_share(cases: list[Case]) -> tuple[str, float]:
    """The most common expected category and its share: the baseline to beat."""
    category, count = Counter(c.category for c in cases).most_common(1)[0]
    return category, count / len(cases)


async def evaluate(
    name: str,
    triager: Triager,
    cases: list[Case],
    allowed_actions: list[str] | None = None,
    now: datetime = EVAL_NOW,
) -> Evaluation:
    """Triage every case in order with one triager (no runbooks: triage alone is scored)."""
    actions = EVAL_ACTIONS if allowed_actions is None else allowed_actions
    evaluation = Evaluation(name)
    started = time.perf_counter()
    for case in cases:
        incident, alerts = to_incident(case, now)
        triage = await triager.triage(incident, alerts, [], actions, now)
        evaluation.results.append((case, triage))
    evaluation.seconds = time.perf_counter() - started
    return evaluation


def confusion_lines(evaluation: Evaluation) -> list[str]:
    """The confusion matrix as text: rows expected, columns predicted."""
    matrix = evaluation.confusion()
    width = max(len(c) for c in CATEGORIES) + 1
    lines = [f"confusion matrix ({evaluation.name}; rows expected, columns predicted)"]
    lines.append(" " * width + " ".join(f"{c[:6]:>6}" for c in CATEGORIES))
    for expected in CATEGORIES:
        row = " ".join(f"{matrix[expected][got]:>6}" for got in CATEGORIES)
        lines.append(f"{expected:<{width}}{row}")
    return lines


def report_lines(evaluation: Evaluation, cases: list[Case]) -> list[str]:
    """A readable report: the headline figures, per-category recall, the confusion matrix."""
    majority, baseline = majority_share(cases)
    usage = evaluation.usage
    recall = evaluation.recall()
    lines = [
        f"triager: {evaluation.name}; labelled alerts: {len(cases)}; "
        f"majority class {majority!r} = {baseline:.1%}",
        f"category accuracy   {evaluation.accuracy:.1%}",
        f"severity within one {evaluation.severity_within_one:.1%}"
        f" (exact {evaluation.severity_exact:.1%})",
        f"schema-valid replies {evaluation.schema_valid_rate:.1%} of {evaluation.replies}",
        f"fallback rate       {evaluation.fallback_rate:.1%} ({evaluation.fallbacks})",
        f"tokens              {usage.total_tokens} (prompt {usage.prompt_tokens}, "
        f"completion {usage.completion_tokens}); est. cost ${usage.cost_usd:.4f}",
        "recall by category  "
        + ", ".join(f"{k}={v:.0%}" for k, v in recall.items() if v is not None),
        "",
        *confusion_lines(evaluation),
    ]
    return lines
