"""Retry timing of the LLM gateway: backoff with jitter and Retry-After, as plain values."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from bot.triage.gateway import RetryPolicy, retry_after_seconds

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def test_backoff_grows_exponentially_within_jitter_bounds_and_caps() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)
    rng = random.Random(1)
    for attempt, ceiling in enumerate([0.5, 1.0, 2.0, 4.0, 4.0, 4.0]):
        for _ in range(50):
            delay = policy.delay(attempt, None, rng)
            assert ceiling / 2 <= delay <= ceiling


def test_retry_after_wins_over_backoff() -> None:
    assert RetryPolicy().delay(0, 7.0, random.Random(1)) == 7.0


def test_retry_after_headers_in_every_form() -> None:
    assert retry_after_seconds({"Retry-After": "3"}, NOW) == 3.0
    assert retry_after_seconds({"retry-after-ms": "250", "Retry-After": "9"}, NOW) == 0.25
    assert retry_after_seconds({"Retry-After": "Tue, 24 Nov 2026 02:00:30 GMT"}, NOW) == 30.0
    assert retry_after_seconds({"Retry-After": "Tue, 24 Nov 2026 01:00:00 GMT"}, NOW) == 0.0
    assert retry_after_seconds({"Retry-After": "soon"}, NOW) is None
    assert retry_after_seconds({}, NOW) is None
