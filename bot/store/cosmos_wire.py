"""Cosmos DB wire concerns: retries on throttling, error translation, item ids and sort keys.

Everything here sits on the boundary between the Azure SDK and the store: SDK exceptions go in,
``bot.errors`` come out, and nothing above this module sees an Azure type.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

from azure.core.exceptions import AzureError
from azure.cosmos.exceptions import CosmosHttpResponseError

from bot.errors import Conflict, NotFound, StoreError

log = logging.getLogger(__name__)

T = TypeVar("T")

# 429 throttled, 449 "retry with" (a concurrent write on the same item), 503 unavailable.
RETRYABLE_STATUSES = frozenset({429, 449, 503})
RETRY_AFTER_HEADER = "x-ms-retry-after-ms"
MAX_ATTEMPTS = 6
MAX_SLEEP_SECONDS = 5.0

# The local protocol server used in tests answers a point read of a missing item with a 500
# whose message is a JavaScript TypeError about the partition key field; real Cosmos answers
# 404. Only that exact message counts as "missing", so a genuine 500 is never mistaken for it.
_EMULATOR_MISSING_MARKER = "Cannot read properties of undefined"

Sleeper = Callable[[float], Awaitable[None]]


def status_of(exc: BaseException) -> int:
    """The HTTP status of an SDK error, 0 when it carries none (a network failure)."""
    if isinstance(exc, CosmosHttpResponseError):
        return int(exc.status_code or 0)
    return 0


def is_missing(exc: BaseException) -> bool:
    """True when the error means the item (or container) does not exist."""
    status = status_of(exc)
    if status == 404:
        return True
    return status == 500 and _EMULATOR_MISSING_MARKER in str(exc)


# Cosmos DB's sub-status for "the container or database this request names does not exist".
OWNER_MISSING_SUBSTATUS = 1003


def owner_missing(exc: BaseException) -> bool | None:
    """Whether a not-found error means the container or database is gone (not the item).

    True for sub-status 1003, False for another sub-status, None when the service sent none
    (the local protocol server never does): then only reading the container can tell.
    """
    cause = exc.__cause__ if isinstance(exc, StoreError) else exc
    sub_status = getattr(cause, "sub_status", None)
    if sub_status is None:
        return None
    return int(sub_status) == OWNER_MISSING_SUBSTATUS


def is_exists(exc: BaseException) -> bool:
    """True for 409: an item with this id already exists in the partition."""
    return status_of(exc) == 409


def is_precondition_failed(exc: BaseException) -> bool:
    """True for 412: the etag we sent no longer matches (someone else wrote first)."""
    return status_of(exc) == 412


def retry_delay(exc: BaseException, attempt: int) -> float | None:
    """Seconds to wait before retrying ``exc``, or None when it must not be retried."""
    if status_of(exc) not in RETRYABLE_STATUSES:
        return None
    headers = getattr(exc, "headers", None) or {}
    hinted: str | None = headers.get(RETRY_AFTER_HEADER)
    if hinted is not None:
        try:
            return min(float(hinted) / 1000.0, MAX_SLEEP_SECONDS)
        except ValueError:
            pass
    # No hint from the service: exponential backoff with jitter so replicas spread out.
    return min(0.05 * (2.0**attempt) * (1 + random.random()), MAX_SLEEP_SECONDS)


def translate(exc: BaseException, what: str) -> StoreError:
    """The bot.errors equivalent of an SDK error about ``what``."""
    if is_missing(exc):
        return NotFound(f"{what} not found")
    if is_exists(exc):
        return Conflict(f"{what} already exists")
    if is_precondition_failed(exc):
        return Conflict(f"{what} changed concurrently")
    status = status_of(exc)
    detail = f"HTTP {status}" if status else type(exc).__name__
    return StoreError(f"Cosmos DB error on {what}: {detail}: {str(exc).splitlines()[0][:200]}")


async def call(
    operation: Callable[[], Awaitable[T]],
    what: str,
    *,
    attempts: int = MAX_ATTEMPTS,
    sleep: Sleeper = asyncio.sleep,
) -> T:
    """Run one SDK operation, retrying 429/449/503 as the service asks, translating errors."""
    for attempt in range(attempts):
        try:
            return await operation()
        except (AzureError, OSError) as exc:
            delay = retry_delay(exc, attempt)
            if delay is None or attempt == attempts - 1:
                raise translate(exc, what) from exc
            log.info(
                "cosmos request throttled; retrying",
                extra={"what": what, "status": status_of(exc), "delay_s": round(delay, 3)},
            )
            await sleep(delay)
    raise StoreError(f"Cosmos DB error on {what}: no attempts made")  # attempts < 1


def item_id(kind: str, key: str) -> str:
    """A deterministic, id-safe item id for a free-form key (ids may not contain / \\ ? #)."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]
    return f"{kind}-{digest}"


def instant(value: datetime | None) -> str:
    """A UTC timestamp string that sorts in time order (naive values are taken as UTC)."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_PROCESS_SALT = f"{random.getrandbits(32):08x}"
_SEQUENCE = itertools.count()


def insertion_key() -> str:
    """A time-ordered tiebreak for items written in the same instant (unique per process)."""
    return f"{time.time_ns():020d}-{_PROCESS_SALT}-{next(_SEQUENCE):012d}"
