"""The accuracy drift post through the Slack adapters serve builds (durable outbox, Web API client)
and the Slack stand-in: posted to DRIFT_CHANNEL once, however many replicas check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.compose import Root
from bot.compose.serving import slack_config
from bot.config import load_settings
from bot.models import Category, Incident, Triage
from bot.runtime import Runtime
from bot.slack.wiring import SlackConfig, build_parts
from tests.integration.slack.harness import BOT_TOKEN, SIGNING_SECRET
from tests.integration.slack.recorder import SlackRecorder

pytestmark = pytest.mark.integration

DRIFT_CHANNEL = "C0DRIFTPOST"


def _runtime(tmp_path: Path, recorder: SlackRecorder, replica: str) -> Runtime:
    settings = load_settings(
        SQLITE_PATH=str(tmp_path / "bot.db"),
        RUNBOOK_INDEX_PATH=str(tmp_path / f"rb-{replica}.db"),
        RUNBOOK_EMBEDDINGS="none",
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=f"{recorder.url}/api/",
        REPLICA_ID=replica,
        DRIFT_CHANNEL=DRIFT_CHANNEL,
        DRIFT_MIN_CORRECTED="3",
        DRIFT_ACCURACY_THRESHOLD="0.8",
    )
    root = Root(settings)
    config = slack_config(settings)
    assert isinstance(config, SlackConfig)
    store = root.store()
    parts = build_parts(
        config, root.redactor(), store, replica_id=replica, delivery=root.delivery_options()
    )
    return root.runtime(
        store=store,
        notifier=parts.notifier,
        directory=parts.directory,
        dispatcher=parts.dispatcher,
    )


async def test_a_drift_is_posted_once_to_the_drift_channel(
    recorder: SlackRecorder, tmp_path: Path
) -> None:
    first = _runtime(tmp_path, recorder, "drift-a")
    second = _runtime(tmp_path, recorder, "drift-b")
    start = datetime.now(UTC) - timedelta(hours=2)
    try:
        # Three deployment incidents, corrected by responders: triage got one of them right.
        triaged = [Category.DEPLOYMENT, Category.LATENCY, Category.ERROR_RATE]
        for n, category in enumerate(triaged):
            at = start + timedelta(minutes=n)
            incident = Incident(
                title=f"rollout {n} broke checkout",
                service="checkout",
                category=category,
                created_at=at,
                updated_at=at,
            )
            await first.store.create_incident(incident)
            await first.store.add_triage(
                Triage(incident_id=incident.id, category=category, confidence=0.5, created_at=at)
            )
            await first.pipeline.recategorize(incident.id, Category.DEPLOYMENT, "U0SRE00001", at)

        now = datetime.now(UTC)
        posted = [await runtime.pipeline.check_drift(now) for runtime in (first, second)]
        assert sorted(len(rows) for rows in posted) == [0, 1]
        call = recorder.wait_for("chat.postMessage", lambda c: c.args["channel"] == DRIFT_CHANNEL)
        text = call[0].args["text"]
        assert "*deployment*" in text and "33%" in text and "80%" in text
        assert call[0].args.get("thread_ts") is None

        # An hour later, still drifting: not posted again today.
        later = [await r.pipeline.check_drift(now + timedelta(hours=1)) for r in (second, first)]
        assert later == [[], []]
        drift_posts = recorder.find(
            "chat.postMessage", lambda c: c.args["channel"] == DRIFT_CHANNEL
        )
        assert len(drift_posts) == 1
    finally:
        for runtime in (first, second):
            await runtime.store.close()
