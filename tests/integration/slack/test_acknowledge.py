"""`/incident ack`, sent as a signed slash command to a running bot."""

from __future__ import annotations

import json
import re

import pytest

from tests.integration.slack.harness import BotProcess
from tests.integration.slack.recorder import Call, SlackRecorder

pytestmark = pytest.mark.integration

INCIDENT_ID = re.compile(r"inc-[0-9a-f]{10}")


def responded(recorder: SlackRecorder, hook: str, text: str) -> Call:
    return recorder.wait_for(
        "response_url", lambda c: c.args["hook"] == hook and text in json.dumps(c.args)
    )[0]


def test_ack_records_who_took_the_incident_once(bot: BotProcess, recorder: SlackRecorder) -> None:
    bot.command("declare ACK-ONE checkout is down SEV1", hook="declare")
    posted = recorder.wait_for(
        "chat.postMessage",
        lambda c: "ACK-ONE" in c.args.get("text", "") and "declared" in c.args["text"],
    )[0]
    found = INCIDENT_ID.search(posted.args["text"])
    assert found is not None
    incident_id = found.group(0)

    answer = bot.command("ack one two", hook="ack-usage")
    assert "takes one incident id" in answer.body.decode()

    bot.command(f"ack {incident_id}", user="U0RESPOND1", hook="ack")
    acked = responded(recorder, "ack", "acknowledged")
    assert acked.args["response_type"] == "in_channel"
    assert "<@U0RESPOND1> acknowledged" in acked.args["text"]
    assert "<@U0ONCALL01> leads it" in acked.args["text"]  # the declarer stays commander

    # No id: the incident of this channel; someone else is told who took it.
    bot.command("ack", user="U0LATECOMER", hook="ack-again")
    again = responded(recorder, "ack-again", "already acknowledged")
    assert "<@U0RESPOND1>" in again.args["text"]

    bot.command("ack inc-ffffffffff", hook="ack-missing")
    responded(recorder, "ack-missing", "No incident `inc-ffffffffff`")

    bot.command(f"timeline {incident_id}", hook="timeline")
    timeline = responded(recorder, "timeline", "incident.acknowledged")
    assert json.dumps(timeline.args).count("incident.acknowledged") == 1


def test_the_cards_acknowledge_button_takes_the_incident_and_leaves_the_card(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    bot.command("triage ACK-CARD checkout pods return 500 errors", hook="triage")
    card = recorder.wait_for(
        "chat.postMessage", lambda c: "ACK-CARD" in json.dumps(c.args) and "blocks" in c.args
    )[0]
    raw = card.args["blocks"]
    blocks = json.loads(raw) if isinstance(raw, str) else raw
    buttons = [
        e
        for b in blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "incident_acknowledge"
    ]
    assert len(buttons) == 1
    incident_id = buttons[0]["value"]
    ts = card.answer["ts"]

    answer = bot.click(
        "incident_acknowledge",
        incident_id,
        "U0RESPOND2",
        channel=card.args["channel"],
        message_ts=ts,
        block_id=f"ack:{incident_id}",
    )
    assert answer.status == 200
    recorder.wait_for(
        "chat.postEphemeral",
        lambda c: c.args.get("user") == "U0RESPOND2" and "acknowledged" in c.args.get("text", ""),
    )
    # The card is re-rendered in place, without the button.
    updated = recorder.wait_for(
        "chat.update",
        lambda c: c.args.get("ts") == ts and "incident_acknowledge" not in json.dumps(c.args),
    )
    assert updated
    bot.command(f"timeline {incident_id}", hook="card-timeline")
    responded(recorder, "card-timeline", "incident.acknowledged")
