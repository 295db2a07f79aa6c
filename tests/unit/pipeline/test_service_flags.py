"""A look-alike service name on an alert stays a look-alike all the way to the vote (issue 13.7).

The alert names ``cart\u200b-service``; ingest files it under the canonical ``cart-service``
and the triage proposes actions on that canonical name. The flags the alert carried must
travel with the incident into every policy decision: filing, voting and executing.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.compose import Root
from bot.config import load_settings
from bot.models import ActionState
from bot.notify import RecordingNotifier
from bot.pipeline import Pipeline

# Outside every freeze window of the shipped policies.
NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


class StaticDirectory:
    """A Directory with fixed group members (the chat tool's answer, as data)."""

    def __init__(self, groups: dict[str, frozenset[str]]) -> None:
        self.groups = groups

    async def members(self, approver_ids: Iterable[str]) -> dict[str, frozenset[str]]:
        """The members of each listed group this directory knows."""
        return {a: self.groups[a] for a in approver_ids if a in self.groups}


@pytest.fixture
async def pipeline(tmp_path: Path) -> AsyncIterator[Pipeline]:
    settings = load_settings(
        SQLITE_PATH=str(tmp_path / "bot.db"),
        RUNBOOK_INDEX_PATH=str(tmp_path / "rb.db"),
        RUNBOOK_EMBEDDINGS="none",
    )
    directory = StaticDirectory({"S0CHECKOUT": frozenset({"U0CHKDEV01"})})
    built = Root(settings).runtime(notifier=RecordingNotifier(), directory=directory).pipeline
    yield built
    await built.store.close()


async def _triaged(pipeline: Pipeline, service: str) -> tuple[str, list[str]]:
    body = json.dumps(
        {
            "title": "cart-service 5xx error rate high, pods crashloop",
            "service": service,
            "severity": "high",
            "labels": {"deployment": "cart-api"},
        }
    ).encode()
    receipt = await pipeline.ingest("generic", body, "application/json", NOW)
    incident_id = receipt.new_incident_ids[0]
    result = await pipeline.triage_incident(incident_id, NOW)
    assert result is not None and result.requests
    return incident_id, [r.id for r in result.requests]


@pytest.mark.parametrize(
    ("service", "flags"),
    [("cart\u200b-service", ["invisible_chars"]), ("\uff43art-service", ["non_ascii"])],
)
async def test_lookalike_alert_flags_travel_into_every_decision(
    pipeline: Pipeline, service: str, flags: list[str]
) -> None:
    incident_id, request_ids = await _triaged(pipeline, service)
    incident = await pipeline.store.get_incident(incident_id)
    assert incident.service == "cart-service"
    assert incident.service_flags == flags
    for request_id in request_ids:
        request = await pipeline.store.get_action_request(request_id)
        assert request.proposal.service == "cart-service"
        assert request.state is ActionState.PENDING_APPROVAL
        assert request.decision.approvals_required == 2
        assert "service.lookalike_incident" in [h.rule_id for h in request.decision.reasons]

    first = request_ids[0]
    await pipeline.vote(first, "U0CARTDEV1", "approve", NOW)
    after_one = await pipeline.store.get_action_request(first)
    assert after_one.state is ActionState.PENDING_APPROVAL, "one person is not enough"
    await pipeline.vote(first, "U0CHKDEV01", "approve", NOW)
    after_two = await pipeline.store.get_action_request(first)
    assert after_two.state is ActionState.SUCCEEDED
    assert after_two.approvers == ["U0CARTDEV1", "U0CHKDEV01"]


async def test_clean_alert_needs_one_approval(pipeline: Pipeline) -> None:
    incident_id, request_ids = await _triaged(pipeline, "cart-service")
    assert (await pipeline.store.get_incident(incident_id)).service_flags == []
    first = request_ids[0]
    assert (await pipeline.store.get_action_request(first)).decision.approvals_required == 1
    await pipeline.vote(first, "U0CARTDEV1", "approve", NOW)
    assert (await pipeline.store.get_action_request(first)).state is ActionState.SUCCEEDED


async def test_asking_again_keeps_the_lookalike_flags(pipeline: Pipeline) -> None:
    """A failed request on a look-alike incident asked for again is judged with the flags."""
    incident_id, request_ids = await _triaged(pipeline, "cart\u200b-service")
    failed = await pipeline.store.get_action_request(request_ids[0])
    failed.state = ActionState.FAILED
    await pipeline.store.update_action_request(failed)

    again = await pipeline.request_again(failed.id, "U0CARTDEV1", NOW)
    assert again.request is not None and again.request.retry_of == failed.id
    rules = [h.rule_id for h in again.request.decision.reasons]
    assert "service.lookalike_incident" in rules
    assert again.request.decision.approvals_required == 2
