"""Token usage and cost: a price table from a data file, and the shared daily token budget."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from bot.errors import ConfigError
from bot.models import TokenUsage
from bot.store.base import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Price:
    """USD per one million tokens."""

    input: float
    output: float


class PriceTable:
    """Model name -> price; a dated model name falls back to its longest known prefix."""

    def __init__(self, prices: dict[str, Price]) -> None:
        self.prices = prices

    @classmethod
    def load(cls, path: Path) -> PriceTable:
        """Read a YAML/JSON mapping ``models: {name: {input, output}}``; errors name the file."""
        try:
            data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
            models = data["models"]
            prices = {
                str(name): Price(float(entry["input"]), float(entry["output"]))
                for name, entry in models.items()
            }
        except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"LLM_PRICE_TABLE: cannot load {path}: {exc!r}") from None
        return cls(prices)

    def price(self, model: str) -> Price | None:
        """The price for ``model``, or None when it is unknown."""
        if model in self.prices:
            return self.prices[model]
        matches = [name for name in self.prices if model.startswith(name)]
        return self.prices[max(matches, key=len)] if matches else None

    def usage(self, model: str, prompt_tokens: int, completion_tokens: int) -> TokenUsage:
        """A TokenUsage with its estimated cost (0 when the model is not in the table)."""
        price = self.price(model)
        cost = 0.0
        if price is not None:
            cost = (prompt_tokens * price.input + completion_tokens * price.output) / 1_000_000
        else:
            log.debug("no price for model", extra={"model": model})
        return TokenUsage(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
            cost_usd=round(cost, 8),
        )


def budget_day(now: datetime) -> str:
    """The budget's day key: the UTC date of ``now``."""
    return (now if now.tzinfo is None else now.astimezone(UTC)).date().isoformat()


class TokenBudget:
    """A daily token budget kept in the store, so every replica shares one counter."""

    def __init__(self, store: Store, daily_tokens: int) -> None:
        self.store = store
        # 0 means no limit.
        self.daily_tokens = daily_tokens

    async def exhausted(self, now: datetime) -> bool:
        """True when today's tokens have reached the budget."""
        if self.daily_tokens <= 0:
            return False
        return await self.store.get_token_usage(budget_day(now)) >= self.daily_tokens

    async def spend(self, now: datetime, tokens: int) -> int:
        """Add tokens to today's counter; returns the new total."""
        if tokens <= 0:
            return await self.store.get_token_usage(budget_day(now))
        return await self.store.add_token_usage(budget_day(now), tokens)
