"""The LLM gateway: one chat completion with structured output, explicit retries and timeouts.

Built on the official ``openai`` SDK (``AsyncOpenAI`` or ``AsyncAzureOpenAI``) with the SDK's
own retries turned off (``max_retries=0``), so the behaviour is ours and testable: transport
errors, 408, 429, 5xx and a 2xx whose body is not a chat completion (a proxy's HTML error page)
are retried with exponential backoff and jitter, a Retry-After header is honoured, and the total
sleep is bounded. A 400 for ``json_schema`` output downgrades the gateway to ``json_object``
once. At most ``max_concurrency`` calls are in flight per gateway; a call that waits longer than
``slot_timeout`` for a slot gives up. Every openai exception becomes a TriageError here, and the
token counts a reply reports are checked before anyone counts them.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import openai
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam
from openai.types.shared_params import ResponseFormatJSONObject, ResponseFormatJSONSchema

from bot import metrics
from bot.errors import TriageError
from bot.ports import ChatMessage, Completion
from bot.triage.usage import read_usage

log = logging.getLogger(__name__)

JSON_SCHEMA = "json_schema"
JSON_OBJECT = "json_object"
RETRYABLE_STATUS = frozenset({408, 429})
# A model name is echoed into triages and metric labels; a hostile server should not bloat them.
MODEL_NAME_LIMIT = 200
PREVIEW_LIMIT = 80

Sleep = Callable[[float], Awaitable[None]]


class UnreadableReply(Exception):
    """A 2xx answer that is not a chat completion: a proxy's HTML error page, a cut-off body."""


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


def _retryable(exc: openai.OpenAIError | UnreadableReply) -> bool:
    # A garbled 2xx is a transport failure (proxies serve their error pages with 200).
    if isinstance(exc, openai.APIConnectionError | UnreadableReply):  # includes timeouts
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in RETRYABLE_STATUS or exc.status_code >= 500
    return False


def _describe(exc: openai.OpenAIError | UnreadableReply) -> str:
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
        max_concurrency: int = 4,
        slot_timeout: float = 30.0,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, not {max_concurrency}")
        self.client = client
        self.provider = provider
        self.model = model
        self.response_format = response_format
        self.retry = retry or RetryPolicy()
        self.max_concurrency = max_concurrency
        self.slot_timeout = slot_timeout
        self._slots = asyncio.Semaphore(max_concurrency)
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
        """One completion, retried on transport errors, unreadable 2xx bodies, 408, 429 and 5xx.

        Each attempt holds a concurrency slot; back-off sleeps do not.
        """
        attempt = 0
        slept = 0.0
        while True:
            try:
                async with self._slot():
                    return await self._call(messages, schema)
            except openai.BadRequestError as exc:
                if self.response_format != JSON_SCHEMA:
                    raise TriageError(f"{self.provider}: {_describe(exc)}") from exc
                log.warning(
                    "server rejected json_schema output; downgrading to json_object",
                    extra={"provider": self.provider, "model": self.model},
                )
                self.response_format = JSON_OBJECT
            except (openai.OpenAIError, UnreadableReply) as exc:
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

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        """Hold one of ``max_concurrency`` slots; waiting over ``slot_timeout`` raises."""
        waiting = metrics.LLM_CALLS_WAITING.labels(self.provider)
        waiting.inc()
        try:
            async with asyncio.timeout(self.slot_timeout):
                await self._slots.acquire()
        except TimeoutError:
            metrics.LLM_SLOT_TIMEOUTS.labels(self.provider).inc()
            raise TriageError(
                f"{self.provider}: timed out after {self.slot_timeout:g}s waiting for a free "
                f"model slot ({self.max_concurrency} calls in flight, LLM_MAX_CONCURRENCY)"
            ) from None
        finally:
            waiting.dec()
        in_flight = metrics.LLM_CALLS_IN_FLIGHT.labels(self.provider)
        in_flight.inc()
        try:
            yield
        finally:
            in_flight.dec()
            self._slots.release()

    async def _call(self, messages: list[ChatMessage], schema: dict[str, Any]) -> Completion:
        raw = await self.client.chat.completions.with_raw_response.create(
            model=self.model,
            messages=_wire_messages(messages),
            response_format=self._format(schema),
        )
        what = f"HTTP {raw.status_code} {raw.headers.get('content-type') or 'untyped'} body"
        try:
            # Without a JSON content type the SDK hands back the body as a str.
            response: object = raw.parse()
        except ValueError as exc:  # JSON that does not decode, or text that is not UTF-8
            raise UnreadableReply(f"{what} is not JSON: {_preview(raw.text)}") from exc
        if not isinstance(response, ChatCompletion):
            raise UnreadableReply(f"{what} is not a chat completion: {_preview(raw.text)}")
        return _completion(response, self.model)


def _preview(body: str) -> str:
    return repr(" ".join(body[: PREVIEW_LIMIT * 4].split())[:PREVIEW_LIMIT])


def _completion(response: ChatCompletion, default_model: str) -> Completion:
    """Text, model and checked usage from a reply the SDK did not validate field by field."""
    model = response.model if isinstance(response.model, str) and response.model else ""
    usage: object = response.usage
    counts = read_usage(
        _usage_field(usage, "prompt_tokens"),
        _usage_field(usage, "completion_tokens"),
        _usage_field(usage, "total_tokens"),
    )
    return Completion(
        text=_reply_text(response.choices),
        model=model[:MODEL_NAME_LIMIT] or default_model,
        prompt_tokens=counts.prompt_tokens,
        completion_tokens=counts.completion_tokens,
        total_tokens=counts.total_tokens,
        usage_problems=counts.problems,
    )


def _reply_text(choices: object) -> str:
    if not choices:
        return ""
    if not isinstance(choices, list):
        raise UnreadableReply(f"choices is a {type(choices).__name__}, not a list")
    message = getattr(choices[0], "message", None)
    content = getattr(message, "content", None)
    if isinstance(content, str):
        return content
    if content is not None:
        raise UnreadableReply(f"message content is a {type(content).__name__}, not text")
    refusal = getattr(message, "refusal", None)
    return f"(refusal) {refusal}" if isinstance(refusal, str) and refusal else ""


def _usage_field(usage: object, name: str) -> object:
    if isinstance(usage, Mapping):
        return usage.get(name)
    return getattr(usage, name, None)
