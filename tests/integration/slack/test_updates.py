"""Status updates through the running server and the Slack stand-in: `/incident update` posts in
the incident's thread and in the broadcast channel, and lands on the timeline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.slack.harness import BotProcess, bot_env
from tests.integration.slack.recorder import SlackRecorder
from tests.integration.slack.test_commands import declare, responded

pytestmark = pytest.mark.integration

BROADCAST = "C0STATUS01"


@pytest.fixture(scope="module")
def update_bot(
    recorder: SlackRecorder, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotProcess]:
    workdir: Path = tmp_path_factory.mktemp("updates")
    process = BotProcess(workdir, bot_env(workdir, recorder.url, BROADCAST_CHANNEL=BROADCAST))
    process.start()
    yield process
    process.stop()


def test_update_posts_in_the_thread_and_the_broadcast_channel(
    update_bot: BotProcess, recorder: SlackRecorder
) -> None:
    bot = update_bot
    incident_id = declare(bot, recorder, "declare UPD-ONE checkout is down SEV1", "upd-declare")

    # without text: the status-update form (test_update_form.py), no message in the ack
    assert bot.command("update").body.decode() == ""
    bot.command("update rolled back <!channel> the deploy", hook="upd-here")
    responded(recorder, "upd-here", "posted")
    posts = recorder.wait_for(
        "chat.postMessage",
        lambda c: "rolled back" in c.args.get("text", ""),
        count=2,
    )
    by_channel = {c.args["channel"]: c for c in posts}
    assert set(by_channel) == {"C0WARROOM1", BROADCAST}
    assert by_channel["C0WARROOM1"].args.get("thread_ts")  # under the announcement
    assert by_channel[BROADCAST].args.get("thread_ts") is None
    for call in posts:
        assert "<!channel>" not in call.args["text"]  # escaped, no mass ping
        assert "<@U0ONCALL01>" in call.args["text"]

    bot.command(f"update {incident_id} error rate back to normal", hook="upd-id")
    responded(recorder, "upd-id", "posted")
    recorder.wait_for(
        "chat.postMessage",
        lambda c: c.args["channel"] == BROADCAST and "back to normal" in c.args.get("text", ""),
    )
    bot.command(f"timeline {incident_id}", hook="upd-timeline")
    timeline = json.dumps(responded(recorder, "upd-timeline", "incident.status_update").args)
    assert "back to normal" in timeline
