"""Token usage and cost: the model's reported counts checked, a price table from a data file,
and the shared daily token budget."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from bot.errors import ConfigError
from bot.models import TokenUsage
from bot.ports import Backend

log = logging.getLogger(__name__)

# The model reports its own token counts; no single call reads or writes more than this, so a
# bigger number is a broken or hostile server, not a bill (and must not overflow a counter).
MAX_CALL_TOKENS = 1_000_000


@dataclass(frozen=True)
class ReportedUsage:
    """Token counts from a model reply, made safe to count; ``problems`` says what was wrong."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    problems: tuple[str, ...] = ()


def _count(name: str, value: object, problems: list[str]) -> int:
    if value is None:
        return 0
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        number = int(value)
    if number is None:
        shown = repr(value)[:40] if isinstance(value, (str, float)) else type(value).__name__
        problems.append(f"usage.{name} is not an integer ({shown}); counted as 0")
        return 0
    if number < 0:
        problems.append(f"usage.{name} is negative; counted as 0")
        return 0
    if number > MAX_CALL_TOKENS:
        # Not printed: a huge int may not even convert to text.
        problems.append(f"usage.{name} is over {MAX_CALL_TOKENS}; capped at {MAX_CALL_TOKENS}")
        return MAX_CALL_TOKENS
    return number


def read_usage(prompt: object, completion: object, total: object) -> ReportedUsage:
    """Check the counts a model reported: never negative, never huge, always integers.

    A missing count is 0. A total above prompt + completion is kept (the budget is charged the
    larger figure); a total below it is ignored in favour of the sum. Either way it is noted.
    """
    problems: list[str] = []
    prompt_tokens = _count("prompt_tokens", prompt, problems)
    completion_tokens = _count("completion_tokens", completion, problems)
    total_tokens = _count("total_tokens", total, problems)
    parts = prompt_tokens + completion_tokens
    if total is not None and total_tokens != parts and not problems:
        problems.append(
            f"usage.total_tokens ({total_tokens}) is not prompt_tokens + completion_tokens "
            f"({parts}); counted as {max(parts, total_tokens)}"
        )
    return ReportedUsage(
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        total_tokens=max(parts, total_tokens),
        problems=tuple(problems),
    )


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

    def usage(
        self, model: str, prompt_tokens: int, completion_tokens: int, total_tokens: int = 0
    ) -> TokenUsage:
        """A TokenUsage with its estimated cost (0 when the model is not in the table).

        The total is at least prompt + completion; negative counts are taken as 0.
        """
        prompt_tokens = max(0, prompt_tokens)
        completion_tokens = max(0, completion_tokens)
        price = self.price(model)
        cost = 0.0
        if price is not None:
            cost = (prompt_tokens * price.input + completion_tokens * price.output) / 1_000_000
        else:
            log.debug("no price for model", extra={"model": model})
        return TokenUsage(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=max(prompt_tokens + completion_tokens, total_tokens),
            cost_usd=round(cost, 8),
        )


def budget_day(now: datetime) -> str:
    """The budget's day key: the UTC date of ``now``."""
    return (now if now.tzinfo is None else now.astimezone(UTC)).date().isoformat()


class TokenBudget:
    """A daily token budget kept in the store, so every replica shares one counter."""

    def __init__(self, store: Backend, daily_tokens: int) -> None:
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
