"""/metrics speaks valid Prometheus exposition, checked by promtool itself."""

from __future__ import annotations

import asyncio
import subprocess
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.compose import Root
from bot.config import Settings, load_settings
from bot.models import Category, Incident, Triage
from tests.integration.conftest import require_binary
from tests.integration.serving import serving

pytestmark = pytest.mark.integration


def _scrape(base: str) -> str:
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        return response.read().decode()


def _value(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def test_metrics_pass_promtool_and_count_alerts(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    settings = load_settings(
        SQLITE_PATH=tmp_path / "m.db",
        RUNBOOK_INDEX_PATH=tmp_path / "r.db",
        ALERT_WEBHOOK_ALLOW_UNAUTHENTICATED=True,  # posts without a token
    )
    with serving(settings) as base:
        before = _scrape(base)
        body = b'{"title": "disk full on batch-reports-1", "service": "batch-reports"}'
        request = urllib.request.Request(
            f"{base}/alerts/generic", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 202
        bad = urllib.request.Request(
            f"{base}/alerts/generic", data=b"{", headers={"Content-Type": "application/json"}
        )
        try:
            urllib.request.urlopen(bad, timeout=5)
        except urllib.error.HTTPError as exc:
            assert exc.code == 400
        deadline = time.monotonic() + 20
        text = _scrape(base)
        while "incident_bot_triages_total{" not in text and time.monotonic() < deadline:
            time.sleep(0.1)
            text = _scrape(base)
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    received = "incident_bot_alerts_received_total"
    for outcome in ("stored", "rejected"):
        labels = {"source": "generic", "outcome": outcome}
        assert _value(text, received, **labels) == _value(before, received, **labels) + 1
    opened = "incident_bot_incidents_opened_total"
    assert _value(text, opened, source="generic") == _value(before, opened, source="generic") + 1
    assert "incident_bot_triage_duration_seconds_bucket" in text
    assert 'incident_bot_triages_total{execution_status="COMPLETED",provider="rules"}' in text


async def _corrected_then_checked(settings: Settings) -> None:
    """Three security incidents, two of them triaged right, corrected by responders; then one
    run of the drift sweep on this store."""
    runtime = Root(settings).runtime()
    pipeline = runtime.pipeline
    start = datetime.now(UTC) - timedelta(hours=1)
    try:
        for n, triaged in enumerate([Category.SECURITY, Category.SECURITY, Category.LATENCY]):
            at = start + timedelta(minutes=n)
            incident = Incident(
                title=f"suspicious logins {n}",
                service="auth-service",
                category=triaged,
                created_at=at,
                updated_at=at,
            )
            await runtime.store.create_incident(incident)
            await runtime.store.add_triage(
                Triage(incident_id=incident.id, category=triaged, confidence=0.6, created_at=at)
            )
            await pipeline.recategorize(incident.id, Category.SECURITY, "U0SECLEAD1", at)
        await pipeline.check_drift(datetime.now(UTC))
    finally:
        await runtime.store.close()


def test_metrics_show_triage_accuracy_per_category(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    settings = load_settings(
        SQLITE_PATH=tmp_path / "m.db",
        RUNBOOK_INDEX_PATH=tmp_path / "r.db",
        ALERT_WEBHOOK_ALLOW_UNAUTHENTICATED=True,
        DRIFT_MIN_CORRECTED=3,
    )
    corrections = "incident_bot_triage_corrections_total"
    labels = {"from_category": "latency", "to_category": "security"}
    with serving(settings) as base:
        before = _scrape(base)
        asyncio.run(_corrected_then_checked(settings))
        text = _scrape(base)
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    accuracy = _value(text, "incident_bot_triage_category_accuracy", category="security")
    assert accuracy == pytest.approx(2 / 3)
    assert _value(text, "incident_bot_triage_category_judged", category="security") == 3
    assert _value(text, corrections, **labels) == _value(before, corrections, **labels) + 1
