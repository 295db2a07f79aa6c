"""Fixtures for fault runs: a fresh Slack stand-in per test and bots started on demand."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.slack.conftest import script_default_triages
from tests.integration.slack.harness import BotProcess, bot_env
from tests.integration.slack.recorder import SlackRecorder

# Fast sweeps and short timeouts so a fault run takes seconds; nothing asserts on timing.
FAST = {
    "OUTBOX_INTERVAL_SECONDS": "0.5",
    "OUTBOX_BACKOFF_SECONDS": "0.2",
    "SLACK_API_TIMEOUT_SECONDS": "2",
}

StartBot = Callable[..., BotProcess]


@pytest.fixture
def recorder() -> Iterator[SlackRecorder]:
    rec = SlackRecorder().start()
    script_default_triages(rec)
    yield rec
    rec.stop()


@pytest.fixture
def start_bot(recorder: SlackRecorder, tmp_path: Path) -> Iterator[StartBot]:
    """Start ``incident-bot serve`` processes sharing one SQLite file (``env`` overrides)."""
    started: list[BotProcess] = []

    def start(**env: str) -> BotProcess:
        workdir = tmp_path / f"bot{len(started)}"
        workdir.mkdir()
        settings = bot_env(tmp_path, recorder.url, **{**FAST, **env})
        process = BotProcess(workdir, settings).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
