"""Token usage, cost estimates and the price table file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot import metrics
from bot.config import PROJECT_ROOT
from bot.errors import ConfigError
from bot.models import TokenUsage
from bot.triage.usage import MAX_CALL_TOKENS, PriceTable, ReportedUsage, budget_day, read_usage

TABLE = PriceTable.load(PROJECT_ROOT / "bot" / "triage" / "prices.yaml")


def test_cost_uses_the_longest_matching_model_prefix() -> None:
    usage = TABLE.usage("gpt-4o-mini-2024-07-18", 1_000_000, 1_000_000)
    assert usage.cost_usd == pytest.approx(0.15 + 0.60)
    assert usage.total_tokens == 2_000_000
    assert TABLE.usage("gpt-4o-2024-11-20", 1_000_000, 0).cost_usd == pytest.approx(2.50)


def test_unknown_models_cost_nothing_but_still_count_tokens() -> None:
    usage = TABLE.usage("llama3.1:8b", 10, 5)
    assert usage.cost_usd == 0.0 and usage.total_tokens == 15


def test_a_broken_price_table_names_the_setting(tmp_path: Path) -> None:
    bad = tmp_path / "prices.yaml"
    bad.write_text("models: {gpt: {input: cheap}}")
    with pytest.raises(ConfigError, match="LLM_PRICE_TABLE"):
        PriceTable.load(bad)


def test_budget_day_is_the_utc_date() -> None:
    late = datetime(2026, 11, 24, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert budget_day(late) == "2026-11-25"
    assert budget_day(datetime(2026, 11, 24, 0, 1, tzinfo=UTC)) == "2026-11-24"


def test_reported_usage_that_adds_up_is_taken_as_is() -> None:
    assert read_usage(100, 50, 150) == ReportedUsage(100, 50, 150)
    assert read_usage(100, 50, None) == ReportedUsage(100, 50, 150)
    assert read_usage(None, None, None) == ReportedUsage()
    assert read_usage(100.0, 50, 150.0) == ReportedUsage(100, 50, 150)


@pytest.mark.parametrize(
    ("reported", "counted", "problem"),
    [
        ((-100, 50, -50), (0, 50, 50), "usage.prompt_tokens is negative; counted as 0"),
        ((10**500, 50, 7), (MAX_CALL_TOKENS, 50, MAX_CALL_TOKENS + 50), "capped at"),
        ((True, 50, 51), (0, 50, 51), "usage.prompt_tokens is not an integer (bool)"),
        ((1.5, 50, 52), (0, 50, 52), "usage.prompt_tokens is not an integer (1.5)"),
        (("100", 50, 150), (0, 50, 150), "usage.prompt_tokens is not an integer ('100')"),
        ((float("inf"), 50, 50), (0, 50, 50), "usage.prompt_tokens is not an integer (inf)"),
        ((100, 50, 10), (100, 50, 150), "is not prompt_tokens + completion_tokens (150)"),
        ((100, 50, 400), (100, 50, 400), "counted as 400"),
    ],
    ids=["negative", "huge", "bool", "fraction", "string", "infinite", "total-low", "total-high"],
)
def test_untrusted_usage_is_clamped_and_every_problem_named(
    reported: tuple[object, object, object], counted: tuple[int, int, int], problem: str
) -> None:
    usage = read_usage(*reported)
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == counted
    assert any(problem in p for p in usage.problems), usage.problems


def test_the_price_table_never_counts_negative_tokens_and_keeps_a_larger_total() -> None:
    usage = TABLE.usage("gpt-4o-mini", -1_000_000, 1_000_000, 0)
    assert (usage.prompt_tokens, usage.total_tokens) == (0, 1_000_000)
    assert usage.cost_usd == pytest.approx(0.60)
    assert TABLE.usage("gpt-4o-mini", 10, 5, 40).total_tokens == 40


def _tokens(kind: str) -> float:
    labels = {"provider": "openai", "model": "unit-test-model", "kind": kind}
    return metrics.REGISTRY.get_sample_value("incident_bot_llm_tokens_total", labels) or 0.0


def test_count_usage_adds_nothing_for_negative_or_non_finite_amounts() -> None:
    before = _tokens("prompt"), _tokens("completion")
    hostile = TokenUsage(prompt_tokens=-5, completion_tokens=10**400, cost_usd=float("nan"))
    metrics.count_usage("openai", "unit-test-model", hostile)
    metrics.count_usage("openai", "unit-test-model", TokenUsage(prompt_tokens=7))
    assert (_tokens("prompt"), _tokens("completion")) == (before[0] + 7, before[1])
