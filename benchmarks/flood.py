"""Flood benchmark: one misbehaving sender against everyday webhook traffic.

    .venv/bin/python -m benchmarks.flood [--flood N] [--burst N] [--requests N]

One `incident-bot serve` (SQLite, rules engine, default storm settings) on loopback. First the
baseline: everyday traffic alone (single alerts over a few group keys), its webhook p99. Then
the same traffic again while a flood arrives: N distinct alerts (about 47 bytes each, so 1,500
make the 71 KB payload of issue 13) in payloads under ALERT_MAX_PER_PAYLOAD, plus a burst of
single distinct alerts. Reports alerts sent, incidents opened, triages (one Slack card each),
alerts lost, and the webhook and /healthz p99 during the flood against the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from benchmarks.ingest import _free_port, alert_body, build_runbook_index, drive, pct, start_ours
from benchmarks.report import figure

THRESHOLD = 20  # STORM_THRESHOLD's default
CAP = 500  # ALERT_MAX_PER_PAYLOAD's default
EVERYDAY_GROUPS = 5


def flood_payloads(count: int, burst: int) -> tuple[list[bytes], list[bytes]]:
    """The flood in payloads under the cap, and the burst of single alerts after it."""
    alerts = [{"title": f"Disk full d{n}", "service": f"s{n % 57}"} for n in range(count + burst)]
    payloads = [json.dumps(alerts[i : min(i + CAP, count)]).encode() for i in range(0, count, CAP)]
    return payloads, [json.dumps(a).encode() for a in alerts[count:]]


async def healthz(url: str, stop: asyncio.Event) -> list[float]:
    """Ask /healthz every 20 ms until told to stop; returns the latencies."""
    latencies: list[float] = []
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            started = time.perf_counter()
            async with session.get(url) as response:
                await response.read()
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.02)
    return latencies


async def during_flood(
    base: str, everyday: list[bytes], payloads: list[bytes], burst: list[bytes]
) -> dict[str, float]:
    """Everyday traffic, the flood and /healthz probes, all at once."""
    url = f"{base}/alerts/generic"
    stop = asyncio.Event()
    probes = asyncio.create_task(healthz(f"{base}/healthz", stop))
    began = time.perf_counter()
    (
        (_, lat, failures),
        (_, flood_lat, flood_failures),
        (_, _, burst_failures),
    ) = await asyncio.gather(drive(url, everyday, 4), drive(url, payloads, 3), drive(url, burst, 8))
    seconds = time.perf_counter() - began
    stop.set()
    health = await probes
    return {
        "p99": pct(lat, 99),
        "healthz_p99": pct(health, 99) if len(health) > 1 else health[0] * 1000,
        "flood_max": max(flood_lat) * 1000,
        "seconds": seconds,
        "failures": failures + flood_failures + burst_failures,
    }


def outcome(db_path: Path, expected: int, wait: float) -> dict[str, int]:
    """What the store holds once background triage has settled (or ``wait`` seconds passed)."""
    deadline = time.monotonic() + wait
    with sqlite3.connect(db_path) as db:
        while True:
            incidents = db.execute("SELECT count(*) FROM incidents").fetchone()[0]
            triaged = db.execute("SELECT count(DISTINCT incident_id) FROM triages").fetchone()[0]
            if triaged >= incidents or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        alerts = db.execute("SELECT count(*) FROM alerts").fetchone()[0]
        counted = db.execute(
            "SELECT coalesce(sum(json_extract(doc, '$.alert_count')), 0) FROM incidents"
        ).fetchone()[0]
        triages = db.execute("SELECT count(*) FROM triages").fetchone()[0]
    return {
        "incidents": incidents,
        "triages": triages,
        "stored": alerts,
        "counted": counted,
        "lost": expected - alerts,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flood", type=int, default=1500)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--requests", type=int, default=400, help="everyday posts per phase")
    args = parser.parse_args()
    payloads, burst = flood_payloads(args.flood, args.burst)
    with tempfile.TemporaryDirectory(prefix="flood-bench-") as name:
        tmp = Path(name)
        index = tmp / "runbooks.db"
        build_runbook_index(index)
        port = _free_port()
        server = start_ours(tmp, port, index)
        base = f"http://127.0.0.1:{port}"
        try:
            warm = [alert_body(i + 200_000, EVERYDAY_GROUPS) for i in range(100)]
            asyncio.run(drive(f"{base}/alerts/generic", warm, 4))  # first triages, warm caches
            quiet = [alert_body(i, EVERYDAY_GROUPS) for i in range(args.requests)]
            _, quiet_lat, quiet_failures = asyncio.run(drive(f"{base}/alerts/generic", quiet, 4))
            busy = [alert_body(i + 100_000, EVERYDAY_GROUPS) for i in range(args.requests)]
            flood = asyncio.run(during_flood(base, busy, payloads, burst))
            sent = 100 + 2 * args.requests + args.flood + args.burst
            result = outcome(tmp / "bench.db", sent, wait=60)
        finally:
            server.terminate()
            server.wait(30)
    baseline_p99 = pct(quiet_lat, 99)
    bound = THRESHOLD + 1
    print(
        f"flood: {args.flood} alerts in {len(payloads)} payloads + {args.burst} single alerts, "
        f"with {args.requests} everyday posts over {EVERYDAY_GROUPS} groups before and during "
        f"({flood['seconds']:.1f} s)"
    )
    print(
        f"-> {result['incidents']} incidents, {result['triages']} triages (one card each), "
        f"{result['stored']} of {sent} alerts stored, {result['lost']} lost, alert_count sum "
        f"{result['counted']}, {quiet_failures + flood['failures']:.0f} non-2xx"
    )
    print(
        f"webhook p99: {baseline_p99:.1f} ms quiet, {flood['p99']:.1f} ms during the flood; "
        f"/healthz p99 during the flood {flood['healthz_p99']:.1f} ms; slowest flood payload "
        f"{flood['flood_max']:.0f} ms"
    )
    figure("flood alerts sent", sent, "count")
    figure(
        "flood incidents",
        result["incidents"],
        "count",
        target=f"<= {bound}",
        met=result["incidents"] <= bound,
    )
    figure(
        "flood triages",
        result["triages"],
        "count",
        target=f"<= {bound}",
        met=result["triages"] <= bound,
    )
    figure("flood alerts lost", result["lost"], "count", target="0", met=result["lost"] == 0)
    figure("webhook p99 during flood", flood["p99"], "ms", baseline=baseline_p99)
    figure("healthz p99 during flood", flood["healthz_p99"], "ms")
    figure("slowest flood payload", flood["flood_max"], "ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
