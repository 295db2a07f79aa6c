"""The real Prometheus Alertmanager delivers to our webhook: firing opens, resolved closes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import load_settings
from bot.models import IncidentStatus
from bot.store.sqlite import SQLiteStore
from tests.integration.conftest import require_binary
from tests.integration.serving import free_port, serving

pytestmark = pytest.mark.integration

TOKEN = "am-bearer-token"


def _config(webhook: str) -> str:
    return f"""
route:
  receiver: incident-bot
  group_by: [alertname, service]
  group_wait: 100ms
  group_interval: 300ms
  repeat_interval: 1h
receivers:
  - name: incident-bot
    webhook_configs:
      - url: {webhook}
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {TOKEN}
"""


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    binary = require_binary("prometheus-alertmanager")
    db = tmp_path / "bot.db"
    settings = load_settings(
        SQLITE_PATH=db, RUNBOOK_INDEX_PATH=tmp_path / "rb.db", ALERT_WEBHOOK_TOKEN=TOKEN
    )
    with serving(settings) as base:
        (tmp_path / "am.yml").write_text(_config(f"{base}/alerts/alertmanager"))
        port = free_port()
        am_url = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={tmp_path / 'am.yml'}",
                f"--storage.path={tmp_path / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
                f"--web.external-url={am_url}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "am.log").open("w"),
        )
        try:
            _wait_ready(am_url, proc)
            yield am_url, base, db
        finally:
            proc.terminate()
            proc.wait(10)


def _wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, "alertmanager exited at start-up"
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("alertmanager did not become ready")


def _post_alerts(am_url: str, alerts: list[dict[str, Any]]) -> None:
    request = urllib.request.Request(
        f"{am_url}/api/v2/alerts",
        data=json.dumps(alerts).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def _alert(instance: str, ends: datetime | None = None) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "labels": {
            "alertname": "CheckoutHighLatency",
            "service": "checkout",
            "severity": "critical",
            "instance": instance,
        },
        "annotations": {
            "summary": f"p99 latency 2.4s on {instance}",
            "description": "checkout p99 latency above 1s for 5 minutes",
        },
        "startsAt": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
    }
    if ends is not None:
        alert["endsAt"] = ends.isoformat()
    return alert


def _wait_for(check: Any, what: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_alertmanager_firing_then_resolved(alertmanager: tuple[str, str, Path]) -> None:
    am_url, _, db = alertmanager
    store = SQLiteStore(db)
    firing = [_alert("checkout-0:8080"), _alert("checkout-1:8080")]
    _post_alerts(am_url, firing)

    def grouped() -> Any:
        found = asyncio.run(store.list_incidents(IncidentStatus.OPEN))
        return found if found and found[0].alert_count == 2 else None

    (incident,) = _wait_for(grouped, "one incident with both alerts")
    assert incident.service == "checkout"
    assert incident.severity.value in {"SEV0", "SEV1"}
    alerts = asyncio.run(store.list_alerts(incident.id))
    assert {a.labels["instance"] for a in alerts} == {"checkout-0:8080", "checkout-1:8080"}
    assert all(a.source == "alertmanager" and a.fingerprint for a in alerts)
    assert _wait_for(lambda: asyncio.run(store.list_triages(incident.id)), "triage", 60)

    now = datetime.now(UTC)
    resolved = [dict(a, startsAt=a["startsAt"], endsAt=now.isoformat()) for a in firing]
    _post_alerts(am_url, resolved)

    def closed() -> Any:
        current = asyncio.run(store.get_incident(incident.id))
        return current if current.status is IncidentStatus.RESOLVED else None

    final = _wait_for(closed, "the incident to resolve")
    assert final.resolved_at is not None
    kinds = [e.kind for e in asyncio.run(store.list_events(incident.id))]
    assert kinds.count("alert.resolved") == 2 and "incident.resolved" in kinds
    assert kinds[0] == "incident.opened"
