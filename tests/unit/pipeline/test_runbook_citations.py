"""What the card cites is a second search that knows the triaged category (issue 17.5)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.compose import Root
from bot.config import load_settings
from bot.notify import RecordingNotifier
from bot.pipeline import Pipeline

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def runbook(folder: Path, rid: str, services: str, categories: str, body: str) -> None:
    (folder / f"{rid}.md").write_text(
        f"---\nid: {rid}\ntitle: {rid.replace('-', ' ')}\nservices: {services}\n"
        f"categories: {categories}\nactions: [notify_oncall]\nalerts: []\n"
        f'version: "1.0.0"\nowner: sre\n---\n# {rid}\n\n## Checks\n{body}\n'
    )


@pytest.fixture
async def pipeline(tmp_path: Path) -> AsyncIterator[Pipeline]:
    books = tmp_path / "runbooks"
    books.mkdir()
    # Words of the alert, but the wrong category: keyword search alone ranks it first.
    runbook(
        books,
        "login-page-slow",
        '["*"]',
        "[latency]",
        "Failed logins from one IP: the login page is slow, failed logins pile up from "
        "one IP, check the login page latency and the IP pool of failed logins.",
    )
    runbook(
        books,
        "suspicious-logins",
        "[auth-service]",
        "[security]",
        "Many failed sign-ins for distinct usernames: block the source address.",
    )
    # The right category, another service: never cited for auth-service.
    runbook(
        books,
        "billing-fraud",
        "[billing]",
        "[security]",
        "Login failures from one IP on billing: failed logins, login IP.",
    )
    settings = load_settings(
        SQLITE_PATH=str(tmp_path / "bot.db"),
        RUNBOOK_DIR=str(books),
        RUNBOOK_INDEX_PATH=str(tmp_path / "rb.db"),
        RUNBOOK_EMBEDDINGS="none",
        RUNBOOK_TOP_K=1,
        REPLICA_ID="replica-a",
    )
    runtime = Root(settings).runtime(notifier=RecordingNotifier())
    yield runtime.pipeline
    await runtime.pipeline.stop()
    await runtime.store.close()


async def triage_of(pipeline: Pipeline, title: str, description: str) -> list[str]:
    body = json.dumps(
        {
            "title": title,
            "description": description,
            "service": "auth-service",
            "severity": "warning",
        }
    ).encode()
    receipt = await pipeline.ingest("generic", body, "application/json", NOW)
    result = await pipeline.triage_incident(receipt.new_incident_ids[0], NOW)
    assert result is not None
    stored = await pipeline.store.list_triages(result.incident.id)
    assert [r.id for r in stored[0].runbooks] == [r.id for r in result.triage.runbooks]
    return [r.id for r in result.triage.runbooks]


async def test_the_card_cites_runbooks_of_the_triaged_category_first(pipeline: Pipeline) -> None:
    # Keyword search alone puts the latency runbook first for this text.
    title, description = "Failed logins from one IP", "failed logins keep coming from one IP"
    query = f"{title} {title} {description}"
    plain = pipeline.runbooks.search(query, 4)
    assert plain[0].runbook_id == "login-page-slow"

    cited = await triage_of(pipeline, title, description)

    assert cited == ["suspicious-logins"]


async def test_without_a_runbook_of_the_category_the_plain_search_is_cited(
    pipeline: Pipeline,
) -> None:
    title, description = "Login page slow after release v2.1.0", "rollout of v2.1.0 at 10:00"
    cited = await triage_of(pipeline, title, description)

    assert cited and "billing-fraud" not in cited
    # No deployment runbook: the boost changes nothing, the service's search is cited.
    query = f"{title} {title} {description}"
    plain = pipeline.runbooks.search(query, 1, service="auth-service")
    assert cited[0] == plain[0].runbook_id
