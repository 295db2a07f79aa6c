"""Storm mode's shared state on every backend: sticky leases and counts per time bucket."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest

from bot.ports import Backend, Store

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def backend(store: Store) -> Backend:
    return cast(Backend, store)


async def test_join_lease_keeps_the_first_holder_until_it_lapses(store: Store) -> None:
    shared = backend(store)
    assert await shared.lease_holder("storm", T0) is None
    assert await shared.join_lease("storm", "storm:a", T0, 60) == "storm:a"
    later = T0 + timedelta(seconds=40)
    assert await shared.join_lease("storm", "storm:b", later, 60) == "storm:a"
    # Joined at 40 s with less than half of 60 s left: extended to 100 s.
    assert await shared.lease_holder("storm", T0 + timedelta(seconds=99)) == "storm:a"
    assert await shared.lease_holder("storm", T0 + timedelta(seconds=101)) is None
    assert await shared.join_lease("storm", "storm:c", T0 + timedelta(seconds=101), 60) == (
        "storm:c"
    )


async def test_join_lease_writes_rarely_while_plenty_of_time_remains(store: Store) -> None:
    shared = backend(store)
    await shared.join_lease("storm", "storm:a", T0, 60)
    # 10 s in, 50 s remain (more than half of 60): the expiry stays at 60 s.
    assert await shared.join_lease("storm", "storm:b", T0 + timedelta(seconds=10), 60) == (
        "storm:a"
    )
    assert await shared.lease_holder("storm", T0 + timedelta(seconds=61)) is None


async def test_a_released_lease_is_free_to_join(store: Store) -> None:
    shared = backend(store)
    await shared.join_lease("storm-member:g", "storm:a", T0, 600)
    await shared.release_lease("storm-member:g", "storm:a", T0)
    assert await shared.lease_holder("storm-member:g", T0) is None
    assert await shared.join_lease("storm-member:g", "storm:b", T0, 600) == "storm:b"


async def test_concurrent_joiners_agree_on_one_holder(store: Store) -> None:
    shared = backend(store)
    holders = await asyncio.gather(
        *(shared.join_lease("storm", f"storm:{n}", T0, 60) for n in range(8))
    )
    assert len(set(holders)) == 1


async def test_window_sums_the_last_span_buckets(store: Store) -> None:
    shared = backend(store)
    assert await shared.add_to_window("openings", 100, 0, 3) == 0
    assert await shared.add_to_window("openings", 100, 1, 3) == 1
    assert await shared.add_to_window("openings", 100, 2, 3) == 3
    assert await shared.add_to_window("openings", 101, 1, 3) == 4
    assert await shared.add_to_window("openings", 102, 1, 3) == 5
    assert await shared.add_to_window("openings", 103, 0, 3) == 2  # bucket 100 left the window
    assert await shared.add_to_window("other", 103, 0, 3) == 0


async def test_concurrent_window_additions_are_all_counted(store: Store) -> None:
    shared = backend(store)
    totals = await asyncio.gather(*(shared.add_to_window("openings", 7, 1, 6) for _ in range(20)))
    assert sorted(totals) == list(range(1, 21))


async def test_a_restarted_replica_releases_its_earlier_boots_leases_only(store: Store) -> None:
    shared = backend(store)
    assert await shared.acquire_lease("triage:1", "replica-a/boot1/x1", T0, 300)
    assert await shared.acquire_lease("triage:2", "replica-a/boot1/x2", T0, 300)
    assert await shared.acquire_lease("triage:3", "replica-a/boot2/x3", T0, 300)
    assert await shared.acquire_lease("triage:4", "replica-ab/boot9/x4", T0, 300)
    assert await shared.acquire_lease("triage:5", "replica-b/boot1/x5", T0, 300)
    assert await shared.acquire_lease("lapsed", "replica-a/boot0/x0", T0 - timedelta(hours=1), 60)

    later = T0 + timedelta(seconds=10)
    released = await shared.release_leases_of("replica-a/", later, keep_prefix="replica-a/boot2/")

    assert sorted(released) == ["triage:1", "triage:2"]
    assert await shared.lease_holder("triage:1", later) is None
    assert await shared.acquire_lease("triage:1", "replica-a/boot2/y1", later, 300)
    assert await shared.lease_holder("triage:3", later) == "replica-a/boot2/x3"
    assert await shared.lease_holder("triage:4", later) == "replica-ab/boot9/x4"
    assert await shared.lease_holder("triage:5", later) == "replica-b/boot1/x5"
    assert await shared.release_leases_of("replica-a/", later, keep_prefix="replica-a/boot2/") == []


async def test_sequences_count_up_from_one_and_never_repeat(store: Store) -> None:
    shared = backend(store)
    assert await shared.next_number("incident-test") == 1
    values = await asyncio.gather(*(shared.next_number("incident-test") for _ in range(12)))
    assert sorted(values) == list(range(2, 14))
    assert await shared.next_number("another") == 1
