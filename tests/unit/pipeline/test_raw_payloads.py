"""Raw payloads at rest (invariant 4): stored redacted unless KEEP_RAW_PAYLOADS says otherwise."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.compose import Root
from bot.config import load_settings
from bot.notify import RecordingNotifier

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
SECRET = "hunter2-" + "Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0"
BODY = json.dumps(
    {
        "title": "checkout 5xx",
        "service": "checkout",
        "description": f"db password={SECRET} leaked by ops@example.com",
        "labels": {"api_key": SECRET},
    }
).encode()


@pytest.mark.parametrize("keep", [False, True])
async def test_invariant_4_raw_payload_is_stored_redacted_by_default(
    tmp_path: Path, keep: bool
) -> None:
    settings = load_settings(
        SQLITE_PATH=str(tmp_path / "bot.db"),
        RUNBOOK_INDEX_PATH=str(tmp_path / "rb.db"),
        RUNBOOK_EMBEDDINGS="none",
        KEEP_RAW_PAYLOADS=str(keep).lower(),
    )
    pipeline = Root(settings).runtime(notifier=RecordingNotifier()).pipeline
    try:
        receipt = await pipeline.ingest("generic", BODY, "application/json", NOW)
        raw_ref = receipt.alerts[0].raw_ref
        assert raw_ref is not None
        raw = await pipeline.store.get_raw(raw_ref)
    finally:
        await pipeline.store.close()
    if keep:
        assert raw.body == BODY.decode()
    else:
        assert SECRET not in raw.body and "ops@example.com" not in raw.body
        assert json.loads(raw.body)["title"] == "checkout 5xx"  # still JSON
