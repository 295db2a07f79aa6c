"""Every `/incident` subcommand, sent as a signed slash command to a running bot."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import pytest

from bot.store.sqlite import SQLiteStore
from tests.integration.slack.harness import BotProcess
from tests.integration.slack.recorder import Call, SlackRecorder

pytestmark = pytest.mark.integration

INCIDENT_ID = re.compile(r"inc-[0-9a-f]{10}")


def responded(recorder: SlackRecorder, hook: str, text: str) -> Call:
    """The response_url answer for one command (hook names the command in the test)."""
    return recorder.wait_for(
        "response_url", lambda c: c.args["hook"] == hook and text in json.dumps(c.args)
    )[0]


def ack_text(bot: BotProcess, text: str, user: str = "U0ONCALL01") -> str:
    answer = bot.command(text, user=user)
    # how fast the ack comes is measured by benchmarks/slack_ack.py, not asserted here
    assert answer.status == 200
    return answer.body.decode()  # Bolt answers an ack(text) with the text itself


def declare(bot: BotProcess, recorder: SlackRecorder, text: str, hook: str) -> str:
    answer = bot.command(text, hook=hook)
    assert answer.status == 200 and "Working on" in answer.body.decode()
    marker = text.split()[1]
    posted = recorder.wait_for(
        "chat.postMessage",
        lambda c: marker in c.args.get("text", "") and "declared" in c.args["text"],
    )[0]
    found = INCIDENT_ID.search(posted.args["text"])
    assert found is not None
    linked(bot, found.group(0))
    return found.group(0)


def linked(bot: BotProcess, incident_id: str, timeout: float = 15.0) -> None:
    """Wait until the incident is linked to where it was announced: the announcement is
    posted a moment before its conversation is stored, and commands without an id (``note``,
    ``update``, ``ack``, ``severity``) find the incident through that link."""

    async def conversation() -> object:
        store = SQLiteStore(Path(bot.env["SQLITE_PATH"]))
        try:
            return (await store.get_incident(incident_id)).conversation
        finally:
            await store.close()

    deadline = time.monotonic() + timeout
    while asyncio.run(conversation()) is None:
        assert time.monotonic() < deadline, f"{incident_id} never linked to its channel"
        time.sleep(0.1)


def test_help_unknown_and_bad_arguments_are_answered_in_the_ack(bot: BotProcess) -> None:
    assert "/incident declare" in ack_text(bot, "help")
    assert "/incident declare" in ack_text(bot, "")
    assert "Unknown subcommand `frobnicate`" in ack_text(bot, "frobnicate now")
    assert ack_text(bot, "declare") == ""  # no title: the declare form (test_declare.py)
    assert "/incident severity" in ack_text(bot, "help")
    assert "needs an incident id" in ack_text(bot, "timeline")
    assert "takes no arguments" in ack_text(bot, "list everything")
    assert "is not a severity" in ack_text(bot, "declare payments down SEV9")


def test_declare_status_list_timeline_resolve_postmortem(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    incident_id = declare(bot, recorder, "declare DECL-ONE checkout is down SEV1", "declare1")
    announce = recorder.find("chat.postMessage", lambda c: incident_id in c.args.get("text", ""))
    assert announce[0].args["channel"] == "C0WARROOM1"
    assert "*SEV1*" in announce[0].args["text"] and "<@U0ONCALL01>" in announce[0].args["text"]

    bot.command("list", hook="list")
    assert incident_id in json.dumps(responded(recorder, "list", "Open incidents").args)

    bot.command("status", hook="status-here")
    here = responded(recorder, "status-here", incident_id)
    assert "Commander" in here.args["text"]
    bot.command(f"status {incident_id}", hook="status-id")
    responded(recorder, "status-id", "*open*")
    bot.command("status inc-ffffffffff", hook="status-missing")
    responded(recorder, "status-missing", "No incident `inc-ffffffffff`")

    bot.command(f"timeline {incident_id}", hook="timeline")
    responded(recorder, "timeline", "incident.declared")

    bot.command(f"resolve {incident_id} rolled back the config", hook="resolve")
    resolved = responded(recorder, "resolve", "resolved")
    assert resolved.args["response_type"] == "in_channel"
    recorder.wait_for(
        "chat.postMessage",
        lambda c: c.args.get("thread_ts") is not None and "rolled back" in c.args.get("text", ""),
    )
    bot.command(f"resolve {incident_id}", hook="resolve-again")
    responded(recorder, "resolve-again", "already resolved")

    bot.command(f"postmortem {incident_id}", hook="postmortem")
    review = responded(recorder, "postmortem", "Post-incident review")
    assert "blocks" not in review.args  # always a file, never the review as a message
    done = recorder.wait_for(
        "files.completeUploadExternal", lambda c: c.args.get("channel_id") == "C0WARROOM1"
    )
    file_id = json.loads(done[-1].args["files"])[0]["id"]
    text = recorder.uploads[file_id].content.decode()
    for heading in ("## Timeline", "## Triage", "## Actions and approvals", "## Follow-ups"):
        assert heading in text
    assert "| resolved | rolled back the config |" in text


def test_declare_in_a_new_channel(bot: BotProcess, recorder: SlackRecorder) -> None:
    bot.command("declare DECL-TWO payment failures --channel --service payment-gateway", hook="d2")
    created = recorder.wait_for("conversations.create", lambda c: "decl-two" in c.args["name"])[0]
    # Named from the incident's short number and its title.
    assert re.fullmatch(r"inc-[1-9][0-9]*-decl-two-payment-failures", created.args["name"])
    announce = recorder.wait_for(
        "chat.postMessage", lambda c: "DECL-TWO" in c.args.get("text", "")
    )[0]
    channel = announce.args["channel"]
    assert "payment-gateway" in announce.args["text"]
    # The announcement, posted in the new channel, is its pinned summary.
    pin = recorder.wait_for("pins.add", lambda c: c.args["channel"] == channel)[0]
    assert pin.ok and pin.args["timestamp"] == announce.answer["ts"]
    assert created.answer["channel"]["id"] == channel
    # The declarer commands it; payment-gateway's responders (services.yaml) join too.
    invite = recorder.find("conversations.invite", lambda c: c.args["channel"] == channel)
    assert [c.args["users"] for c in invite] == ["U0ONCALL01,U0PAYSRE02"]
    responded(recorder, "d2", "Declared")


def test_triage_files_the_text_and_posts_a_card(bot: BotProcess, recorder: SlackRecorder) -> None:
    assert "Working on" in ack_text(bot, "triage CHK-SELF-2 checkout pods return 500 errors")
    filed = recorder.wait_for("response_url", lambda c: "Filed as" in c.args.get("text", ""))[0]
    assert "checkout" in filed.args["text"]
    card = recorder.wait_for(
        "chat.postMessage", lambda c: "CHK-SELF-2" in json.dumps(c.args) and "blocks" in c.args
    )[0]
    assert card.args["channel"] == "C0WARROOM1"
    prompt = recorder.find("llm", lambda c: "CHK-SELF-2" in c.args["prompt"])
    assert prompt, "the model saw the report"


def test_recategorize_corrects_the_incident_and_says_so_in_the_channel(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    assert "weather is not a category" in ack_text(bot, "recategorize INC-1 weather")
    assert "SEV9 is not a severity" in ack_text(bot, "recategorize INC-1 security SEV9")
    incident_id = declare(bot, recorder, "declare RECAT-ONE slow logins SEV3", "declare-recat")

    bot.command(f"recategorize {incident_id} security sev1 leaked key", hook="recat")
    said = responded(recorder, "recat", "recategorized")
    assert said.args["response_type"] == "in_channel"
    assert "<@U0ONCALL01>" in said.args["text"]
    assert "to *security* (SEV1): leaked key" in said.args["text"]

    bot.command(f"status {incident_id}", hook="recat-status")
    assert "SEV1" in responded(recorder, "recat-status", incident_id).args["text"]
    bot.command(f"timeline {incident_id}", hook="recat-timeline")
    responded(recorder, "recat-timeline", "triage.corrected")
    bot.command("recategorize inc-ffffffffff latency", hook="recat-missing")
    responded(recorder, "recat-missing", "No incident `inc-ffffffffff`")


def test_recategorize_redraws_the_triage_card_with_the_correction(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    bot.command("triage RECAT-CARD checkout pods return 500 errors", hook="recat-triage")
    filed = responded(recorder, "recat-triage", "Filed as")
    found = INCIDENT_ID.search(filed.args["text"])
    assert found is not None
    recorder.wait_for(
        "chat.postMessage", lambda c: "RECAT-CARD" in json.dumps(c.args) and "blocks" in c.args
    )
    bot.command(f"recategorize {found.group(0)} deployment bad canary", hook="recat-card")
    responded(recorder, "recat-card", "to *deployment*: bad canary")
    redrawn = recorder.wait_for(
        "chat.update", lambda c: "Corrected to *deployment* by <@U0ONCALL01>" in json.dumps(c.args)
    )[0]
    assert "Corrected to deployment by <@U0ONCALL01>: bad canary" in redrawn.args["text"]


def test_a_note_reads_as_typed_and_is_shown_escaped(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    """Slack sends `<` as `&lt;` and a typed `<!channel>` as a control sequence: the note is
    stored as the person wrote it (apostrophe included) and said back without pinging anyone."""
    incident_id = declare(bot, recorder, "declare NOTE-TEXT cart is slow", "note-declare")
    # what Slack sends for: we can't restart <yet> & @channel
    bot.command(
        f"note {incident_id} we can&apos;t restart &lt;yet&gt; &amp; <!channel>", hook="note"
    )
    said = responded(recorder, "note", "restart")
    assert "we can't restart &lt;yet&gt; &amp; @channel" in said.args["text"]
    assert "<!channel>" not in json.dumps(said.args)

    async def notes() -> list[str]:
        store = SQLiteStore(Path(bot.env["SQLITE_PATH"]))
        try:
            return [e.message for e in await store.list_events(incident_id) if e.kind == "note"]
        finally:
            await store.close()

    assert asyncio.run(notes()) == ["we can't restart <yet> & @channel"]
