"""Update reminders through the running server and the Slack stand-in: a SEV1 incident with no
status update is asked for one in its thread, mentioning its commander; a SEV2 one is not."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.slack.harness import BotProcess, bot_env
from tests.integration.slack.recorder import SlackRecorder
from tests.integration.slack.test_commands import declare, responded

pytestmark = pytest.mark.integration

ROOM = "C0REMIND01"
ASK = "no status update on"


@pytest.fixture(scope="module")
def reminding_bot(
    recorder: SlackRecorder, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotProcess]:
    workdir: Path = tmp_path_factory.mktemp("update-reminders")
    env = bot_env(
        workdir,
        recorder.url,
        UPDATE_REMINDER_MINUTES="0.03",  # about two seconds
        SCHEDULER_INTERVAL_SECONDS="1",
    )
    process = BotProcess(workdir, env)
    process.start()
    yield process
    process.stop()


def test_a_sev1_without_updates_is_asked_for_one_in_its_thread(
    reminding_bot: BotProcess, recorder: SlackRecorder
) -> None:
    bot = reminding_bot
    minor = bot.command("declare REM-MINOR search is slow SEV2", channel=ROOM, hook="rem-minor")
    assert minor.status == 200
    severe = declare(bot, recorder, "declare REM-SEV1 checkout is down SEV1", "rem-declare")
    announcement = recorder.wait_for(
        "chat.postMessage",
        lambda c: "REM-SEV1" in c.args.get("text", "") and "declared" in c.args["text"],
    )[0]

    # Two asks: the second comes a period after the first, so the SEV2 was swept meanwhile.
    asks = recorder.wait_for(
        "chat.postMessage",
        lambda c: ASK in c.args.get("text", "") and "REM-SEV1" in c.args.get("text", ""),
        timeout=30,
        count=2,
    )
    for call in asks:
        assert call.args["channel"] == announcement.args["channel"]
        assert call.args.get("thread_ts")  # in the incident's thread
        assert "<@U0ONCALL01>" in call.args["text"]  # the commander (the declarer)
        assert "<!here>" not in call.args["text"] and "<!channel>" not in call.args["text"]
    assert not recorder.find(
        "chat.postMessage",
        lambda c: ASK in c.args.get("text", "") and "REM-MINOR" in c.args.get("text", ""),
    )

    bot.command(f"timeline {severe}", hook="rem-timeline")
    timeline = json.dumps(responded(recorder, "rem-timeline", "incident.update_requested").args)
    assert "asked U0ONCALL01" in timeline
