"""Webhook ingest benchmark: our endpoint vs a bare JSON-parsing Starlette endpoint, and a storm.

    .venv/bin/python -m benchmarks.ingest [--requests N] [--concurrency C] [--storm N]

Both servers run as separate uvicorn processes on loopback; one aiohttp client drives them in
the same run so the ratio cancels out the machine's noise. The storm posts N alerts spread over
20 group keys and reports incidents opened, triages (each posts one Slack card) and alerts lost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from statistics import quantiles

import aiohttp

from benchmarks.report import figure

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"
TARGET_RATE = 1500.0  # alerts/s on SQLite
TARGET_RATIO = 0.5  # of the bare endpoint's throughput


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(argv: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return proc
        except urllib.error.HTTPError:
            return proc  # the bare app has no /healthz: any HTTP answer means it is up
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"server did not start: {argv}")


def build_runbook_index(path: Path) -> None:
    """Index the runbooks before any server starts, so no measurement shares the CPU with it."""
    env = dict(os.environ, RUNBOOK_INDEX_PATH=str(path), LOG_LEVEL="WARNING")
    subprocess.run(
        [sys.executable, "-m", "bot.cli", "runbooks", "index"],
        env=env,
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def start_ours(tmp: Path, port: int, index: Path) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        SQLITE_PATH=str(tmp / "bench.db"),
        ALERT_WEBHOOK_TOKEN=TOKEN,
        RUNBOOK_INDEX_PATH=str(index),
        LOG_LEVEL="WARNING",
    )
    argv = [sys.executable, "-m", "bot.cli", "serve", "--port", str(port)]
    return _start(argv, env, port)


def start_bare(port: int) -> subprocess.Popen[bytes]:
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "benchmarks.bare_ingest_app:app",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    return _start(argv, dict(os.environ), port)


def alert_body(n: int, groups: int) -> bytes:
    group = n % groups
    return json.dumps(
        {
            "title": f"Queue backlog growing on worker {group}",
            "description": f"consumer lag {1000 + n} messages",
            "service": f"svc-{group}",
            "severity": "warning",
            "labels": {"alertname": f"QueueBacklog{group}", "instance": f"worker-{n}"},
        }
    ).encode()


async def drive(url: str, bodies: list[bytes], concurrency: int) -> tuple[float, list[float], int]:
    """Post every body; returns (seconds, per-request latencies, non-2xx count)."""
    latencies: list[float] = []
    failures = 0
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal failures
            while not queue.empty():
                body = queue.get_nowait()
                started = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    if response.status // 100 != 2:
                        failures += 1
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - began, latencies, failures


def pct(values: list[float], q: int) -> float:
    return quantiles(values, n=100)[q - 1] * 1000


def measure(port: int, n: int, concurrency: int, groups: int) -> dict[str, float]:
    url = f"http://127.0.0.1:{port}/alerts/generic"
    asyncio.run(drive(url, [alert_body(i, groups) for i in range(200)], concurrency))  # warm-up
    seconds, lat, failures = asyncio.run(
        drive(url, [alert_body(i + 1000, groups) for i in range(n)], concurrency)
    )
    return {"rate": n / seconds, "p50": pct(lat, 50), "p99": pct(lat, 99), "failures": failures}


def storm(tmp: Path, n: int, concurrency: int, index: Path) -> dict[str, int]:
    port = _free_port()
    server = start_ours(tmp / "storm", port, index)
    try:
        url = f"http://127.0.0.1:{port}/alerts/generic"
        _, _, failures = asyncio.run(drive(url, [alert_body(i, 20) for i in range(n)], concurrency))
        time.sleep(2.0)  # let background triage finish
    finally:
        server.terminate()
        server.wait(30)
    db = sqlite3.connect(tmp / "storm" / "bench.db")
    incidents = db.execute("SELECT count(*) FROM incidents").fetchone()[0]
    alerts = db.execute("SELECT count(*) FROM alerts").fetchone()[0]
    counted = db.execute(
        "SELECT coalesce(sum(json_extract(doc, '$.alert_count')), 0) FROM incidents"
    ).fetchone()[0]
    triages = db.execute("SELECT count(*) FROM triages").fetchone()[0]
    return {
        "posted": n,
        "rejected": failures,
        "stored": alerts,
        "counted": counted,
        "incidents": incidents,
        "triages": triages,
        "lost": n - alerts,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--storm", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as name:
        tmp = Path(name)
        index = tmp / "runbooks.db"
        build_runbook_index(index)
        ours_port, bare_port = _free_port(), _free_port()
        ours, bare = start_ours(tmp, ours_port, index), start_bare(bare_port)
        try:
            base = measure(bare_port, args.requests, args.concurrency, 20)
            mine = measure(ours_port, args.requests, args.concurrency, 20)
        finally:
            for proc in (ours, bare):
                proc.terminate()
                proc.wait(30)
        result = storm(tmp, args.storm, args.concurrency, index)
    print(f"{'endpoint':<28}{'alerts/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}")
    for label, row in (("bare Starlette (baseline)", base), ("incident-bot /alerts", mine)):
        print(
            f"{label:<28}{row['rate']:>10.0f}{row['p50']:>9.1f}{row['p99']:>9.1f}"
            f"{row['failures']:>9.0f}"
        )
    ratio = mine["rate"] / base["rate"]
    fast = mine["rate"] >= TARGET_RATE and ratio >= TARGET_RATIO
    print(
        f"ratio ours/bare throughput: {ratio:.2f}  p99: {mine['p99'] / base['p99']:.2f}x   "
        f"target: >= {TARGET_RATE:.0f} alerts/s and >= {TARGET_RATIO}x bare "
        f"({'met' if fast else 'MISSED'})"
    )
    print(
        f"storm: {result['posted']} alerts over 20 group keys -> {result['incidents']} incidents, "
        f"{result['triages']} triage calls ({result['triages']} Slack cards), "
        f"{result['stored']} stored, {result['lost']} lost, {result['rejected']} rejected; "
        f"alert_count sum {result['counted']}"
    )
    ok = result["incidents"] <= 20 and result["triages"] <= 20 and result["lost"] == 0
    print(f"storm targets (<= 20 incidents, <= 20 triages, 0 lost): {'met' if ok else 'MISSED'}")
    figure(
        "webhook throughput",
        mine["rate"],
        "alerts/s",
        baseline=base["rate"],
        target=f">= {TARGET_RATE:.0f}/s, {TARGET_RATIO}x",
        met=fast,
    )
    figure("webhook p50 latency", mine["p50"], "ms", baseline=base["p50"])
    figure("webhook p99 latency", mine["p99"], "ms", baseline=base["p99"])
    figure(
        "storm incidents",
        result["incidents"],
        "count",
        target="<= 20",
        met=result["incidents"] <= 20,
    )
    figure(
        "storm triage calls",
        result["triages"],
        "count",
        target="<= 20",
        met=result["triages"] <= 20,
    )
    figure("storm alerts lost", result["lost"], "count", target="0", met=result["lost"] == 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
