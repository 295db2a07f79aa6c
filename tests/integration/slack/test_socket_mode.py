"""`incident-bot serve --socket-mode`: opens a connection with the app token and acks over it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.integration.slack.harness import APP_TOKEN, BotProcess, bot_env
from tests.integration.slack.recorder import SlackRecorder

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bot(recorder: SlackRecorder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    workdir = tmp_path_factory.mktemp("bot-socket")
    env = bot_env(workdir, recorder.url, SLACK_APP_TOKEN=APP_TOKEN)
    process = BotProcess(workdir, env, socket_mode=True).start()
    yield process
    process.stop()


def test_socket_mode_connects_with_the_app_token_and_acks_commands(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    opened = recorder.wait_for("apps.connections.open")[0]
    assert opened.headers["authorization"] == f"Bearer {APP_TOKEN}"
    recorder.wait_for("socket.connect")
    # No HTTP endpoint for Slack in this mode.
    assert (
        bot.signed(b"command=%2Fincident&text=help", "application/x-www-form-urlencoded").status
        == 404
    )

    recorder.socket_send(
        {
            "envelope_id": "env-help-1",
            "type": "slash_commands",
            "accepts_response_payload": True,
            "payload": {
                "command": "/incident",
                "text": "help",
                "user_id": "U0ONCALL01",
                "channel_id": "C0WARROOM1",
                "team_id": "T0TEST0001",
                "response_url": f"{recorder.url}/response/socket",
                "trigger_id": "1.2.3",
            },
        }
    )
    deadline = time.monotonic() + 10
    acks = []
    while time.monotonic() < deadline and not acks:
        acks = [m for m in recorder.socket_messages if m.get("envelope_id") == "env-help-1"]
        time.sleep(0.05)
    assert acks, "no ack over the socket"
    assert "/incident declare" in str(acks[0].get("payload"))
