"""Series values: the expression an alert carries, its threshold, the summary, query templates."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from urllib.parse import quote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import ActionError
from bot.evidence.series import (
    Series,
    comparison_of,
    expression_of,
    summarise,
    thinned,
    threshold_of,
)
from bot.evidence.templates import render_query
from bot.models import Alert

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def alert(url: str | None, **annotations: str) -> Alert:
    return Alert(
        source="alertmanager",
        fingerprint="f",
        group_key="g",
        service="checkout",
        title="High error ratio",
        annotations=annotations,
        received_at=T0,
        url=url,
    )


def test_the_expression_comes_from_a_prometheus_graph_url() -> None:
    expr = 'sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(x[5m])) > 0.02'
    url = f"http://prom:9090/graph?g0.expr={quote_plus(expr)}&g0.tab=1"
    assert expression_of(alert(url)) == expr


@pytest.mark.parametrize(
    "url",
    [
        None,
        "https://play.grafana.org/alerting/1afz29v7z/edit",  # Grafana-managed: no expression
        "http://prom:9090/graph?g0.tab=1",
        "http://prom:9090/graph?g0.expr=",
    ],
)
def test_no_expression_no_chart(url: str | None) -> None:
    assert expression_of(alert(url)) is None


def test_the_threshold_prefers_the_alerts_own_annotation() -> None:
    assert threshold_of(alert(None, threshold="0.05"), "x > 0.5") == 0.05
    assert threshold_of(alert(None, threshold="lots"), "x > 0.5") == 0.5
    assert threshold_of(alert(None), "up == 0") is None


@pytest.mark.parametrize(
    ("expr", "head", "value"),
    [
        ("errors > 20", "errors", 20.0),
        ('rate(x{a="b"}[5m]) >= 1.5e3', 'rate(x{a="b"}[5m])', 1500.0),
        ("latency < .25", "latency", 0.25),
        ("x > bool 1", "x > bool 1", None),
        ("(x > 1)", "(x > 1)", None),
        ("sum(x > 1) by (job)", "sum(x > 1) by (job)", None),
    ],
)
def test_a_plain_top_level_comparison_is_split(expr: str, head: str, value: float | None) -> None:
    assert comparison_of(expr) == (head, value)


def test_the_summary_reads_min_max_latest_and_since() -> None:
    one = Series({"__name__": "x", "pod": "a"}, ((100.0, 3.0), (160.0, 9.0), (220.0, 4.0)))
    two = Series({"__name__": "x", "pod": "b"}, ((130.0, 1.0), (190.0, math.nan)))
    summary = summarise("x", [one, two], threshold=5.0)
    assert summary is not None
    assert (summary.minimum, summary.maximum, summary.latest) == (1.0, 9.0, 4.0)
    assert summary.since == datetime.fromtimestamp(100, UTC)
    assert summary.points == 4 and summary.series == 2
    assert "min 1 / max 9 / now 4" in summary.text() and "threshold 5" in summary.text()
    assert summarise("x", []) is None
    assert summarise("x", [Series({}, ((1.0, math.nan),))]) is None


@given(st.lists(st.tuples(st.floats(0, 1e9), st.floats(-1e6, 1e6)), max_size=300),
       st.integers(2, 50))
def test_thinning_keeps_at_most_the_limit_and_the_last_sample(
    points: list[tuple[float, float]], limit: int
) -> None:
    kept = thinned(points, limit)
    assert len(kept) == min(len(points), limit)
    if points:
        assert kept[-1] == points[-1]


def test_query_templates_take_label_safe_values_only() -> None:
    template = 'errors{deployment="{deployment}", ns="{namespace}"} < 0.02'
    values = {"deployment": "checkout-api", "namespace": "shop"}
    assert render_query(template, values) == 'errors{deployment="checkout-api", ns="shop"} < 0.02'
    for hostile in ('x"} or vector(1) #', "a b", "a\\b", "{x}", ""):
        with pytest.raises(ActionError):
            render_query(template, {**values, "deployment": hostile})
    with pytest.raises(ActionError):
        render_query(template, {"deployment": "checkout-api"})
