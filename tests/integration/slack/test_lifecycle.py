"""Safety invariant 7 against the running server: the incident's state is part of the gate.

Resolving an incident (by a person with `/incident resolve`, or by its source resolving the
alerts) cancels its waiting requests, takes the buttons off their cards with the reason, refuses
later clicks, and stops their reminders. A new firing alert for the same group afterwards opens
a new incident with a fresh triage; the old requests stay cancelled.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.models import ActionState, IncidentStatus
from tests.integration.slack.conftest import scripted_triage
from tests.integration.slack.harness import PROJECT, BotProcess, bot_env
from tests.integration.slack.recorder import Call, SlackRecorder
from tests.integration.slack.test_approvals import (
    APPROVE,
    _eventually,
    _wait_state,
    card_for,
    ephemeral_to,
    events_of,
    mentions,
    request_of,
    stored,
    vote_buttons,
    vote_value,
)

pytestmark = pytest.mark.integration

ADMIN = "U0ADMIN001"
APPROVER = "U0CHKDEV01"  # in S0CHECKOUT, an approver group of checkout
SERVICE_APPROVER = "U0CHKLEAD1"  # named directly as a checkout approver
OUTSIDER = "U0RANDOM77"
RESOLVED_ANSWER = "The incident is resolved"
RESTART = ("restart_deployment", {"deployment": "checkout-api"})
MARKERS = ("LIFE-CMD", "LIFE-SRC", "LIFE-AUTH", "LIFE-NAG-A", "LIFE-NAG-B", "LIFE-AGAIN")


@pytest.fixture(scope="module")
def bot(recorder: SlackRecorder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    for marker in MARKERS:
        recorder.triages[marker] = scripted_triage("checkout", [RESTART])
    workdir = tmp_path_factory.mktemp("bot-lifecycle")
    env = bot_env(
        workdir,
        recorder.url,
        INCIDENT_ADMINS=ADMIN,
        APPROVAL_TTL_SECONDS="600",
        APPROVAL_REMINDER_SECONDS="1",
        SCHEDULER_INTERVAL_SECONDS="0.25",
    )
    process = BotProcess(workdir, env).start()
    yield process
    process.stop()


# helpers -------------------------------------------------------------------------------------
def responded(recorder: SlackRecorder, hook: str, text: str) -> Call:
    return recorder.wait_for(
        "response_url", lambda c: c.args["hook"] == hook and text in json.dumps(c.args)
    )[0]


def reported_card(bot: BotProcess, recorder: SlackRecorder, marker: str, user: str) -> Call:
    """`/incident triage` by ``user``: the card of the incident their report opened."""
    assert bot.command(f"triage {marker} checkout returns 500s", user=user).status == 200
    return recorder.wait_for(
        "chat.postMessage",
        lambda c: mentions(marker)(c) and bool(c.args.get("blocks")) and c.status == 200,
        timeout=20,
    )[0]


def incident_status(bot: BotProcess, incident_id: str) -> IncidentStatus:
    store = stored(bot)
    try:
        return asyncio.run(store.get_incident(incident_id)).status
    finally:
        asyncio.run(store.close())


def cli_timeline(bot: BotProcess, incident_id: str) -> str:
    """`incident-bot timeline ID` against the running bot's database."""
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "timeline", incident_id],
        cwd=bot.workdir,
        env={**os.environ, **bot.env, "PYTHONPATH": str(PROJECT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def assert_cancelled_and_refused(
    bot: BotProcess, recorder: SlackRecorder, card: Call, request_id: str
) -> None:
    """The request is cancelled, its card lost its buttons and says why, a click is refused."""
    request = _wait_state(bot, request_id, ActionState.CANCELLED)
    assert request.error is not None and "incident resolved" in request.error
    update = recorder.wait_for(
        "chat.update",
        lambda c: (
            request_id in json.dumps(c.args)
            and "Cancelled: incident resolved"
            in json.dumps(c.args["blocks"] if "blocks" in c.args else "")
        ),
    )[-1]
    assert vote_buttons(update) == {}
    # A stale card (a client that never re-rendered) still has the button: the click is refused.
    click_refused(bot, recorder, card, request_id)
    after = request_of(bot, request_id)
    assert after.state is ActionState.CANCELLED
    assert after.approvals == [] and after.result is None
    kinds = [e.kind for e in events_of(bot, request.incident_id)]
    assert kinds.count("action.cancelled") == 1
    assert "action.vote_refused" in kinds
    assert not {"action.approved", "action.executing", "action.succeeded"} & set(kinds)


def click_refused(bot: BotProcess, recorder: SlackRecorder, card: Call, request_id: str) -> None:
    """An eligible approver clicks Approve and is told the incident is resolved."""
    earlier = len(
        recorder.find(
            "chat.postEphemeral",
            lambda c: c.args.get("user") == APPROVER and RESOLVED_ANSWER in c.args.get("text", ""),
        )
    )
    bot.click(APPROVE, vote_value(card, request_id), APPROVER, channel=card.args["channel"])
    ephemeral_to(recorder, APPROVER, RESOLVED_ANSWER, count=earlier + 1)


def alertmanager(marker: str, status: str, starts: str, ends: str) -> dict[str, Any]:
    labels = {
        "alertname": f"{marker}Errors",
        "service": "checkout",
        "severity": "critical",
        "deployment": "checkout-api",
    }
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{marker}Errors"}}',
        "status": status,
        "receiver": "incident-bot",
        "groupLabels": {"alertname": labels["alertname"]},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": [
            {
                "status": status,
                "labels": labels,
                "annotations": {"summary": f"{marker} checkout 5xx above SLO"},
                "startsAt": starts,
                "endsAt": ends,
                "generatorURL": "",
                "fingerprint": f"{marker.lower()}0001",
            }
        ],
    }


def fire(bot: BotProcess, marker: str, starts: str) -> dict[str, Any]:
    answer = bot.alert(
        "alertmanager", alertmanager(marker, "firing", starts, "0001-01-01T00:00:00Z")
    )
    assert answer.status == 202, answer.body
    receipt: dict[str, Any] = answer.json()
    return receipt


def resolve_at_source(bot: BotProcess, marker: str, starts: str) -> dict[str, Any]:
    ends = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    answer = bot.alert("alertmanager", alertmanager(marker, "resolved", starts, ends))
    assert answer.status == 202, answer.body
    receipt: dict[str, Any] = answer.json()
    return receipt


def cards_of(recorder: SlackRecorder, marker: str, count: int = 1) -> list[Call]:
    return recorder.wait_for(
        "chat.postMessage",
        lambda c: mentions(marker)(c) and bool(c.args.get("blocks")) and c.status == 200,
        timeout=20,
        count=count,
    )


def nudges_of(recorder: SlackRecorder, request_id: str, after: float = 0.0) -> list[Call]:
    """Reminders and escalations about one request posted after ``after`` (monotonic)."""
    return recorder.find(
        "chat.postMessage",
        lambda c: (
            c.at > after
            and request_id in c.args.get("text", "")
            and (":hourglass:" in c.args["text"] or "nobody has acted" in c.args["text"])
        ),
    )


# (a) ------------------------------------------------------------------------------------------
def test_invariant_7_commander_resolving_cancels_waiting_requests(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    commander = "U0LIFECMD1"
    card = reported_card(bot, recorder, "LIFE-CMD", commander)
    request_id = next(iter(vote_buttons(card)))
    incident_id = request_of(bot, request_id).incident_id

    bot.command(f"resolve {incident_id} rolled back by hand", user=commander, hook="life-cmd")
    resolved = responded(recorder, "life-cmd", "resolved")
    assert resolved.args["response_type"] == "in_channel"
    assert incident_status(bot, incident_id) is IncidentStatus.RESOLVED
    assert_cancelled_and_refused(bot, recorder, card, request_id)

    timeline = cli_timeline(bot, incident_id)
    assert "incident.resolved" in timeline and "action.cancelled" in timeline
    assert timeline.index("incident.resolved") < timeline.index("action.cancelled")


# (b) ------------------------------------------------------------------------------------------
def test_invariant_7_source_resolving_cancels_waiting_requests(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    starts = "2026-11-24T02:00:00Z"
    opened = fire(bot, "LIFE-SRC", starts)
    card = cards_of(recorder, "LIFE-SRC")[0]
    request_id = next(iter(vote_buttons(card)))
    incident_id = request_of(bot, request_id).incident_id
    assert opened["new_incident_ids"] == [incident_id]

    closed = resolve_at_source(bot, "LIFE-SRC", starts)
    assert closed["incident_ids"] == [incident_id]
    _eventually(lambda: incident_status(bot, incident_id) is IncidentStatus.RESOLVED)
    assert_cancelled_and_refused(bot, recorder, card, request_id)
    recorder.wait_for(
        "chat.postMessage",
        lambda c: (
            c.args.get("thread_ts") is not None
            and "resolved at the source" in c.args.get("text", "")
        ),
    )


# (c) ------------------------------------------------------------------------------------------
def test_invariant_7_only_commander_approvers_or_admins_may_resolve(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    card = reported_card(bot, recorder, "LIFE-AUTH", "U0LIFEREP1")
    request_id = next(iter(vote_buttons(card)))
    incident_id = request_of(bot, request_id).incident_id

    bot.command(f"resolve {incident_id} not mine to close", user=OUTSIDER, hook="life-outsider")
    refused = responded(recorder, "life-outsider", "Only the commander")
    assert refused.args["response_type"] == "ephemeral"
    # The refusal is answered after the pipeline decided: nothing changed.
    assert incident_status(bot, incident_id) is IncidentStatus.OPEN
    assert request_of(bot, request_id).state is ActionState.PENDING_APPROVAL
    assert "incident.resolved" not in [e.kind for e in events_of(bot, incident_id)]

    bot.command(f"resolve {incident_id} closed by an admin", user=ADMIN, hook="life-admin")
    assert responded(recorder, "life-admin", "resolved").args["response_type"] == "in_channel"
    assert incident_status(bot, incident_id) is IncidentStatus.RESOLVED
    assert_cancelled_and_refused(bot, recorder, card, request_id)
    resolved = [e for e in events_of(bot, incident_id) if e.kind == "incident.resolved"]
    assert [e.actor for e in resolved] == [ADMIN]


# (d) ------------------------------------------------------------------------------------------
def test_invariant_7_resolving_stops_reminders_and_escalations(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    card_a = card_for(bot, recorder, "LIFE-NAG-A", "checkout")
    card_b = card_for(bot, recorder, "LIFE-NAG-B", "checkout")
    request_a = next(iter(vote_buttons(card_a)))
    request_b = next(iter(vote_buttons(card_b)))
    incident_a = request_of(bot, request_a).incident_id

    # The sweep reaches A while its incident is open (the sweep works)...
    recorder.wait_for(
        "chat.postMessage",
        lambda c: ":hourglass:" in c.args.get("text", "") and request_a in c.args["text"],
    )
    # ...then a checkout approver resolves A right after that reminder: A's next nudge is a
    # whole reminder period away, so nothing of A's can be in flight.
    bot.command(f"resolve {incident_a} fixed", user=SERVICE_APPROVER, hook="life-nag")
    responded(recorder, "life-nag", "resolved")
    _wait_state(bot, request_a, ActionState.CANCELLED)
    cancelled_at = time.monotonic()

    # B keeps being escalated: the sweep ran several times after A was cancelled.
    recorder.wait_for(
        "chat.postMessage",
        lambda c: (
            c.at > cancelled_at
            and request_b in c.args.get("text", "")
            and "nobody has acted" in c.args["text"]
        ),
        count=3,
    )
    assert nudges_of(recorder, request_a, after=cancelled_at) == []
    kinds = [e.kind for e in events_of(bot, incident_a)]
    cancelled = kinds.index("action.cancelled")
    assert kinds.count("action.reminded") == 1
    assert not {"action.reminded", "action.escalated"} & set(kinds[cancelled:])
    assert request_of(bot, request_b).state is ActionState.PENDING_APPROVAL


# (e) ------------------------------------------------------------------------------------------
def test_invariant_7_reopening_opens_a_new_incident_with_a_fresh_triage(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    first_start = "2026-11-24T03:00:00Z"
    fire(bot, "LIFE-AGAIN", first_start)
    first_card = cards_of(recorder, "LIFE-AGAIN")[0]
    old_request = next(iter(vote_buttons(first_card)))
    old_incident = request_of(bot, old_request).incident_id
    resolve_at_source(bot, "LIFE-AGAIN", first_start)
    _wait_state(bot, old_request, ActionState.CANCELLED)

    reopened = fire(bot, "LIFE-AGAIN", "2026-11-24T04:00:00Z")
    assert len(reopened["new_incident_ids"]) == 1
    new_incident = reopened["new_incident_ids"][0]
    assert new_incident != old_incident

    second_card = cards_of(recorder, "LIFE-AGAIN", count=2)[1]
    assert new_incident in json.dumps(second_card.args)
    assert len(recorder.find("llm", lambda c: "LIFE-AGAIN" in c.args["prompt"])) == 2
    new_request = next(iter(vote_buttons(second_card)))
    assert new_request != old_request
    assert request_of(bot, new_request).incident_id == new_incident
    assert request_of(bot, new_request).state is ActionState.PENDING_APPROVAL
    assert incident_status(bot, old_incident) is IncidentStatus.RESOLVED
    assert incident_status(bot, new_incident) is IncidentStatus.OPEN
    assert "triage.completed" in [e.kind for e in events_of(bot, new_incident)]

    # The old request stays cancelled; an approval on the new one runs only the new one.
    click_refused(bot, recorder, first_card, old_request)
    value = vote_value(second_card, new_request)
    bot.click(APPROVE, value, APPROVER, channel=second_card.args["channel"])
    _wait_state(bot, new_request, ActionState.SUCCEEDED)
    assert request_of(bot, old_request).state is ActionState.CANCELLED
    assert "action.succeeded" not in [e.kind for e in events_of(bot, old_incident)]
