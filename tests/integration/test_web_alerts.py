"""POST /alerts/{source} over real HTTP: good payloads are filed, bad ones get a clear 4xx."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings, load_settings
from bot.store.sqlite import SQLiteStore
from tests.integration.serving import serving

pytestmark = pytest.mark.integration

TOKEN = "test-webhook-token"
DEMO = Path(__file__).resolve().parents[2] / "bot" / "data" / "demo"


def post(url: str, body: bytes, *, token: str | None = TOKEN,
         content_type: str | None = "application/json", method: str = "POST") -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method=method)
    if content_type:
        request.add_header("Content-Type", content_type)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    tmp = tmp_path_factory.mktemp("web")
    return load_settings(
        SQLITE_PATH=tmp / "bot.db",
        RUNBOOK_INDEX_PATH=tmp / "runbooks.db",
        ALERT_WEBHOOK_TOKEN=TOKEN,
        ALERT_MAX_BODY_BYTES=4096,
        ALERT_MAX_JSON_DEPTH=16,
    )


@pytest.fixture(scope="module")
def base(settings: Settings) -> Iterator[str]:
    with serving(settings) as url:
        yield url


def test_valid_alertmanager_payload_is_accepted_and_triaged(base: str, settings: Settings) -> None:
    body = (DEMO / "1-alertmanager-checkout-5xx.json").read_bytes()
    status, answer = post(
        f"{base}/alerts/alertmanager", body, content_type="application/json; charset=utf-8"
    )
    # body is 2.3 KB, under the 4 KB test limit
    assert status == 202, answer
    assert answer["accepted"] == 2 and answer["duplicates"] == 0
    assert len(answer["incident_ids"]) == 1 and answer["new_incident_ids"] == answer["incident_ids"]
    status, again = post(f"{base}/alerts/alertmanager", body)
    assert status == 202 and again["accepted"] == 0 and again["duplicates"] == 2
    assert again["incident_ids"] == [] and again["new_incident_ids"] == []

    import asyncio

    store = SQLiteStore(settings.sqlite_path)
    incident_id = answer["incident_ids"][0]
    deadline = time.monotonic() + 20
    while not asyncio.run(store.list_triages(incident_id)):
        assert time.monotonic() < deadline, "background triage did not happen"
        time.sleep(0.05)
    assert asyncio.run(store.get_incident(incident_id)).alert_count == 2


BAD_INPUTS = [
    ("invalid json", "generic", b"{not json", "application/json", 400, "JSON"),
    ("truncated json", "generic", b'{"title": "x", "service": "chec', "application/json", 400,
     "JSON"),
    ("invalid utf-8", "generic", b'{"title": "\xff\xfe", "service": "x"}', "application/json",
     400, "UTF-8"),
    ("unsupported type", "generic", b"title=x", "application/x-www-form-urlencoded", 415, ""),
    ("too large", "generic", b'{"title": "' + b"x" * 5000 + b'"}', "application/json", 413,
     "limit"),
    ("deep nesting", "generic", b"[" * 1000 + b"]" * 1000, "application/json", 422, "nest"),
    ("wrong type", "alertmanager", b'{"version": "4", "alerts": "nope"}', "application/json",
     422, "alerts"),
    ("missing field", "generic", b'{"description": "no title"}', "application/json", 422,
     "title"),
    ("unknown source", "nagios", b"{}", "application/json", 404, "unknown"),
    ("empty body", "generic", b"", "application/json", 400, ""),
]


@pytest.mark.parametrize(
    ("case", "source", "body", "content_type", "status", "word"),
    BAD_INPUTS,
    ids=[c[0] for c in BAD_INPUTS],
)
def test_bad_input_gets_a_clear_4xx(base: str, case: str, source: str, body: bytes,
                                    content_type: str, status: int, word: str) -> None:
    got, answer = post(f"{base}/alerts/{source}", body, content_type=content_type)
    assert got == status, (case, answer)
    assert isinstance(answer["error"], str) and answer["error"]
    assert word.lower() in answer["error"].lower(), answer["error"]


def test_missing_or_wrong_token_is_401(base: str) -> None:
    body = b'{"title": "t", "service": "checkout"}'
    assert post(f"{base}/alerts/generic", body, token=None)[0] == 401
    status, answer = post(f"{base}/alerts/generic", body, token="wrong")
    assert status == 401 and "token" in answer["error"]


def test_wrong_method_is_json_405(base: str) -> None:
    status, answer = post(f"{base}/alerts/generic", b"", method="GET")
    assert status == 405 and answer["error"]


def test_server_keeps_serving_after_bad_input(base: str) -> None:
    for _ in range(3):
        post(f"{base}/alerts/generic", b"[" * 100_000)
    with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
        assert response.status == 200
    with urllib.request.urlopen(f"{base}/readyz", timeout=5) as response:
        ready = json.loads(response.read())
    assert ready["checks"]["store"] == "ok"
