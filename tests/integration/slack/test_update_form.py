"""The status-update form through a running bot: `/incident update` without text opens it
(views.open checked against Slack's modal limits by the stand-in), its signed view_submission
is refused under the text box when empty or when no incident is found, and otherwise posted
like `/incident update <text>`: in the incident's thread and on its timeline."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from bot.models import EventKind
from tests.integration.slack.harness import BotProcess
from tests.integration.slack.recorder import Call, SlackRecorder
from tests.integration.slack.test_approvals import events_of
from tests.integration.slack.test_commands import linked

pytestmark = pytest.mark.integration

FORM = "status_update_form"
TEXT = "update_text"
ROOM = "C0UPDFORM1"
ELSEWHERE = "C0NOINCID1"
INCIDENT_ID = re.compile(r"inc-[0-9a-f]{10}")


def view_of(call: Call) -> dict[str, Any]:
    view = call.args["view"]
    return json.loads(view) if isinstance(view, str) else dict(view)


def forms(recorder: SlackRecorder, count: int) -> list[Call]:
    return recorder.wait_for(
        "views.open", lambda c: view_of(c).get("callback_id") == FORM, count=count, timeout=20
    )


def typed(text: str) -> dict[str, Any]:
    return {TEXT: {TEXT: {"type": "plain_text_input", "value": text}}}


def test_update_without_text_opens_the_form_and_posts_what_is_submitted(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    bot.command("declare UPD-FORM cart checkout is slow SEV1", channel=ROOM, hook="upd-decl")
    announced = recorder.wait_for(
        "chat.postMessage",
        lambda c: "UPD-FORM" in c.args.get("text", "") and "declared" in c.args["text"],
        timeout=20,
    )[0]
    found = INCIDENT_ID.search(announced.args["text"])
    assert found is not None
    incident_id = found.group(0)
    linked(bot, incident_id)

    answer = bot.command("update", channel=ROOM, hook="upd-form")
    assert answer.status == 200 and answer.body in (b"", b"{}")  # the form, no message
    [opened] = forms(recorder, 1)
    assert opened.ok  # within Slack's modal limits
    metadata = view_of(opened)["private_metadata"]
    assert json.loads(metadata) == {"channel": ROOM, "incident": ""}

    empty = bot.view_submission(FORM, metadata, typed("   "), "U0ONCALL01")
    assert empty.json()["response_action"] == "errors" and set(empty.json()["errors"]) == {TEXT}

    text = "UPD-FORM-TEXT: rolled back the canary; error rate falling, next update 02:30"
    ok = bot.view_submission(FORM, metadata, typed(text), "U0ONCALL01")
    assert ok.status == 200 and ok.body in (b"", b"{}")
    posted = recorder.wait_for(
        "chat.postMessage",
        lambda c: "UPD-FORM-TEXT" in c.args.get("text", "") and c.args.get("thread_ts"),
        timeout=20,
    )[0]
    assert posted.args["channel"] == ROOM
    recorder.wait_for(
        "chat.postEphemeral",
        lambda c: c.args.get("user") == "U0ONCALL01" and "posted" in c.args.get("text", ""),
        timeout=20,
    )
    updates = [e for e in events_of(bot, incident_id) if e.kind is EventKind.INCIDENT_STATUS_UPDATE]
    assert [e.message for e in updates] == [text]

    # Named by its id from another channel: the form carries the id.
    bot.command(f"update {incident_id}", channel=ELSEWHERE, hook="upd-named")
    named = forms(recorder, 2)[1]
    assert json.loads(view_of(named)["private_metadata"])["incident"] == incident_id


def test_the_form_refuses_when_no_incident_is_found(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    metadata = json.dumps({"channel": ELSEWHERE, "incident": ""})
    answer = bot.view_submission(FORM, metadata, typed("anything"), "U0ONCALL01")
    assert answer.json()["response_action"] == "errors"
    assert "No open incident is linked" in answer.json()["errors"][TEXT]
    named = json.dumps({"channel": ELSEWHERE, "incident": "INC-999999"})
    unknown = bot.view_submission(FORM, named, typed("anything"), "U0ONCALL01")
    assert "No incident with that id" in unknown.json()["errors"][TEXT]
