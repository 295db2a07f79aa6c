"""A flood through the running server: one story, not a thousand, and nothing lost.

The real app under uvicorn on loopback, the rules engine (no model), SQLite. A 71 KB generic
payload of 1,500 distinct alerts is refused whole (over ALERT_MAX_PER_PAYLOAD), then sent in
payloads under the cap, followed by a burst of single-alert posts.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.config import Settings, load_settings
from bot.store.sqlite import SQLiteStore
from tests.integration.serving import serving
from tests.integration.test_web_alerts import TOKEN, post

pytestmark = pytest.mark.integration

THRESHOLD = 20
CAP = 500
FLOOD = 1500
BURST = 200


def flood_alerts(count: int, offset: int = 0) -> list[dict[str, str]]:
    """Small distinct alerts, as a misconfigured exporter sends them (about 47 bytes each)."""
    return [
        {"title": f"Disk full d{n}", "service": f"s{n % 57}"} for n in range(offset, offset + count)
    ]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    tmp = tmp_path_factory.mktemp("flood")
    return load_settings(
        SQLITE_PATH=tmp / "bot.db",
        RUNBOOK_INDEX_PATH=tmp / "runbooks.db",
        RUNBOOK_EMBEDDINGS="none",
        ALERT_WEBHOOK_TOKEN=TOKEN,
        ALERT_MAX_PER_PAYLOAD=CAP,
        STORM_THRESHOLD=THRESHOLD,
        STORM_WINDOW_SECONDS=3600,  # the whole test is one window, however slow the machine
    )


@pytest.fixture(scope="module")
def base(settings: Settings) -> Iterator[str]:
    with serving(settings) as url:
        yield url


def test_a_payload_over_the_cap_is_413_json_naming_both_numbers(base: str) -> None:
    body = json.dumps(flood_alerts(FLOOD)).encode()
    assert 60_000 < len(body) < 80_000
    status, answer = post(f"{base}/alerts/generic", body)
    assert status == 413
    assert "1,500 alerts" in answer["error"] and "limit of 500" in answer["error"]
    assert answer["source"] == "generic"


def test_a_flood_opens_at_most_threshold_plus_one_incidents(base: str, settings: Settings) -> None:
    alerts = flood_alerts(FLOOD)
    payloads = [json.dumps(alerts[i : i + CAP]).encode() for i in range(0, FLOOD, CAP)]
    burst = [json.dumps(a).encode() for a in flood_alerts(BURST, offset=FLOOD)]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda b: post(f"{base}/alerts/generic", b), payloads + burst))
        health = pool.submit(urllib.request.urlopen, f"{base}/healthz", timeout=30)
        assert health.result().status == 200
    assert all(status == 202 for status, _ in answers), [a for a in answers if a[0] != 202][:3]
    assert sum(answer["accepted"] for _, answer in answers) == FLOOD + BURST

    store = SQLiteStore(settings.sqlite_path)
    try:
        incidents = asyncio.run(store.list_incidents(limit=10_000))
        assert len(incidents) <= THRESHOLD + 1
        assert sum(i.alert_count for i in incidents) == FLOOD + BURST  # 0 alerts lost
        stored = sum(len(asyncio.run(store.list_alerts(i.id, limit=10_000))) for i in incidents)
        assert stored == FLOOD + BURST
        # Background triage: each incident once (wait for the workers, bounded).
        deadline = time.monotonic() + 60
        while sum(1 for i in incidents if asyncio.run(store.list_triages(i.id))) < len(incidents):
            assert time.monotonic() < deadline, "background triage did not finish"
            time.sleep(0.1)
        triages = sum(len(asyncio.run(store.list_triages(i.id))) for i in incidents)
        assert triages <= THRESHOLD + 1
    finally:
        asyncio.run(store.close())
    with urllib.request.urlopen(f"{base}/healthz", timeout=10) as response:
        assert response.status == 200
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        metrics = dict(
            line.rsplit(" ", 1) for line in response.read().decode().splitlines() if line[:1] != "#"
        )
    assert float(metrics["incident_bot_storm_active"]) == 1.0
    assert float(metrics["incident_bot_storm_alerts_total"]) >= FLOOD + BURST - THRESHOLD
    assert "incident_bot_triage_queue_depth" in metrics
