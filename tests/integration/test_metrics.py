"""/metrics speaks valid Prometheus exposition, checked by promtool itself."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.config import load_settings
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
