"""Throttling retries and error translation at the SDK boundary, driven by real SDK errors."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ServiceRequestError
from azure.cosmos.exceptions import (
    CosmosAccessConditionFailedError,
    CosmosHttpResponseError,
    CosmosResourceExistsError,
    CosmosResourceNotFoundError,
)

from bot.errors import Conflict, NotFound, StoreError
from bot.store import cosmos_wire as wire

pytestmark = pytest.mark.integration


def sdk_error(status: int, retry_after_ms: str | None = None) -> CosmosHttpResponseError:
    error = CosmosHttpResponseError(status_code=status, message=f"status {status}")
    if retry_after_ms is not None:
        error.headers = {wire.RETRY_AFTER_HEADER: retry_after_ms}
    return error


class Flaky:
    """An operation that fails with the given errors first, then returns "done"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


class Sleeps:
    def __init__(self) -> None:
        self.taken: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.taken.append(seconds)


async def test_throttled_calls_wait_as_the_service_asks_then_succeed() -> None:
    operation = Flaky(sdk_error(429, "120"), sdk_error(449, "30"), sdk_error(503, "0"))
    sleeps = Sleeps()
    assert await wire.call(operation, "thing", sleep=sleeps) == "done"
    assert operation.calls == 4
    assert sleeps.taken == [0.12, 0.03, 0.0]


async def test_retry_hint_is_capped_and_missing_hint_backs_off() -> None:
    sleeps = Sleeps()
    await wire.call(Flaky(sdk_error(429, "600000"), sdk_error(503)), "thing", sleep=sleeps)
    assert sleeps.taken[0] == wire.MAX_SLEEP_SECONDS
    assert 0 < sleeps.taken[1] <= wire.MAX_SLEEP_SECONDS


async def test_throttling_that_never_ends_becomes_store_error() -> None:
    operation = Flaky(*(sdk_error(429, "1") for _ in range(10)))
    sleeps = Sleeps()
    with pytest.raises(StoreError, match="HTTP 429"):
        await wire.call(operation, "thing", attempts=3, sleep=sleeps)
    assert operation.calls == 3 and len(sleeps.taken) == 2


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (CosmosResourceNotFoundError(status_code=404, message="gone"), NotFound),
        (CosmosResourceExistsError(status_code=409, message="exists"), Conflict),
        (CosmosAccessConditionFailedError(status_code=412, message="etag"), Conflict),
        (sdk_error(400), StoreError),
        (ServiceRequestError("connection refused"), StoreError),
    ],
)
async def test_sdk_errors_translate_without_retry(error: Exception, expected: type) -> None:
    operation = Flaky(error)
    with pytest.raises(expected) as caught:
        await wire.call(operation, "incident 'x'", sleep=Sleeps())
    assert type(caught.value) is expected
    assert operation.calls == 1


def test_only_the_emulators_missing_item_500_counts_as_not_found() -> None:
    emulator = CosmosHttpResponseError(
        status_code=500, message="Cannot read properties of undefined (reading 'id')"
    )
    assert wire.is_missing(emulator)
    assert not wire.is_missing(sdk_error(500))
    assert type(wire.translate(sdk_error(500), "x")) is StoreError


def test_item_ids_are_deterministic_and_id_safe() -> None:
    key = "alertmanager|a/b?c#d\\e|2026-11-24T02:00:00+00:00|firing"
    assert wire.item_id("alk", key) == wire.item_id("alk", key)
    assert wire.item_id("alk", key) != wire.item_id("alk", key + "x")
    assert not set("/\\?#") & set(wire.item_id("alk", key))


def test_insertion_keys_sort_in_creation_order() -> None:
    keys = [wire.insertion_key() for _ in range(1000)]
    assert keys == sorted(keys) and len(set(keys)) == 1000
