"""Slack ack latency: signed slash commands and button clicks, our bot vs a bare Bolt app.

    .venv/bin/python -m benchmarks.slack_ack [--requests N] [--warmup W]

Three servers run as separate processes on loopback in the same run: `incident-bot serve`
(Slack Web API and model answered by the loopback recorder the integration tests use), a bare
Bolt app whose listeners only ack with the same process_before_response setting, and a bare
Bolt app with Bolt's defaults. Requests alternate between the servers, one at a time, so the
ratio cancels the machine's noise. Our slash command is `/incident list` and our click is an
Approve on a real pending request by a non-approver: both do their real work (store reads, a
refusal on the timeline, an ephemeral answer, a card refresh) after the ack, in the same process.

Targets: our p99 <= 1.5x the bare app's, and under 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from statistics import quantiles
from urllib.parse import urlencode

import aiohttp

from benchmarks.report import figure
from tests.integration.slack.harness import (
    BOT_TOKEN,
    INCIDENT_CHANNEL,
    SIGNING_SECRET,
    BotProcess,
    bot_env,
    free_port,
    sign,
)
from tests.integration.slack.recorder import SlackRecorder

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.5
TARGET_P99_MS = 100.0


def start_bare(port: int, api_url: str, default_bolt: bool) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "benchmarks.bare_slack_app", "--port", str(port)]
    argv += ["--api-url", api_url] + (["--default-bolt"] if default_bolt else [])
    env = dict(os.environ, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET)
    proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("bare Bolt app did not start")


def pending_request(bot: BotProcess, recorder: SlackRecorder) -> str:
    """Open an incident whose card carries one pending request; returns its id."""
    recorder.groups["S0CHECKOUT"] = ["U0CHKDEV01"]
    recorder.triages["BENCH"] = {
        "category": "error_rate",
        "severity": "SEV2",
        "summary": "checkout returns 5xx",
        "root_cause": "bad pod",
        "reasoning": "benchmark",
        "confidence": 0.9,
        "runbook_ids": [],
        "proposals": [
            {
                "action": "restart_deployment",
                "service": "checkout",
                "params": [{"name": "deployment", "value": "checkout-api"}],
                "rationale": "restart",
            }
        ],
    }
    bot.alert("generic", {"title": "BENCH checkout 5xx", "service": "checkout"})
    card = recorder.wait_for(
        "chat.postMessage", lambda c: "BENCH" in json.dumps(c.args) and "blocks" in c.args, 30
    )[0]
    for block in card.args["blocks"]:
        for element in block.get("elements", []):
            if element.get("action_id") == "request_approve":
                return str(element["value"])
    raise RuntimeError("the benchmark card has no pending request")


def bodies(request_id: str, response_url: str) -> dict[str, bytes]:
    command = {
        "command": "/incident",
        "text": "list",
        "user_id": "U0BENCH001",
        "channel_id": "C0WARROOM1",
        "team_id": "T0TEST0001",
        "response_url": response_url,
        "trigger_id": "1.2.3",
    }
    click = {
        "type": "block_actions",
        "team": {"id": "T0TEST0001"},
        "user": {"id": "U0BENCH001"},
        "api_app_id": "A0TEST0001",
        "container": {"type": "message", "message_ts": "1.1", "channel_id": INCIDENT_CHANNEL},
        "channel": {"id": INCIDENT_CHANNEL},
        "message": {"ts": "1.1"},
        "response_url": response_url,
        "actions": [{"action_id": "request_approve", "block_id": "b", "value": request_id}],
    }
    return {
        "slash command": urlencode(command).encode(),
        "button click": urlencode({"payload": json.dumps(click)}).encode(),
    }


async def send(session: aiohttp.ClientSession, url: str, body: bytes) -> float:
    ts = int(time.time())
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": sign(body, ts),
    }
    started = time.perf_counter()
    async with session.post(url, data=body, headers=headers) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}")
    return (time.perf_counter() - started) * 1000


async def drive(
    urls: dict[str, str], kinds: dict[str, bytes], n: int, warmup: int
) -> dict[tuple[str, str], list[float]]:
    samples: dict[tuple[str, str], list[float]] = {(a, k): [] for a in urls for k in kinds}
    async with aiohttp.ClientSession() as session:
        for round_no in range(warmup + n):
            for kind, body in kinds.items():
                for app, url in urls.items():
                    took = await send(session, url, body)
                    if round_no >= warmup:
                        samples[(app, kind)].append(took)
    return samples


def pct(values: list[float], q: int) -> float:
    return quantiles(values, n=100, method="inclusive")[q - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="timed requests per kind")
    parser.add_argument("--warmup", type=int, default=30)
    args = parser.parse_args()
    recorder = SlackRecorder().start()
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="slack-ack-bench-") as tmp:
        env = bot_env(Path(tmp), recorder.url, LOG_LEVEL="WARNING")
        ours = BotProcess(Path(tmp), env).start()
        try:
            bare_port, default_port = free_port(), free_port()
            procs.append(start_bare(bare_port, recorder.api_url, default_bolt=False))
            procs.append(start_bare(default_port, recorder.api_url, default_bolt=True))
            kinds = bodies(pending_request(ours, recorder), f"{recorder.url}/response/bench")
            urls = {
                "incident-bot": f"{ours.url}/slack/events",
                "bare Bolt (same settings)": f"http://127.0.0.1:{bare_port}/slack/events",
                "bare Bolt (defaults)": f"http://127.0.0.1:{default_port}/slack/events",
            }
            samples = asyncio.run(drive(urls, kinds, args.requests, args.warmup))
        finally:
            ours.stop()
            for proc in procs:
                proc.terminate()
                proc.wait(10)
            recorder.stop()
    return report(samples, list(kinds), args.requests)


def report(samples: dict[tuple[str, str], list[float]], kinds: list[str], n: int) -> int:
    print(f"Slack ack latency, {n} sequential signed requests per kind and server (loopback)")
    print(f"{'server':<28}{'request':<16}{'p50 ms':>9}{'p99 ms':>9}")
    for (app, kind), values in samples.items():
        print(f"{app:<28}{kind:<16}{pct(values, 50):>9.2f}{pct(values, 99):>9.2f}")
    met = True
    for kind in kinds:
        ours = pct(samples[("incident-bot", kind)], 99)
        bare = pct(samples[("bare Bolt (same settings)", kind)], 99)
        default = pct(samples[("bare Bolt (defaults)", kind)], 99)
        ok = ours <= TARGET_RATIO * bare and ours < TARGET_P99_MS
        met = met and ok
        print(
            f"{kind}: p99 ratio ours/bare = {ours / bare:.2f}x (target <= {TARGET_RATIO}x), "
            f"ours/bare-defaults = {ours / default:.2f}x, ours p99 {ours:.1f} ms "
            f"(target < {TARGET_P99_MS:.0f} ms): {'met' if ok else 'MISSED'}"
        )
        figure(
            f"{kind} ack p99",
            ours,
            "ms",
            baseline=bare,
            target=f"<= {TARGET_RATIO}x bare, < {TARGET_P99_MS:.0f} ms",
            met=ok,
        )
        figure(
            f"{kind} ack p50",
            pct(samples[("incident-bot", kind)], 50),
            "ms",
            baseline=pct(samples[("bare Bolt (same settings)", kind)], 50),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
