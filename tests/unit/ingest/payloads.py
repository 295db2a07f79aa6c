"""Shared test values: the fixture folder and a parse call with a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bot.ingest import IngestOptions, ParsedPayload, parse_payload

PAYLOADS = Path(__file__).resolve().parents[2] / "data" / "payloads"
RECEIVED = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def fixture_bytes(name: str) -> bytes:
    """Bytes of ``tests/data/payloads/<name>``."""
    return (PAYLOADS / name).read_bytes()


def parse(
    source: str,
    body: bytes,
    content_type: str | None = "application/json",
    options: IngestOptions | None = None,
) -> ParsedPayload:
    """parse_payload with the fixed receive time."""
    return parse_payload(
        source, body, content_type, received_at=RECEIVED, options=options or IngestOptions()
    )


def parse_fixture(name: str) -> ParsedPayload:
    """Parse a fixture file as the source its folder is named after."""
    return parse(name.split("/", 1)[0], fixture_bytes(name))
