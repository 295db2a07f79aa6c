"""Evidence and verification against a real Prometheus (Debian's binary, scraping every second).

chart_upload_p50       render an hour of one series (threshold, alert start) with matplotlib
                       Agg and upload it through Slack's external upload flow to the loopback
                       stand-in; baseline: an empty figure, uploaded the same way
approval_to_verified   a restart approved (dry run) while the exporter's gauge is above the
                       verify threshold; the gauge then falls and the verification sweep runs
                       every 100 ms; baseline: the gauge's fall reaching Prometheus at all

.venv/bin/python -m benchmarks.evidence [--uploads 30] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml
from slack_sdk.web.async_client import AsyncWebClient

from benchmarks.report import figure
from bot import actions
from bot.actions.plans import card_hash
from bot.compose import Root
from bot.config import PROJECT_ROOT, load_settings
from bot.evidence.charts import AggCharts
from bot.evidence.series import Chart, Series
from bot.models import BOT_ACTOR, Category, Proposal, Severity, Triage, Verification
from bot.notify import RecordingNotifier
from bot.pipeline import Pipeline
from bot.policy import EvaluationContext
from bot.redaction import Redactor
from bot.slack.outbox import Outbox
from tests.integration.prometheus import Exporter, PrometheusServer, running_prometheus
from tests.integration.slack.recorder import SlackRecorder

GAUGE = "bench_error_ratio"


async def chart_uploads(uploads: int) -> tuple[float, float]:
    """p50 seconds of render + upload, of an hour's chart and of an empty figure."""
    recorder = SlackRecorder().start()
    try:
        outbox = Outbox(
            AsyncWebClient(token="xoxb-bench", base_url=recorder.api_url), Redactor().redact
        )
        charts = AggCharts()
        now = time.time()
        hour = Series(
            {"__name__": GAUGE, "deployment": "checkout-api"},
            tuple((now - 3600 + 5 * i, 0.3 + 0.5 * ((i // 60) % 2)) for i in range(720)),
        )
        full = Chart(
            "checkout errors",
            (hour,),
            threshold=0.5,
            marked_at=datetime.fromtimestamp(now - 900, UTC),
            notes=("min 0.3 / max 0.8",),
        )
        empty = Chart("empty", ())

        async def once(chart: Chart) -> float:
            began = time.perf_counter()
            png = await asyncio.to_thread(charts.render, chart)
            shared = await outbox.upload_image("C0BENCH001", "bench.png", png, chart.title)
            assert shared is not None
            return time.perf_counter() - began

        await once(full)  # warm the font cache and the connection
        measured = [await once(full) for _ in range(uploads)]
        baseline = [await once(empty) for _ in range(uploads)]
        return statistics.median(measured), statistics.median(baseline)
    finally:
        recorder.stop()


def pipeline_for(folder: Path, prometheus_url: str) -> Pipeline:
    policy_dir = folder / "policies"
    shutil.copytree(PROJECT_ROOT / "policies", policy_dir)
    actions_file = policy_dir / "actions.yaml"
    document = yaml.safe_load(actions_file.read_text())
    document["actions"]["restart_deployment"]["verify"] = {
        "expr": f'{GAUGE}{{deployment="{{deployment}}"}} < 0.5',
        "within_seconds": 120,
    }
    actions_file.write_text(yaml.safe_dump(document, sort_keys=False))
    settings = load_settings(
        SQLITE_PATH=str(folder / "bot.db"),
        RUNBOOK_INDEX_PATH=str(folder / "rb.db"),
        RUNBOOK_EMBEDDINGS="none",
        POLICY_DIR=str(policy_dir),
        PROMETHEUS_URL=prometheus_url,
    )
    return Root(settings).runtime(notifier=RecordingNotifier()).pipeline


async def approve_restart(pipeline: Pipeline, n: int) -> str:
    now = datetime.now(UTC)
    body = f'{{"title": "bench {n}", "service": "checkout", "fingerprint": "b{n}"}}'.encode()
    incident_id = (await pipeline.ingest("generic", body, "application/json", now)).incident_ids[0]
    triage = Triage(
        incident_id=incident_id, category=Category.ERROR_RATE, confidence=0.9, created_at=now
    )
    await pipeline.store.add_triage(triage)
    proposal = Proposal(
        action="restart_deployment", service="checkout", params={"deployment": "checkout-api"}
    )
    context = EvaluationContext(
        category=Category.ERROR_RATE,
        severity=Severity.SEV2,
        confidence=0.9,
        now=now,
        requester=BOT_ACTOR,
    )
    request = await actions.open_request(
        pipeline.store,
        incident_id=incident_id,
        triage_id=triage.id,
        proposal=proposal,
        decision=pipeline.policy.evaluate(proposal, context),
        policy=pipeline.policy,
        requested_by=BOT_ACTOR,
        now=now,
        ttl_seconds=1800,
    )
    await pipeline.vote(
        request.id,
        "U0CHKLEAD1",
        "approve",
        datetime.now(UTC),
        card_hash=card_hash(request.plan_hash),
    )
    return request.id


async def verification_rounds(
    exporter: Exporter, server: PrometheusServer, rounds: int
) -> tuple[float, float]:
    """p50 seconds from approval to verified, and from the gauge's fall to Prometheus seeing it."""
    selector = f'{GAUGE}{{deployment="checkout-api"}}'
    with tempfile.TemporaryDirectory() as folder:
        pipeline = pipeline_for(Path(folder), server.url)
        verified: list[float] = []
        seen: list[float] = []
        try:
            for n in range(rounds):
                exporter.set(GAUGE, "deployment", "checkout-api", 0.9)
                await asyncio.to_thread(
                    server.wait_until, selector, lambda s: bool(s) and s[-1][1] == 0.9
                )
                approved = time.perf_counter()
                request_id = await approve_restart(pipeline, n)
                exporter.set(GAUGE, "deployment", "checkout-api", 0.1)
                while True:
                    await pipeline.verify_due(datetime.now(UTC))
                    request = await pipeline.store.get_action_request(request_id)
                    if request.verification is not None:
                        break
                    await asyncio.sleep(0.1)
                assert request.verification is Verification.VERIFIED
                verified.append(time.perf_counter() - approved)
                # The floor, without the bot: the same fall reaching Prometheus at all.
                exporter.set(GAUGE, "deployment", "checkout-api", 0.9)
                await asyncio.to_thread(
                    server.wait_until, selector, lambda s: bool(s) and s[-1][1] == 0.9
                )
                exporter.set(GAUGE, "deployment", "checkout-api", 0.1)
                fell = time.perf_counter()
                await asyncio.to_thread(
                    server.wait_until, selector, lambda s: bool(s) and s[-1][1] == 0.1
                )
                seen.append(time.perf_counter() - fell)
        finally:
            await pipeline.store.close()
        return statistics.median(verified), statistics.median(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    upload, empty = asyncio.run(chart_uploads(args.uploads))
    print(f"chart render + upload p50 {upload * 1000:.1f} ms (empty figure {empty * 1000:.1f} ms)")
    figure(
        "evidence_chart_upload_p50",
        upload * 1000,
        "ms",
        baseline=empty * 1000,
        target="< 1000 ms",
        met=upload < 1.0,
    )
    with tempfile.TemporaryDirectory() as folder, running_prometheus(Path(folder)) as running:
        verified, seen = asyncio.run(verification_rounds(*running, args.rounds))
    print(f"approval -> verified p50 {verified:.2f} s (the fall reaching Prometheus {seen:.2f} s)")
    figure(
        "evidence_approval_to_verified_p50",
        verified,
        "s",
        baseline=seen,
        target="< scrape interval + 2 sweeps",
        met=verified < seen + 1.0,
    )


if __name__ == "__main__":
    main()
