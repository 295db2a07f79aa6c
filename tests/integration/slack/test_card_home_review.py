"""End to end over HTTP: follow-up alerts on the card, the App Home tab, notes, pins and the
post-incident review uploaded as a markdown file with display names."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.models import Incident
from bot.store.sqlite import SQLiteStore
from tests.integration.slack.conftest import scripted_triage
from tests.integration.slack.harness import INCIDENT_CHANNEL, BotProcess
from tests.integration.slack.recorder import Call, SlackRecorder

pytestmark = pytest.mark.integration

APPROVE = "request_approve"
STARTS = "2026-11-24T02:{minute:02d}:00Z"


def alert(bot: BotProcess, marker: str, minute: int) -> None:
    answer = bot.alert(
        "generic",
        {
            "title": f"{marker} checkout 5xx error rate above SLO",
            "service": "checkout",
            "severity": "high",
            "starts_at": STARTS.format(minute=minute),
            "url": "https://grafana.example/d/checkout?from=now-1h&to=now",
            "labels": {"alertname": f"{marker}Errors"},
        },
    )
    assert answer.status == 202, answer.body


def card_of(recorder: SlackRecorder, marker: str) -> Call:
    return recorder.wait_for(
        "chat.postMessage",
        lambda c: c.args.get("channel") == INCIDENT_CHANNEL
        and marker in json.dumps(c.args)
        and bool(c.args.get("blocks")),
        timeout=20,
    )[0]


def blocks_text(call: Call) -> str:
    return json.dumps(call.args.get("blocks", []))


def test_follow_up_alerts_update_the_count_and_post_one_threaded_line(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    recorder.triages["CARD2AM"] = scripted_triage("checkout", [])
    alert(bot, "CARD2AM", 1)
    card = card_of(recorder, "CARD2AM")
    ts = card.answer["ts"]
    header = card.args["blocks"][0]["text"]["text"]
    assert header == "SEV1 · checkout · CARD2AM checkout 5xx error rate above SLO" or (
        header.endswith("· checkout · CARD2AM checkout 5xx error rate above SLO")
    )
    assert "|source>" in blocks_text(card) and "&amp;to=now" in blocks_text(card)
    alert(bot, "CARD2AM", 2)
    recorder.wait_for(
        "chat.update", lambda c: c.args.get("ts") == ts and "*2 alerts*" in blocks_text(c)
    )
    lines = recorder.wait_for(
        "chat.postMessage",
        lambda c: c.args.get("thread_ts") == ts and "Another alert" in c.args.get("text", ""),
    )
    assert "(2 alert(s) so far)" in lines[0].args["text"]
    alert(bot, "CARD2AM", 3)
    recorder.wait_for(
        "chat.update", lambda c: c.args.get("ts") == ts and "*3 alerts*" in blocks_text(c)
    )
    # within FOLLOW_UP_NOTE_SECONDS a second follow-up refreshes the card but says nothing
    said = recorder.find(
        "chat.postMessage",
        lambda c: c.args.get("thread_ts") == ts and "Another alert" in c.args.get("text", ""),
    )
    assert len(said) == 1


def home_click(bot: BotProcess, user: str, value: str, block_id: str) -> None:
    """Approve on the Home tab: a view container, no channel and no message."""
    payload = {
        "type": "block_actions",
        "team": {"id": "T0TEST0001", "domain": "test"},
        "user": {"id": user, "username": user.lower(), "team_id": "T0TEST0001"},
        "api_app_id": "A0TEST0001",
        "token": "unused",
        "container": {"type": "view", "view_id": "V0HOME0001"},
        "trigger_id": "1337.44.abcd",
        "view": {"id": "V0HOME0001", "type": "home", "hash": "1.home"},
        "actions": [
            {
                "action_id": APPROVE,
                "block_id": block_id,
                "text": {"type": "plain_text", "text": "Approve"},
                "value": value,
                "type": "button",
                "action_ts": str(time.time()),
            }
        ],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    assert bot.signed(body, "application/x-www-form-urlencoded").status == 200


def test_home_tab_lists_the_viewers_pending_approval_and_its_approve_works(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    restart = ("restart_deployment", {"deployment": "checkout-api"})
    recorder.triages["HOME-APPROVE"] = scripted_triage("checkout", [restart])
    alert(bot, "HOME-APPROVE", 5)
    card = card_of(recorder, "HOME-APPROVE")
    # U0CHKDEV01 approves through the S0CHECKOUT group, resolved through usergroups.users.list
    bot.event({"type": "app_home_opened", "user": "U0CHKDEV01", "tab": "home"})
    published = recorder.wait_for(
        "views.publish",
        lambda c: c.args.get("user_id") == "U0CHKDEV01" and "HOME-APPROVE" in json.dumps(c.args),
        timeout=15,
    )[0]
    view = published.args["view"]
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    buttons = [
        (block["block_id"], e)
        for block in view["blocks"]
        if block["type"] == "actions"
        for e in block["elements"]
        if e["action_id"] == APPROVE
    ]
    card_values = {
        e.get("value")
        for b in card.args["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    }
    block_id, approve = next((b, e) for b, e in buttons if e["value"] in card_values)
    home_click(bot, "U0CHKDEV01", approve["value"], block_id)
    ts = card.answer["ts"]
    recorder.wait_for(
        "chat.update",
        lambda c: c.args.get("ts") == ts and "Approved by &lt;@U0CHKDEV01&gt;" not in blocks_text(c)
        and "Approved by <@U0CHKDEV01>" in blocks_text(c),
        timeout=20,
    )
    # someone outside the group sees nothing to approve
    bot.event({"type": "app_home_opened", "user": "U0NOBODY01", "tab": "home"})
    other = recorder.wait_for("views.publish", lambda c: c.args.get("user_id") == "U0NOBODY01")
    assert "Nothing waits for your approval" in json.dumps(other[0].args)


def incident_in(bot: BotProcess, channel: str) -> Incident:
    async def find() -> Incident:
        store = SQLiteStore(Path(bot.env["SQLITE_PATH"]))
        try:
            for incident in await store.list_incidents(limit=200):
                if incident.conversation and incident.conversation.channel == channel:
                    return incident
            raise AssertionError(f"no incident in {channel}")
        finally:
            await store.close()

    deadline = time.monotonic() + 15
    while True:
        try:
            return asyncio.run(find())
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_note_pin_then_postmortem_uploads_a_markdown_file_with_display_names(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    room = "C0PMROOM01"
    recorder.people.update({"U0ONCALL01": "Olivia Oncall", "U0PINNER01": "Pat Pinner"})
    assert bot.command("declare PM-REVIEW checkout payments failing SEV1", channel=room).status
    incident = incident_in(bot, room)
    assert bot.command("note rolled back the canary at 02:20", channel=room).status == 200
    recorder.wait_for(
        "response_url", lambda c: "rolled back the canary" in json.dumps(c.args), timeout=15
    )
    pin: dict[str, Any] = {
        "type": "pin_added",
        "user": "U0PINNER01",
        "channel_id": room,
        "item": {
            "type": "message",
            "channel": room,
            "message": {"type": "message", "text": "PINNED-FACT: pay API returns 502", "ts": "9.1"},
        },
        "event_ts": str(time.time()),
    }
    bot.event(pin)
    bot.event(pin)  # the same pin twice is recorded once
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert bot.command(f"timeline {incident.id}", channel=room, hook="tl").status == 200
        seen = recorder.find("response_url", lambda c: "PINNED-FACT" in json.dumps(c.args))
        if seen:
            break
        time.sleep(0.3)
    assert bot.command(f"postmortem {incident.id}", channel=room).status == 200
    done = recorder.wait_for(
        "files.completeUploadExternal", lambda c: c.args.get("channel_id") == room, timeout=20
    )
    file_id = json.loads(done[0].args["files"])[0]["id"]
    upload = recorder.uploads[file_id]
    assert upload.filename == f"postmortem-{incident.id}.md"
    review = upload.content.decode()
    for heading in ("## Summary", "## Impact", "## Key times", "## Timeline", "## Follow-ups"):
        assert heading in review
    assert "rolled back the canary at 02:20" in review
    assert review.count("PINNED-FACT") == 1 and "pinned message" in review
    assert "**Olivia Oncall** | note" in review and "**Pat Pinner** | pinned message" in review
    assert recorder.find("users.info", lambda c: c.args.get("user") == "U0ONCALL01")
    recorder.wait_for(
        "response_url", lambda c: f"postmortem-{incident.id}.md" in json.dumps(c.args)
    )
