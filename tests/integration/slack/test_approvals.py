"""End to end over HTTP: webhook alert -> triage card -> signed button clicks -> execution."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from bot.models import ActionRequest, ActionState, Event
from bot.store.sqlite import SQLiteStore
from tests.integration.slack.harness import INCIDENT_CHANNEL, BotProcess
from tests.integration.slack.recorder import (
    BOT_ID,
    Call,
    Failure,
    SlackRecorder,
    refused,
    server_error,
)

pytestmark = pytest.mark.integration

APPROVE, DENY = "request_approve", "request_deny"


def stored(bot: BotProcess) -> SQLiteStore:
    return SQLiteStore(Path(bot.env["SQLITE_PATH"]))


def events_of(bot: BotProcess, incident_id: str) -> list[Event]:
    store = stored(bot)
    try:
        return asyncio.run(store.list_events(incident_id))
    finally:
        asyncio.run(store.close())


def request_of(bot: BotProcess, request_id: str) -> ActionRequest:
    store = stored(bot)
    try:
        return asyncio.run(store.get_action_request(request_id))
    finally:
        asyncio.run(store.close())


def mentions(marker: str) -> Any:
    return lambda call: marker in json.dumps(call.args)


def buttons(call: Call) -> list[dict[str, Any]]:
    found = []
    for block in call.args.get("blocks", []):
        if block["type"] == "actions":
            found.extend(block["elements"])
    return found


def vote_buttons(call: Call) -> dict[str, list[str]]:
    """{request id: [action ids]} of the Approve/Deny buttons on a card."""
    found: dict[str, list[str]] = {}
    for element in buttons(call):
        if element["action_id"] in (APPROVE, DENY):
            found.setdefault(element["value"].partition(":")[0], []).append(element["action_id"])
    return found


def vote_value(call: Call, request_id: str) -> str:
    """What a click on the card's Approve / Deny sends: ``"<request id>:<plan hash prefix>"``."""
    values = {
        e["value"]
        for e in buttons(call)
        if e["action_id"] in (APPROVE, DENY) and e["value"].startswith(f"{request_id}:")
    }
    assert len(values) == 1, values
    return values.pop()


def card_for(bot: BotProcess, recorder: SlackRecorder, marker: str, service: str) -> Call:
    answer = bot.alert(
        "generic",
        {
            "title": f"{marker} {service} 5xx error rate above SLO",
            "service": service,
            "severity": "high",
            "description": "HTTP 500 on POST /cart; Authorization: Bearer "
            + "abcdefghijklmnopqrstuvwxyz123456",
            "labels": {"deployment": f"{service}-api", "alertname": f"{marker}Errors"},
        },
    )
    assert answer.status == 202, answer.body
    posted = recorder.wait_for(
        "chat.postMessage",
        lambda c: (
            c.args.get("channel") == INCIDENT_CHANNEL
            and mentions(marker)(c)
            and bool(c.args.get("blocks"))
            and c.status == 200
        ),
        timeout=20,
    )
    return posted[0]


def ephemeral_to(recorder: SlackRecorder, user: str, text: str, count: int = 1) -> list[Call]:
    return recorder.wait_for(
        "chat.postEphemeral",
        lambda c: c.args.get("user") == user and text in c.args.get("text", ""),
        count=count,
    )


def test_card_shows_evidence_above_buttons_and_redacts(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    card = card_for(bot, recorder, "CHK-APPROVE", "checkout")
    blocks = card.args["blocks"]
    kinds = [b.get("block_id", b["type"]) for b in blocks]
    evidence = kinds.index("evidence")
    first_buttons = next(i for i, b in enumerate(blocks) if b["type"] == "actions")
    assert evidence < first_buttons
    flat = json.dumps(card.args)
    assert "hunter2secret" not in flat
    assert "abcdefghijklmnopqrstuvwxyz123456" not in flat
    assert "[REDACTED" in flat
    assert "deployment=checkout-api" in flat
    # One pending request gets Approve + Deny; the failover policy refused is shown blocked.
    pending = vote_buttons(card)
    assert len(pending) == 1
    assert sorted(next(iter(pending.values()))) == [APPROVE, DENY]
    assert "failover_region" in flat and "Blocked" in flat
    assert "Decision *deny*" in flat
    feedback = [e for e in buttons(card) if e["action_id"].startswith("triage_")]
    assert {e["value"] for e in feedback} == {feedback[0]["value"]}
    assert feedback[0]["value"].startswith("tri-")
    # The plain-text fallback carries the same card content.
    assert "CHK-APPROVE" in card.args["text"] and "Evidence" in card.args["text"]


def test_approval_flow_refusals_then_execution_once(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    card = card_for(bot, recorder, "CHK-APPROVE-2", "checkout")
    request_id = next(iter(vote_buttons(card)))

    assert bot.click(APPROVE, vote_value(card, request_id), "U0RANDOM01").status == 200
    ephemeral_to(recorder, "U0RANDOM01", "not an approver")
    assert request_of(bot, request_id).state is ActionState.PENDING_APPROVAL

    answer = bot.click(APPROVE, vote_value(card, request_id), "U0CHKDEV01")
    assert answer.status == 200
    request = _wait_state(bot, request_id, ActionState.SUCCEEDED)
    assert request.approvers == ["U0CHKDEV01"]
    assert request.result is not None
    recorder.wait_for(
        "chat.update",
        lambda c: request_id in json.dumps(c.args) and "Succeeded" in json.dumps(c.args),
    )
    after = recorder.find("chat.update", mentions(request_id))[-1]
    assert vote_buttons(after) == {}

    # Double click and late clicks are refused; the action ran exactly once.
    bot.click(APPROVE, vote_value(card, request_id), "U0CHKDEV01")
    ephemeral_to(recorder, "U0CHKDEV01", "already voted")
    bot.click(APPROVE, vote_value(card, request_id), "U0CHKLEAD1")
    ephemeral_to(recorder, "U0CHKLEAD1", "no longer waiting")
    kinds = [e.kind for e in events_of(bot, request.incident_id)]
    assert kinds.count("action.succeeded") == 1
    assert kinds.count("action.vote_refused") == 3


def test_critical_service_needs_two_distinct_approvers(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    card = card_for(bot, recorder, "AUTH-TWO", "auth-service")
    request_id = next(iter(vote_buttons(card)))
    bot.click(APPROVE, vote_value(card, request_id), "U0IDSRE001")
    _eventually(lambda: len(request_of(bot, request_id).approvals) == 1)
    assert request_of(bot, request_id).state is ActionState.PENDING_APPROVAL
    recorder.wait_for("chat.update", lambda c: "1 so far" in json.dumps(c.args))
    bot.click(APPROVE, vote_value(card, request_id), "U0IDLEAD01")
    request = _wait_state(bot, request_id, ActionState.SUCCEEDED)
    assert request.approvers == ["U0IDSRE001", "U0IDLEAD01"]


def test_deny_closes_the_request(bot: BotProcess, recorder: SlackRecorder) -> None:
    # The first chat.postMessage of this card is rate limited once: the client waits and retries.
    recorder.fail_next(
        "chat.postMessage",
        Failure(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "0"}, "CHK-DENY"),
    )
    card = card_for(bot, recorder, "CHK-DENY", "checkout")
    attempts = recorder.find("chat.postMessage", mentions("CHK-DENY"))
    assert [c.status for c in attempts] == [429, 200]
    request_id = next(iter(vote_buttons(card)))
    bot.click(DENY, vote_value(card, request_id), "U0CHKDEV02")
    request = _wait_state(bot, request_id, ActionState.DENIED)
    assert request.result is None
    recorder.wait_for(
        "chat.update", lambda c: request_id in json.dumps(c.args) and "Denied" in json.dumps(c.args)
    )
    bot.click(APPROVE, vote_value(card, request_id), "U0CHKDEV01")
    ephemeral_to(recorder, "U0CHKDEV01", "no longer waiting")
    assert request_of(bot, request_id).state is ActionState.DENIED


def test_requester_cannot_approve_their_own_request(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    assert bot.command("triage CHK-SELF checkout returns 500s", user="U0CHKLEAD1").status == 200
    card = recorder.wait_for(
        "chat.postMessage", lambda c: mentions("CHK-SELF")(c) and bool(c.args.get("blocks"))
    )[0]
    assert card.args["channel"] == "C0WARROOM1"
    request_id = next(iter(vote_buttons(card)))
    bot.click(APPROVE, vote_value(card, request_id), "U0CHKLEAD1", channel="C0WARROOM1")
    ephemeral_to(recorder, "U0CHKLEAD1", "requester cannot approve")
    assert request_of(bot, request_id).state is ActionState.PENDING_APPROVAL


def test_unknown_request_is_refused_cleanly(bot: BotProcess, recorder: SlackRecorder) -> None:
    for value in ("act-0000000000", "'; DROP TABLE action_requests; --", ""):
        answer = bot.click(APPROVE, value, "U0CHKDEV01")
        assert answer.status == 200
    calls = ephemeral_to(recorder, "U0CHKDEV01", "does not exist", count=3)
    assert all("Traceback" not in c.args["text"] for c in calls)


def test_feedback_is_stored(bot: BotProcess, recorder: SlackRecorder) -> None:
    card = card_for(bot, recorder, "CHK-APPROVE-3", "checkout")
    helpful = next(e for e in buttons(card) if e["action_id"] == "triage_helpful")
    block = next(
        b["block_id"] for b in card.args["blocks"] if b.get("block_id", "").startswith("feedback:")
    )
    bot.click("triage_helpful", helpful["value"], "U0ONCALL02", block_id=block)
    ephemeral_to(recorder, "U0ONCALL02", "helpful")
    incident_id = block.split(":")[1]
    store = stored(bot)
    try:
        feedback = asyncio.run(store.list_feedback(incident_id))
    finally:
        asyncio.run(store.close())
    assert [(f.user_id, f.helpful, f.triage_id) for f in feedback] == [
        ("U0ONCALL02", True, helpful["value"])
    ]


def test_bad_signature_and_stale_timestamp_get_401(bot: BotProcess) -> None:
    body = b"command=%2Fincident&text=help&user_id=U1&channel_id=C1"
    form = "application/x-www-form-urlencoded"
    assert bot.signed(body, form).status == 200
    assert bot.signed(body, form, secret="wrong-secret").status == 401
    assert bot.signed(body, form, timestamp=int(time.time()) - 600).status == 401


def test_alert_channel_message_is_triaged_in_its_thread(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    message = {
        "type": "message",
        "subtype": "bot_message",
        "bot_id": "B0GRAFANA1",
        "username": "Grafana",
        "channel": "C0ALERTS01",
        "ts": "1790000999.000100",
        "text": "",
        "attachments": [
            {
                "title": "[FIRING:1] CHK-CHANNEL checkout 5xx error rate",
                "text": "5xx ratio 12% on checkout-api",
                "fields": [{"title": "service", "value": "checkout", "short": True}],
            }
        ],
    }
    assert bot.event(message).status == 200
    card = recorder.wait_for(
        "chat.postMessage", lambda c: mentions("CHK-CHANNEL")(c) and bool(c.args.get("blocks"))
    )[0]
    assert card.args["channel"] == "C0ALERTS01"
    assert card.args["thread_ts"] == "1790000999.000100"
    # Our own message in the alert channel is never ingested.
    own = {**message, "bot_id": BOT_ID, "ts": "1790001000.000100"}
    own["attachments"] = [{"title": "CHK-OWN checkout", "text": "our own card"}]
    assert bot.event(own).status == 200
    time.sleep(1.0)
    assert not recorder.find("llm", mentions("CHK-OWN"))


def _eventually(check: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _wait_state(bot: BotProcess, request_id: str, state: ActionState) -> ActionRequest:
    _eventually(lambda: request_of(bot, request_id).state is state)
    return request_of(bot, request_id)


def test_readiness_includes_slack_auth(bot: BotProcess, recorder: SlackRecorder) -> None:
    from tests.integration.slack.harness import http

    answer = http(f"{bot.url}/readyz", None, {}, "GET")
    assert answer.status == 200, answer.body
    assert answer.json()["checks"]["slack"] == "ok (test/incident-bot)"
    assert recorder.find("auth.test")


def test_invariant_8_click_from_an_old_card_is_refused_and_the_card_refreshed(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    card = card_for(bot, recorder, "CHK-APPROVE-STALE", "checkout")
    request_id = next(iter(vote_buttons(card)))
    value = vote_value(card, request_id)
    shown = value.partition(":")[2]
    request = request_of(bot, request_id)
    assert request.plan is not None and shown == request.plan_hash[:16]
    # The plan is on the card, and Approve (a state change) asks for confirmation showing it.
    command = "kubectl --namespace shop rollout restart deployment checkout-api"
    plan_block = next(b for b in card.args["blocks"] if b.get("block_id") == f"plan:{request_id}")
    assert command in plan_block["text"]["text"]
    approve = next(e for e in buttons(card) if e["action_id"] == APPROVE and e["value"] == value)
    confirm = approve["confirm"]
    assert command in confirm["text"]["text"] and len(confirm["text"]["text"]) <= 300
    assert len(confirm["title"]["text"]) <= 100 and confirm["confirm"]["type"] == "plain_text"

    updates_before = len(recorder.find("chat.update", mentions(request_id)))
    bot.click(APPROVE, f"{request_id}:{'0' * 16}", "U0CHKDEV01")
    ephemeral_to(recorder, "U0CHKDEV01", "card is out of date")
    recorder.wait_for("chat.update", mentions(request_id), count=updates_before + 1)
    refreshed = recorder.find("chat.update", mentions(request_id))[-1]
    assert vote_value(refreshed, request_id) == value
    assert request_of(bot, request_id).state is ActionState.PENDING_APPROVAL
    assert request_of(bot, request_id).approvals == []
    # A button that carries no hash at all (a card from before plans) is refused the same way.
    bot.click(APPROVE, request_id, "U0CHKDEV02")
    ephemeral_to(recorder, "U0CHKDEV02", "card is out of date")

    bot.click(APPROVE, value, "U0CHKDEV01")
    done = _wait_state(bot, request_id, ActionState.SUCCEEDED)
    assert done.result is not None and done.result["plan"]["argv"] == command.split()
    kinds = [e.kind for e in events_of(bot, request.incident_id)]
    assert kinds.count("action.vote_refused") == 2 and kinds.count("action.succeeded") == 1


def test_a_refusal_where_the_bot_may_not_whisper_reaches_the_person_directly(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    """Slack refuses the ephemeral answer (the bot is not in the channel): the person gets it
    in their direct messages with the app, never silently dropped."""
    card = card_for(bot, recorder, "CHK-APPROVE-4", "checkout")  # a scripted triage
    request_id = next(iter(vote_buttons(card)))
    recorder.fail_next("chat.postEphemeral", refused("not_in_channel"), times=1)
    assert bot.click(APPROVE, vote_value(card, request_id), "U0WHISPER1").status == 200
    direct = recorder.wait_for(
        "chat.postMessage",
        lambda c: c.args.get("channel") == "U0WHISPER1" and "not an approver" in c.args["text"],
        timeout=20,
    )[0]
    assert direct.ok
    # the refused whisper was tried first, in the card's thread
    tried = recorder.find("chat.postEphemeral", lambda c: c.args.get("user") == "U0WHISPER1")
    assert tried and not tried[0].ok
    assert request_of(bot, request_id).state is ActionState.PENDING_APPROVAL


def test_a_refusal_slack_fails_to_take_is_sent_again(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    """Slack answers 500 to the whisper, then takes it: the reply goes through the durable
    outbox like every message, so the person is answered late rather than never."""
    card = card_for(bot, recorder, "CHK-APPROVE-5", "checkout")
    request_id = next(iter(vote_buttons(card)))
    recorder.fail_next("chat.postEphemeral", server_error(when="U0RETRYME1"), times=1)
    assert bot.click(APPROVE, vote_value(card, request_id), "U0RETRYME1").status == 200
    whispers = recorder.wait_for(
        "chat.postEphemeral",
        lambda c: c.args.get("user") == "U0RETRYME1" and "not an approver" in c.args["text"],
        count=2,
        timeout=30,
    )
    assert [c.ok for c in whispers] == [False, True]
    assert whispers[1].args == whispers[0].args  # the same reply, in the same thread
