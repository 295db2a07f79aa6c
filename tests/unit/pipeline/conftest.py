"""Fixtures the pipeline tests share: a pipeline on a fresh SQLite file, the rules engine
triaging, BM25 runbook search and a notifier that records what it was asked to say."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.compose import Root
from bot.config import load_settings
from bot.notify import RecordingNotifier
from bot.pipeline import Pipeline


@pytest.fixture
async def flow(tmp_path: Path) -> AsyncIterator[tuple[Pipeline, RecordingNotifier]]:
    """A pipeline and the notifier it tells."""
    settings = load_settings(
        SQLITE_PATH=str(tmp_path / "bot.db"),
        RUNBOOK_INDEX_PATH=str(tmp_path / "rb.db"),
        RUNBOOK_EMBEDDINGS="none",
    )
    notifier = RecordingNotifier()
    pipeline = Root(settings).runtime(notifier=notifier).pipeline
    try:
        yield pipeline, notifier
    finally:
        await pipeline.store.close()
