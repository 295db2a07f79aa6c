"""Series values: samples from a metrics backend, their summary, and what an alert says about them.

No I/O: the ``Metrics`` port returns these, the pipeline summarises them and the ``Charts``
port draws them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from bot.models import Alert

# A series this long is plenty for an hour's chart; longer answers are thinned to it.
MAX_POINTS = 2000
# Annotation or label names that carry an alert's threshold, in the order they are tried.
THRESHOLD_KEYS = ("threshold", "alert_threshold", "threshold_value")
# `expr > 0.5`, `expr >= 2e3`, `expr < 10` at the top level of an expression (no `bool`).
_COMPARISON = re.compile(
    r"(?P<op>>=|<=|>|<)\s*(?P<value>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)
_NUMBER = re.compile(r"^\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*$")
MAX_EXPR_CHARS = 4000


@dataclass(frozen=True)
class Series:
    """One time series: its labels and (unix seconds, value) samples, oldest first."""

    labels: dict[str, str]
    points: tuple[tuple[float, float], ...]

    @property
    def name(self) -> str:
        """A short legend label: the metric name and its most telling labels."""
        labels = {k: v for k, v in self.labels.items() if k != "__name__"}
        inner = ",".join(f"{k}={v}" for k, v in sorted(labels.items())[:3])
        base = self.labels.get("__name__", "")
        return f"{base}{{{inner}}}" if inner else base or "value"


@dataclass(frozen=True)
class SeriesSummary:
    """What a person reads first: lowest, highest, latest, and since when the series runs."""

    expr: str
    series: int
    points: int
    minimum: float
    maximum: float
    latest: float
    since: datetime
    until: datetime
    threshold: float | None = None

    def text(self) -> str:
        """One line for the thread, the timeline and the triage prompt."""
        line = (
            f"min {_fmt(self.minimum)} / max {_fmt(self.maximum)} / now {_fmt(self.latest)} "
            f"since {self.since:%H:%M} UTC ({self.points} points, {self.series} series)"
        )
        if self.threshold is not None:
            line += f"; threshold {_fmt(self.threshold)}"
        return line

    def as_data(self) -> dict[str, object]:
        """A JSON-ready record (timeline, incident evidence, action results)."""
        return {
            "expr": self.expr,
            "series": self.series,
            "points": self.points,
            "min": self.minimum,
            "max": self.maximum,
            "now": self.latest,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "threshold": self.threshold,
        }


@dataclass(frozen=True)
class Chart:
    """What one evidence chart shows; the ``Charts`` port turns it into PNG bytes."""

    title: str
    series: tuple[Series, ...]
    threshold: float | None = None
    marked_at: datetime | None = None
    marked_label: str = "alert start"
    width_px: int = 900
    height_px: int = 360
    notes: tuple[str, ...] = field(default_factory=tuple)


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
        return f"{value:.3g}"
    return f"{value:.4g}"


def summarise(
    expr: str, series: list[Series], threshold: float | None = None
) -> SeriesSummary | None:
    """Min / max / latest over every finite sample; None when there is nothing to summarise."""
    samples = [(t, v) for s in series for t, v in s.points if math.isfinite(v)]
    if not samples:
        return None
    values = [v for _, v in samples]
    latest_at = max(t for t, _ in samples)
    latest = [v for t, v in samples if t == latest_at]
    return SeriesSummary(
        expr=expr,
        series=len(series),
        points=len(samples),
        minimum=min(values),
        maximum=max(values),
        latest=max(latest),
        since=datetime.fromtimestamp(min(t for t, _ in samples), UTC),
        until=datetime.fromtimestamp(latest_at, UTC),
        threshold=threshold,
    )


def thinned(
    points: list[tuple[float, float]], limit: int = MAX_POINTS
) -> tuple[tuple[float, float], ...]:
    """At most ``limit`` samples, evenly picked, the last one always kept."""
    if len(points) <= limit:
        return tuple(points)
    step = len(points) / limit
    picked = [points[int(i * step)] for i in range(limit - 1)]
    return (*picked, points[-1])


def expression_of(alert: Alert) -> str | None:
    """The PromQL expression a Prometheus-style ``generatorURL`` carries (``g0.expr``).

    Prometheus links to ``/graph?g0.expr=<expr>&g0.tab=1``; rulers that speak its API
    (Mimir, Thanos, Grafana data-source-managed rules) do the same. Grafana-managed rules link
    to the rule's page (``/alerting/<uid>/edit``), which carries no expression: None.
    """
    if not alert.url:
        return None
    try:
        query = parse_qs(urlsplit(alert.url).query)
    except ValueError:
        return None
    found = query.get("g0.expr") or []
    expr = found[0].strip() if found else ""
    if not expr or len(expr) > MAX_EXPR_CHARS:
        return None
    return expr


def threshold_of(alert: Alert, expr: str) -> float | None:
    """The alert's threshold: an annotation or label that says so, else ``expr > N``."""
    for source in (alert.annotations, alert.labels):
        for key in THRESHOLD_KEYS:
            value = source.get(key)
            if value is not None and _NUMBER.match(value):
                return float(value)
    return comparison_of(expr)[1]


def comparison_of(expr: str) -> tuple[str, float | None]:
    """(the expression without a trailing ``> N``, N) — or (expr, None) without one.

    Only a plain top-level comparison counts: ``... > bool 1`` or a comparison inside
    parentheses is left alone.
    """
    match = _COMPARISON.search(expr)
    if match is None:
        return expr, None
    head = expr[: match.start()].rstrip()
    if not head or head.endswith("bool") or head.count("(") != head.count(")"):
        return expr, None
    return head, float(match.group("value"))
