"""The LLM gateway: one chat completion with structured output, explicit retries and timeouts.

Built on the official ``openai`` SDK (``AsyncOpenAI`` or ``AsyncAzureOpenAI``) with the SDK's
own retries turned off (``max_retries=0``), so the behaviour is ours and testable: transport
errors, 408, 429 and 5xx are retried with exponential backoff and jitter, a Retry-After header
is honoured, and the total sleep is bounded. A 400 for ``json_schema`` output downgrades the
gateway to ``json_object`` once. Every openai exception becomes a TriageError here.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import openai
from openai.types.chat import ChatCompletionMessageParam
from openai.types.shared_params import ResponseFormatJSONObject, ResponseFormatJSONSchema

from bot.errors import TriageError
from bot.triage.base import ChatMessage

log = logging.getLogger(__name__)

JSON_SCHEMA = "json_schema"
JSON_OBJECT = "json_object"
RETRYABLE_STATUS = frozenset({408, 429})

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Completion:
    """What one successful call returned: the reply text and its token counts."""

    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


class ChatGateway(Protocol):
    """Sends a conversation to a model and returns its reply; raises TriageError."""

    provider: str
    model: str

    async def complete(self, messages: list[ChatMessage], schema: dict[str, Any]) -> Completion:
        """One completion (with the gateway's own retries) constrained by ``schema``."""
        ...


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, honouring Retry-After, with a bounded total sleep."""

    max_retries: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_total_sleep: float = 60.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        if retry_after is not None:
            return max(0.0, retry_after)
        ceiling = min(self.max_delay, self.base_delay * float(2**attempt))
        # "Equal jitter": never zero, never in lock-step with other replicas.
        return ceiling / 2 + float(rng.uniform(0, ceiling / 2))


def retry_after_seconds(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    lowered = {key.lower(): value for key, value in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _retryable(exc: openai.OpenAIError) -> bool:
    if isinstance(exc, openai.APIConnectionError):  # includes timeouts
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in RETRYABLE_STATUS or exc.status_code >= 500
    return False


def _describe(exc: openai.OpenAIError) -> str:
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code} {type(exc).__name__}: {exc.message[:200]}"
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def _wire_messages(messages: list[ChatMessage]) -> list[ChatCompletionMessageParam]:
    wired: list[ChatCompletionMessageParam] = []
    for message in messages:
        if message.role == "system":
            wired.append({"role": "system", "content": message.content})
        elif message.role == "user":
            wired.append({"role": "user", "content": message.content})
        else:
            wired.append({"role": "assistant", "content": message.content})
    return wired


class OpenAIChat:
    """ChatGateway over an ``openai`` async client (OpenAI, Azure OpenAI, vLLM, Ollama...)."""

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        *,
        provider: str,
        model: str,
        response_format: str = JSON_SCHEMA,
        retry: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client = client
        self.provider = provider
        self.model = model
        self.response_format = response_format
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._clock = clock

    def _format(
        self, schema: dict[str, Any]
    ) -> ResponseFormatJSONSchema | ResponseFormatJSONObject:
        if self.response_format == JSON_SCHEMA:
            return {
                "type": "json_schema",
                "json_schema": {"name": "triage", "strict": True, "schema": schema},
            }
        return {"type": "json_object"}

    async def complete(self, messages: list[ChatMessage], schema: dict[str, Any]) -> Completion:
        """One completion, retried on transport errors, 408, 429 and 5xx."""
        attempt = 0
        slept = 0.0
        while True:
            try:
                return await self._call(messages, schema)
            except openai.BadRequestError as exc:
                if self.response_format != JSON_SCHEMA:
                    raise TriageError(f"{self.provider}: {_describe(exc)}") from exc
                log.warning(
                    "server rejected json_schema output; downgrading to json_object",
                    extra={"provider": self.provider, "model": self.model},
                )
                self.response_format = JSON_OBJECT
            except openai.OpenAIError as exc:
                if not _retryable(exc) or attempt >= self.retry.max_retries:
                    raise TriageError(
                        f"{self.provider}: {_describe(exc)} after {attempt + 1} attempt(s)"
                    ) from exc
                headers = exc.response.headers if isinstance(exc, openai.APIStatusError) else {}
                delay = self.retry.delay(
                    attempt, retry_after_seconds(headers, self._clock()), self._rng
                )
                if slept + delay > self.retry.max_total_sleep:
                    raise TriageError(
                        f"{self.provider}: {_describe(exc)}; waiting {delay:.1f}s more would "
                        f"exceed the retry sleep budget of {self.retry.max_total_sleep:g}s"
                    ) from exc
                log.info(
                    "retrying LLM call",
                    extra={"provider": self.provider, "attempt": attempt + 1, "delay": delay},
                )
                await self._sleep(delay)
                slept += delay
                attempt += 1

    async def _call(self, messages: list[ChatMessage], schema: dict[str, Any]) -> Completion:
        response = await self.client.chat.completions.create(
            model=self.model,
            messages=_wire_messages(messages),
            response_format=self._format(schema),
        )
        text = ""
        if response.choices:
            message = response.choices[0].message
            if message.content is not None:
                text = message.content
            elif getattr(message, "refusal", None):
                text = f"(refusal) {message.refusal}"
        usage = response.usage
        return Completion(
            text=text,
            model=response.model or self.model,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
        )
