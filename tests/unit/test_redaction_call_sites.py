"""Callers redact before they clip: a secret cut at a length limit must not reach the model."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.config import PROJECT_ROOT
from bot.models import Alert, Incident, RunbookChunk
from bot.redaction import Redactor
from bot.triage.context import TriageContext
from bot.triage.prompts import TEXT_LIMIT, PromptSet

NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
PROMPT_DIR = PROJECT_ROOT / "prompts"
TOKEN = "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"


def test_prompt_values_are_redacted_before_they_are_clipped() -> None:
    prompts = PromptSet.load(PROMPT_DIR)
    incident = Incident(title="t", service="checkout", created_at=NOW, updated_at=NOW)
    alert = Alert(
        source="generic",
        fingerprint="f",
        group_key="g",
        service="checkout",
        title="DB down",
        # The token straddles the clip: clipped first, "ghp_0123" would match no rule.
        description="x" * (TEXT_LIMIT - 8) + " " + TOKEN,
        labels={"db_password": "plainword1", "slackToken": "abc", "team": "payments"},
        annotations={"note": "x" * 490 + " " + TOKEN},
        received_at=NOW,
    )
    chunk = RunbookChunk(
        chunk_id="c1",
        runbook_id="db",
        version="1",
        title="DB",
        text="y" * 2990 + " " + TOKEN,
    )
    ctx = TriageContext(incident, [alert], [chunk], ["notify_oncall"], NOW)
    _system, user = prompts.messages(ctx, Redactor())
    assert "ghp_" not in user.content
    assert "plainword1" not in user.content
    assert '"db_password": "[REDACTED:password]"' in user.content
    assert '"team": "payments"' in user.content
