"""Files and limits: the external upload flow, the stand-in's limit checks, long postmortems."""

from __future__ import annotations

import json
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.redaction import Redactor
from bot.slack.outbox import Outbox
from tests.integration.slack.harness import BotProcess
from tests.integration.slack.recorder import Call, Failure, SlackRecorder

pytestmark = pytest.mark.integration

HOSTILE = "<!channel> <@U0ABC> <https://evil.example|Click to approve> `tick` *bold*"


def outbox(recorder: SlackRecorder) -> Outbox:
    client = AsyncWebClient(token="xoxb-test-token", base_url=recorder.api_url)
    return Outbox(client, Redactor().redact)


def one(recorder: SlackRecorder, method: str, marker: str) -> Call:
    return recorder.wait_for(method, lambda c: marker in json.dumps(c.args))[0]


async def test_a_file_is_uploaded_in_three_steps_without_the_token_on_the_upload(
    recorder: SlackRecorder,
) -> None:
    content = "# Review UPLOAD-ONE\n\npassword=hunter2secret\n" + "é" * 5_000
    file_id = await outbox(recorder).upload_file(
        "C0WARROOM1", "upload-one.md", content, "Review UPLOAD-ONE", thread_ts="1790000000.000001"
    )
    assert file_id is not None
    asked = one(recorder, "files.getUploadURLExternal", "upload-one.md")
    upload = recorder.uploads[file_id]
    assert int(asked.args["length"]) == len(upload.content) > 10_000  # bytes, not characters
    sent = recorder.wait_for("file_upload", lambda c: c.args["file_id"] == file_id)[0]
    assert "authorization" not in sent.headers
    done = recorder.wait_for("files.completeUploadExternal", lambda c: file_id in c.args["files"])
    assert json.loads(done[0].args["files"]) == [{"id": file_id, "title": "Review UPLOAD-ONE"}]
    assert done[0].args["channel_id"] == "C0WARROOM1"
    assert done[0].args["thread_ts"] == "1790000000.000001"
    assert asked.at < sent.at < done[0].at
    assert upload.shared and upload.channel == "C0WARROOM1"
    text = upload.content.decode()
    assert "hunter2secret" not in text and "# Review UPLOAD-ONE" in text  # redacted on the way


async def test_a_refused_upload_is_reported_as_none_and_never_completed(
    recorder: SlackRecorder,
) -> None:
    refused = Failure(200, {"ok": False, "error": "file_uploads_disabled"}, when="refused.md")
    recorder.fail_next("files.getUploadURLExternal", refused)
    box = outbox(recorder)
    assert await box.upload_file("C0WARROOM1", "refused.md", "x", "Refused") is None
    later = Failure(200, {"ok": False, "error": "not_in_channel"}, when="Not in channel")
    recorder.fail_next("files.completeUploadExternal", later)
    assert await box.upload_file("C0WARROOM1", "late.md", "x", "Not in channel") is None
    completed = recorder.find("files.completeUploadExternal", lambda c: "Refused" in str(c.args))
    assert completed == []


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"text": "x" * 4_001}, "msg_too_long"),
        ({"text": "x", "blocks": [{"type": "divider"}] * 51}, "invalid_blocks"),
        (
            {
                "text": "x",
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3_001}}],
            },
            "invalid_blocks",
        ),
        (
            {
                "text": "x",
                "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}],
            },
            "invalid_blocks",
        ),
        (
            {"text": "x", "blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}]},
            "invalid_blocks",
        ),
        (
            {
                "text": "x",
                "blocks": [
                    {
                        "type": "actions",
                        "elements": [
                            {
                                "type": "button",
                                "text": {"type": "plain_text", "text": "x" * 76},
                                "action_id": "a",
                                "value": "v",
                            }
                        ],
                    }
                ],
            },
            "invalid_blocks",
        ),
        ({"text": "x", "blocks": [{"type": "markdown", "text": "x" * 12_001}]}, "invalid_blocks"),
        (
            {"text": "x", "blocks": [{"type": "markdown", "text": "x" * 7_000}] * 2},
            "msg_blocks_too_long",
        ),
    ],
)
async def test_the_stand_in_refuses_what_slack_refuses(
    recorder: SlackRecorder, message: dict[str, Any], error: str
) -> None:
    client = AsyncWebClient(token="xoxb-test-token", base_url=recorder.api_url)
    with pytest.raises(SlackApiError) as refused:
        await client.chat_postMessage(channel="C0LIMITS01", **message)
    assert refused.value.response["error"] == error
    fine = await client.chat_postMessage(channel="C0LIMITS01", text="x" * 4_000)
    assert fine["ok"]


def long_incident(bot: BotProcess, marker: str, resolved: int = 45) -> str:
    """An open incident whose timeline alone is longer than one markdown block."""
    title = f"{marker} {HOSTILE} " + "disk pressure " * 15
    labels = {"alertname": marker.lower()}
    opened = bot.alert(
        "generic",
        {"title": title, "service": "checkout", "labels": labels, "fingerprint": f"{marker}-0"},
    )
    assert opened.status == 202, opened.body
    incident_id = str(opened.json()["new_incident_ids"][0])
    flaps = [
        {
            "title": f"{title} flap {n}",
            "service": "checkout",
            "labels": labels,
            "fingerprint": f"{marker}-{n}",
            "status": "resolved",
        }
        for n in range(1, resolved + 1)
    ]
    assert bot.alert("generic", flaps).json()["incident_ids"] == [incident_id]
    return incident_id


def test_a_long_postmortem_is_uploaded_as_a_file_with_a_short_note(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    incident_id = long_incident(bot, "PM-UPLOAD")
    bot.command(f"postmortem {incident_id}", hook="pm-upload")
    done = one(recorder, "files.completeUploadExternal", "PM-UPLOAD")
    assert done.args["channel_id"] == "C0WARROOM1"
    (file_id,) = [f["id"] for f in json.loads(done.args["files"])]
    upload = recorder.uploads[file_id]
    assert upload.filename == f"postmortem-{incident_id}.md"
    review = upload.content.decode()
    assert len(review) > 12_000 and "## Timeline" in review and "alert.resolved" in review
    assert "<!channel>" not in review and "&lt;!channel&gt;" in review
    assert "<https://evil.example|" not in review
    note = recorder.wait_for("response_url", lambda c: c.args["hook"] == "pm-upload")[0]
    assert f"postmortem-{incident_id}.md" in note.args["text"] and "attached" in note.args["text"]
    assert note.args["response_type"] == "in_channel" and not note.args.get("blocks")
    assert "<!channel>" not in note.args["text"]


def test_when_the_upload_fails_the_review_is_never_posted_as_a_message(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    incident_id = long_incident(bot, "PM-REFUSED")
    recorder.fail_next(
        "files.completeUploadExternal",
        Failure(200, {"ok": False, "error": "not_in_channel"}, when="PM-REFUSED"),
    )
    bot.command(f"postmortem {incident_id}", hook="pm-refused")
    (warning,) = recorder.wait_for(
        "response_url", lambda c: c.args["hook"] == "pm-refused", timeout=15
    )
    assert warning.args["response_type"] == "ephemeral"
    assert "Could not attach" in warning.args["text"]
    assert "--out FILE" in warning.args["text"] and not warning.args.get("blocks")


async def test_redaction_on_the_way_out_never_pushes_a_block_over_its_limit(
    recorder: SlackRecorder,
) -> None:
    grows = "password=abc123 " * 187  # each secret's marker is longer than the secret
    text = (grows + "x" * 3_000)[:3_000]
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    ts = await outbox(recorder).post("C0REDACT01", "REDACT-GROWS", blocks)
    assert ts is not None  # the stand-in would refuse a section over 3,000 characters
    posted = recorder.wait_for("chat.postMessage", lambda c: c.args["channel"] == "C0REDACT01")
    shown = posted[0].args["blocks"][0]["text"]["text"]
    assert len(shown) <= 3_000 and shown.endswith("… (cut)") and "abc123" not in shown
