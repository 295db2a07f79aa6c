"""A payload with more alerts than ALERT_MAX_PER_PAYLOAD is refused whole, never cut short."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.errors import PayloadError
from bot.ingest import IngestOptions, parse_payload

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def generic(count: int) -> bytes:
    return json.dumps(
        [{"title": f"Disk filling on node {n}", "service": f"svc-{n}"} for n in range(count)]
    ).encode()


def alertmanager(count: int) -> bytes:
    return json.dumps(
        {
            "version": "4",
            "status": "firing",
            "alerts": [
                {"status": "firing", "labels": {"alertname": f"A{n}", "service": "checkout"}}
                for n in range(count)
            ],
        }
    ).encode()


@pytest.mark.parametrize(
    ("source", "body"), [("generic", generic(1501)), ("alertmanager", alertmanager(1501))]
)
def test_over_the_cap_is_413_naming_the_count_and_the_limit(source: str, body: bytes) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_payload(
            source, body, "application/json", received_at=NOW, options=IngestOptions(max_alerts=500)
        )
    assert caught.value.status == 413
    assert "1,501 alerts" in str(caught.value)
    assert "limit of 500" in str(caught.value)
    assert "ALERT_MAX_PER_PAYLOAD" in str(caught.value)


def test_exactly_the_cap_is_accepted() -> None:
    options = IngestOptions(max_alerts=50)
    parsed = parse_payload(
        "generic", generic(50), "application/json", received_at=NOW, options=options
    )
    assert len(parsed.alerts) == 50


def test_the_default_cap_is_500() -> None:
    assert IngestOptions().max_alerts == 500
    parse_payload("generic", generic(500), "application/json", received_at=NOW)
    with pytest.raises(PayloadError):
        parse_payload("generic", generic(501), "application/json", received_at=NOW)
