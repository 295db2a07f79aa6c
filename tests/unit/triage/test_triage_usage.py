"""Token usage, cost estimates and the price table file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT
from bot.errors import ConfigError
from bot.triage.usage import PriceTable, budget_day

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
