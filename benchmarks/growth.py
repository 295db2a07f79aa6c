"""Growth benchmark: does the SQLite store slow down as incidents pile up?

    .venv/bin/python -m benchmarks.growth [--quick]

Seeds one store through its own API (mostly resolved, triaged incidents with an alert and a
timeline entry each, as months of history look) and, at each size, measures store-level ingest
(open-or-join the group's incident + add_alerts with counts, 32 tasks), and the latency of
list_incidents, list_events (one incident's timeline) and list_untriaged_incidents. Figures at
the larger sizes are printed as ratios against the 1k figures of the same run; flat is the
target, linear growth means a query lost its index. Ends with resident memory after the seed.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import quantiles

from benchmarks.report import figure
from bot.models import Alert, Event, EventKind, Incident, IncidentStatus, Triage
from bot.store.sqlite import SQLiteStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SEED_CHUNK = 1000  # store calls in flight while seeding (the writer group-commits them)
INGEST_TASKS = 32
GROUPS = 20
LATENCY_CALLS = 200
LATENCY_LIMIT = 2.0  # target: a listing at the biggest size within 2x its 1k latency
RATE_FLOOR = 0.5  # target: ingest at the biggest size at least half its 1k rate


def _alert(incident_id: str, n: int, at: datetime, group: str = "seed") -> Alert:
    return Alert(
        source="generic", fingerprint=f"fp-{group}-{n}", group_key=group, service="checkout",
        title="Queue backlog growing", received_at=at, starts_at=at, incident_id=incident_id,
    )  # fmt: skip


async def _seed_one(store: SQLiteStore, n: int) -> None:
    at = T0 + timedelta(seconds=n)
    incident = Incident(
        title=f"historic {n}", service="checkout", status=IncidentStatus.RESOLVED,
        created_at=at, updated_at=at, alert_count=1,
    )  # fmt: skip
    await store.create_incident(incident)
    await store.add_alerts([_alert(incident.id, n, at)])
    await store.add_triage(Triage(incident_id=incident.id, created_at=at))
    await store.append_event(
        Event(incident_id=incident.id, at=at, actor="seed", kind=EventKind.INCIDENT_OPENED,
              message="opened")
    )  # fmt: skip


async def seed(store: SQLiteStore, start: int, stop: int) -> None:
    """Add incidents start..stop-1 (with their alert, triage and timeline entry)."""
    for chunk in range(start, stop, SEED_CHUNK):
        await asyncio.gather(
            *(_seed_one(store, n) for n in range(chunk, min(stop, chunk + SEED_CHUNK)))
        )


async def ingest_rate(store: SQLiteStore, alerts: int, round_no: int) -> float:
    """Alerts/s through the store calls one webhook alert costs: find the incident, add it."""
    now = datetime.now(UTC)
    queue = list(range(alerts))

    async def worker() -> None:
        while queue:
            n = queue.pop()
            group = f"storm-{round_no}-{n % GROUPS}"
            candidate = Incident(title="storm", service="checkout", group_key=group,
                                 created_at=now, updated_at=now)  # fmt: skip
            incident, _ = await store.open_incident_for_group(candidate)
            await store.add_alerts([_alert(incident.id, n, now, group)], counts={incident.id: 1})

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(INGEST_TASKS)))
    return alerts / (time.perf_counter() - began)


async def latency_ms(call: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    """p50 and p99 of LATENCY_CALLS sequential calls, in milliseconds."""
    samples = []
    for _ in range(LATENCY_CALLS):
        began = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - began) * 1000)
    cuts = quantiles(samples, n=100)
    return cuts[49], cuts[98]


def rss_mib() -> float:
    """Resident memory of this process now."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def measure(store: SQLiteStore, size: int, ingest_alerts: int) -> dict[str, float]:
    sample = await store.list_incidents(IncidentStatus.RESOLVED, limit=1)
    timeline_of = sample[0].id
    rate = await ingest_rate(store, ingest_alerts, size)
    inc50, inc99 = await latency_ms(lambda: store.list_incidents())
    evt50, evt99 = await latency_ms(lambda: store.list_events(timeline_of))
    # limit 20: each size adds 20 open storm incidents, so the page size stays the same.
    unt50, unt99 = await latency_ms(lambda: store.list_untriaged_incidents(limit=GROUPS))
    return {
        "ingest": rate, "list_incidents p50": inc50, "list_incidents p99": inc99,
        "list_events p50": evt50, "list_events p99": evt99,
        "list_untriaged p50": unt50, "list_untriaged p99": unt99,
    }  # fmt: skip


async def run(sizes: list[int], ingest_alerts: int) -> tuple[dict[int, dict[str, float]], float]:
    with tempfile.TemporaryDirectory(prefix="growth-bench-") as name:
        store = SQLiteStore(Path(name) / "growth.db")
        results: dict[int, dict[str, float]] = {}
        seeded = 0
        for size in sizes:
            began = time.perf_counter()
            await seed(store, seeded, size)
            seeded = size
            print(f"seeded {size:,} incidents ({time.perf_counter() - began:.1f} s)", flush=True)
            results[size] = await measure(store, size, ingest_alerts)
        memory = rss_mib()
        await store.close()
    return results, memory


def report(results: dict[int, dict[str, float]], memory: float) -> None:
    sizes = sorted(results)
    base = results[sizes[0]]
    names = list(base)
    print(f"{'figure':<22}" + "".join(f"{f'{s:,}':>13}" for s in sizes) + "   ratio to 1st")
    for key in names:
        unit = "/s" if key == "ingest" else "ms"
        cells = "".join(f"{results[s][key]:>10.2f}{unit:>3}" for s in sizes)
        ratios = " ".join(f"{results[s][key] / base[key]:.2f}x" for s in sizes[1:])
        print(f"{key:<22}{cells}   {ratios}")
    print(f"RSS after {sizes[-1]:,} incidents and alerts: {memory:.0f} MiB")
    for size in sizes[1:]:
        row = results[size]
        label = f"{size // 1000}k"
        rate_ok = row["ingest"] >= RATE_FLOOR * base["ingest"]
        figure(f"store ingest at {label} incidents", row["ingest"], "alerts/s",
               baseline=base["ingest"], target=f">= {RATE_FLOOR}x at 1k", met=rate_ok)  # fmt: skip
        for key in names[1:]:
            if key.endswith("p50"):
                ok = row[key] <= LATENCY_LIMIT * base[key]
                figure(f"{key} at {label}", row[key], "ms", baseline=base[key],
                       target=f"<= {LATENCY_LIMIT}x at 1k", met=ok)  # fmt: skip
            else:
                figure(f"{key} at {label}", row[key], "ms", baseline=base[key])
    figure(f"RSS after {sizes[-1] // 1000}k alerts", memory, "MiB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1k, 10k and 30k incidents")
    args = parser.parse_args()
    sizes = [1_000, 10_000, 30_000] if args.quick else [1_000, 10_000, 100_000]
    random.seed(7)
    results, memory = asyncio.run(run(sizes, ingest_alerts=2_000))
    report(results, memory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
