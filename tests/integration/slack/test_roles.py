"""Roles through a running bot: `/incident assign` sent as signed slash commands, the on-call
commander of an alert's incident, and a declare in a channel the bot is not in."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.models import Incident
from bot.store.sqlite import SQLiteStore
from tests.integration.slack.harness import BotProcess
from tests.integration.slack.recorder import Call, SlackRecorder, refused

pytestmark = pytest.mark.integration

INCIDENT_ID = re.compile(r"inc-[0-9a-f]{10}")
REFERENCE = re.compile(r"INC-[0-9]+")
# Generous: the machine may be busy; nothing here measures time.
WAIT = 30.0


def responded(recorder: SlackRecorder, hook: str, text: str) -> Call:
    return recorder.wait_for(
        "response_url",
        lambda c: c.args["hook"] == hook and text in json.dumps(c.args),
        timeout=WAIT,
    )[0]


def stored(bot: BotProcess, incident_id: str) -> Incident:
    store = SQLiteStore(Path(bot.env["SQLITE_PATH"]))
    try:
        return asyncio.run(store.get_incident(incident_id))
    finally:
        asyncio.run(store.close())


def wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline, f"not in {WAIT}s: {what}"
        time.sleep(0.05)


def declared_id(recorder: SlackRecorder, marker: str) -> str:
    posted = recorder.wait_for(
        "chat.postMessage",
        lambda c: marker in c.args.get("text", "") and "declared" in c.args["text"],
        timeout=WAIT,
    )[0]
    found = INCIDENT_ID.search(posted.args["text"])
    assert found is not None
    return found.group(0)


def test_assign_hands_roles_over_and_says_so_in_the_channel(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    room = "C0ASSIGN01"
    bot.command("declare ASSIGN-ONE checkout is down SEV1", channel=room, hook="as-declare")
    incident_id = declared_id(recorder, "ASSIGN-ONE")
    # Slack took the announcement; the bot links the incident to this channel right after.
    wait_until(lambda: stored(bot, incident_id).conversation is not None, "linked to the channel")

    # No id: this channel's incident; the declarer (its commander) names a scribe.
    bot.command("assign <@U0SCRIBE01|sam> scribe", channel=room, hook="as-scribe")
    scribe = responded(recorder, "as-scribe", "made <@U0SCRIBE01> *scribe*")
    assert scribe.args["response_type"] == "in_channel"
    assert "<@U0ONCALL01> made" in scribe.args["text"]
    found = REFERENCE.search(scribe.args["text"])
    assert found is not None
    reference = found.group(0)

    # Someone who is neither commander, approver nor admin is refused, privately.
    bot.command("assign <@U0STRANGE01>", user="U0STRANGE01", channel=room, hook="as-stranger")
    stranger = responded(recorder, "as-stranger", "Only the commander")
    assert stranger.args["response_type"] == "ephemeral"

    # What is no person or no role is a usage error in the ack itself.
    typed = bot.command("assign @sam", channel=room, hook="as-typed")
    assert "is not a person" in typed.body.decode()
    assert "/incident assign" in typed.body.decode()
    unknown = bot.command("assign <@U0SCRIBE01> boss", channel=room, hook="as-role")
    assert "boss is not a role" in unknown.body.decode()

    # The commander hands command over, naming the incident by its number from elsewhere.
    bot.command(f"assign {reference} <@U0NEWLEAD1|nell>", channel="C0ELSEWHERE", hook="as-lead")
    lead = responded(recorder, "as-lead", "made <@U0NEWLEAD1> *commander*")
    assert "(was <@U0ONCALL01>)" in lead.args["text"]
    # The old commander may no longer hand roles over.
    bot.command("assign <@U0ONCALL01> comms", channel=room, hook="as-old")
    responded(recorder, "as-old", "Only the commander")

    bot.command(f"timeline {incident_id}", hook="as-timeline")
    timeline = responded(recorder, "as-timeline", "incident.role_assigned")
    assert json.dumps(timeline.args).count("incident.role_assigned") == 2

    # A resolved incident keeps its roles.
    bot.command(f"resolve {incident_id} fixed", user="U0NEWLEAD1", hook="as-resolve")
    responded(recorder, "as-resolve", "resolved")
    bot.command(f"assign {reference} <@U0SCRIBE01>", user="U0NEWLEAD1", hook="as-closed")
    responded(recorder, "as-closed", "is resolved; its roles no longer change")


def reported_card(
    bot: BotProcess, recorder: SlackRecorder, marker: str, reporter: str, room: str
) -> tuple[Call, str]:
    """``/incident triage`` in ``room`` by ``reporter``: its card and incident id, once the
    bot has written down where the card is (right after Slack took it)."""
    hook = f"{marker}-triage"
    bot.command(f"triage {marker} checkout pods return 500 errors", user=reporter,
                channel=room, hook=hook)
    card = recorder.wait_for(
        "chat.postMessage",
        lambda c: marker in json.dumps(c.args) and "blocks" in c.args and c.ok,
        timeout=WAIT,
    )[0]
    found = INCIDENT_ID.search(responded(recorder, hook, "Filed as").args["text"])
    assert found is not None
    incident_id = found.group(0)
    wait_until(lambda: stored(bot, incident_id).card is not None, "the card's place recorded")
    return card, incident_id


def test_assign_redraws_the_card_with_who_holds_each_role(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    room = "C0ASSIGN02"
    card, _ = reported_card(bot, recorder, "ASSIGN-CARD", "U0REPORT01", room)
    assert card.args["channel"] == room
    assert "Commander <@U0REPORT01>" in json.dumps(card.args["blocks"])  # the reporter leads
    bot.command("assign comms <@U0COMMS001|cam>", user="U0REPORT01", channel=room, hook="as-c")
    responded(recorder, "as-c", "made <@U0COMMS001> *comms*")
    recorder.wait_for(
        "chat.update",
        lambda c: c.args.get("ts") == card.answer["ts"]
        and "Commander <@U0REPORT01> · Comms <@U0COMMS001>"
        in json.dumps(c.args, ensure_ascii=False),
        timeout=WAIT,
    )


def test_an_alerts_incident_is_led_by_the_services_oncall_commander(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    answer = bot.alert(
        "generic",
        {
            "title": "ONCALL-LEAD checkout 5xx error rate above SLO",
            "service": "checkout",
            "severity": "high",
            "labels": {"deployment": "checkout-api", "alertname": "OncallLeadErrors"},
        },
    )
    assert answer.status == 202, answer.body
    incident_id = answer.json()["incident_ids"][0]
    card = recorder.wait_for(
        "chat.postMessage",
        lambda c: "ONCALL-LEAD" in json.dumps(c.args) and "blocks" in c.args and c.ok,
        timeout=WAIT,
    )[0]
    assert "Commander <@U0CHKONCALL>" in json.dumps(card.args["blocks"])
    bot.command(f"timeline {incident_id}", hook="oncall-timeline")
    timeline = responded(recorder, "oncall-timeline", "incident.role_assigned")
    assert "On-call commander U0CHKONCALL" in json.dumps(timeline.args)
    # The on-call commander may hand command over at once.
    bot.command(f"assign {incident_id} <@U0DEPUTY01>", user="U0CHKONCALL", hook="oncall-hand")
    responded(recorder, "oncall-hand", "(was <@U0CHKONCALL>)")


@pytest.mark.parametrize(
    ("error", "room"), [("not_in_channel", "C0PRIVATE01"), ("channel_not_found", "G0PRIVATE02")]
)
def test_a_declare_where_the_bot_is_not_a_member_says_to_invite_it(
    bot: BotProcess, recorder: SlackRecorder, error: str, room: str
) -> None:
    marker = f"NIC-{error}"
    recorder.fail_next("chat.postMessage", refused(error, when=room))
    bot.command(f"declare {marker} checkout is down SEV2", channel=room, hook=f"nic-{room}")
    answer = responded(recorder, f"nic-{room}", "/invite @incident-bot")
    assert answer.args["response_type"] == "ephemeral"
    assert f"`{error}`" in answer.args["text"]
    assert "Could not create an incident channel" not in answer.args["text"]
    refusal = recorder.wait_for(
        "chat.postMessage", lambda c: marker in c.args.get("text", ""), timeout=WAIT
    )
    assert refusal[0].failed and refusal[0].args["channel"] == room
    # The incident is declared all the same.
    bot.command("list", hook=f"nic-list-{room}")
    responded(recorder, f"nic-list-{room}", marker)


def test_a_report_where_the_bot_is_not_a_member_says_to_invite_it(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    room = "C0PRIVATE03"
    recorder.fail_next("chat.postMessage", refused("not_in_channel", when=room))
    bot.command("triage NIC-CARD checkout pods return 500 errors", channel=room, hook="nic-card")
    answer = responded(recorder, "nic-card", "could not be posted in this channel")
    assert "/invite @incident-bot" in answer.args["text"]
    card = recorder.find("chat.postMessage", lambda c: c.args.get("channel") == room)[0]
    assert card.failed and "NIC-CARD" in json.dumps(card.args) and card.args.get("blocks")


def hand_over_menu(call: Call) -> tuple[str, dict[str, object]]:
    """The card's controls block id and its "Hand command to…" people menu."""
    raw = call.args.get("blocks") or []
    blocks = json.loads(raw) if isinstance(raw, str) else raw
    for block in blocks:
        for element in block.get("elements", []):
            if element.get("action_id") == "incident_hand_over":
                return str(block["block_id"]), element
    raise AssertionError("the card has no Hand command to… menu")


def test_the_cards_people_menu_hands_command_over(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    room = "C0ASSIGN03"
    card, incident_id = reported_card(bot, recorder, "HAND-OVER", "U0REPORT02", room)
    ts = card.answer["ts"]
    block_id, menu = hand_over_menu(card)
    assert menu["initial_user"] == "U0REPORT02"  # the reporter leads and is shown

    # Someone who neither leads nor approves cannot take command from the reporter.
    assert bot.pick_user("incident_hand_over", "U0BYSTAND1", "U0BYSTAND1", room, ts,
                         block_id).status == 200
    recorder.wait_for(
        "chat.postEphemeral",
        lambda c: c.args.get("user") == "U0BYSTAND1"
        and c.args.get("thread_ts") == ts
        and "can hand its roles over" in c.args.get("text", ""),
        timeout=WAIT,
    )
    assert stored(bot, incident_id).commander == "U0REPORT02"

    # The commander hands over; the card redraws showing the new commander.
    bot.pick_user("incident_hand_over", "U0NEXTCMD1", "U0REPORT02", room, ts, block_id)
    wait_until(lambda: stored(bot, incident_id).commander == "U0NEXTCMD1", "handed over")
    redrawn = recorder.wait_for(
        "chat.update",
        lambda c: c.args.get("ts") == ts and "Commander <@U0NEXTCMD1>" in json.dumps(c.args),
        timeout=WAIT,
    )[0]
    new_block_id, now_shown = hand_over_menu(redrawn)
    assert now_shown["initial_user"] == "U0NEXTCMD1" and new_block_id != block_id

    # A forged block id naming another incident is refused: nothing changes there.
    forged = block_id.replace(incident_id, "inc-0000000000")
    bot.pick_user("incident_hand_over", "U0BYSTAND1", "U0NEXTCMD1", room, ts, forged)
    recorder.wait_for(
        "chat.postEphemeral",
        lambda c: c.args.get("user") == "U0NEXTCMD1" and "inc-0000000000" in c.args["text"],
        timeout=WAIT,
    )
    assert stored(bot, incident_id).commander == "U0NEXTCMD1"
