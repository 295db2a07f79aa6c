"""The scheduler sweeps of a running bot: remind, escalate, then expire an unapproved request."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from bot.models import ActionState
from tests.integration.slack.harness import BotProcess, bot_env
from tests.integration.slack.recorder import SlackRecorder
from tests.integration.slack.test_approvals import (
    APPROVE,
    card_for,
    ephemeral_to,
    events_of,
    request_of,
    vote_buttons,
    vote_value,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bot(recorder: SlackRecorder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    workdir = tmp_path_factory.mktemp("bot-expiry")
    env = bot_env(
        workdir,
        recorder.url,
        APPROVAL_TTL_SECONDS="6",
        APPROVAL_REMINDER_SECONDS="1",
        SCHEDULER_INTERVAL_SECONDS="0.25",
    )
    process = BotProcess(workdir, env).start()
    yield process
    process.stop()


def test_unapproved_request_is_reminded_escalated_and_expired(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    card = card_for(bot, recorder, "CHK-EXPIRE", "checkout")
    request_id = next(iter(vote_buttons(card)))

    reminder = recorder.wait_for(
        "chat.postMessage",
        lambda c: ":hourglass:" in c.args.get("text", "") and request_id in c.args["text"],
    )[0]
    assert "<!subteam^S0CHECKOUT>" in reminder.args["text"]
    assert reminder.args.get("thread_ts")
    escalation = recorder.wait_for(
        "chat.postMessage", lambda c: "nobody has acted" in c.args.get("text", "")
    )[0]
    # The on-call commander of checkout leads the alert's incident: they are escalated to.
    assert "<@U0CHKONCALL>" in escalation.args["text"]
    assert "<!here>" not in escalation.args["text"]
    # A later escalation of the same request reaches checkout's on-call escalation list too.
    later = recorder.wait_for(
        "chat.postMessage",
        lambda c: "nobody has acted" in c.args.get("text", "")
        and request_id in c.args["text"]
        and "<@U0CHKLEAD1>" in c.args["text"],
    )[0]
    assert "<@U0CHKONCALL>" in later.args["text"]
    assert "<!subteam^S0CHECKOUT>" in later.args["text"]

    recorder.wait_for(
        "chat.update",
        lambda c: request_id in json.dumps(c.args) and "Expired" in json.dumps(c.args),
        timeout=15,
    )
    request = request_of(bot, request_id)
    assert request.state is ActionState.EXPIRED
    after = recorder.find("chat.update", lambda c: request_id in json.dumps(c.args))[-1]
    assert vote_buttons(after) == {}

    bot.click(APPROVE, vote_value(card, request_id), "U0CHKDEV01")
    ephemeral_to(recorder, "U0CHKDEV01", "no longer waiting")
    kinds = [e.kind for e in events_of(bot, request.incident_id)]
    assert kinds.count("action.reminded") == 1
    assert kinds.count("action.escalated") >= 1
    assert kinds.count("action.expired") == 1
    assert "action.succeeded" not in kinds


def test_an_incident_nobody_leads_escalates_to_the_oncall_list_not_the_channel(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    # auth-service has no on-call commander: its escalation list (a user and a group) is pinged.
    card = card_for(bot, recorder, "AUTH-TWO", "auth-service")
    request_id = next(iter(vote_buttons(card)))
    escalation = recorder.wait_for(
        "chat.postMessage",
        lambda c: "nobody has acted" in c.args.get("text", "") and request_id in c.args["text"],
    )[0]
    assert "<@U0IDLEAD01>, <!subteam^S0IDENTITY>: nobody has acted" in escalation.args["text"]
    request = request_of(bot, request_id)
    escalated = [e for e in events_of(bot, request.incident_id) if e.kind == "action.escalated"]
    assert escalated and escalated[0].data["people"] == ["U0IDLEAD01", "S0IDENTITY"]
    everything = recorder.find("chat.postMessage") + recorder.find("chat.update")
    assert not [c for c in everything if "<!here>" in json.dumps(c.args)]
    assert not [c for c in everything if "<!channel>" in json.dumps(c.args)]
