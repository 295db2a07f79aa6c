"""The status-update form: ``/incident update`` with no text (or only an incident id).

It opens a modal with one text box, like incident.io's "share an update": the channel it came
from and the incident named (if any) ride in ``private_metadata``. On ``view_submission`` the
incident is found (the one named, else the channel's open one) and the text checked before the
ack, so a refusal shows under the text box; then the update is posted after the ack through
``Pipeline.post_update``, exactly as the command with text posts it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import utcnow
from bot.errors import NotFound
from bot.models import Incident
from bot.slack import messages
from bot.slack.action_ids import UPDATE_TEXT, UPDATE_VIEW
from bot.slack.arguments import INCIDENT_ID
from bot.slack.declare import open_form
from bot.slack.markup import LIMITS, fit, plain
from bot.slack.runtime import SlackRuntime

log = logging.getLogger(__name__)

Block = dict[str, Any]

UPDATE_CHARS = 3_000
METADATA_CHARS = 200


def update_modal(channel: str, incident_ref: str) -> Block:
    """The form: which incident it is for, and the update's text."""
    metadata = json.dumps({"channel": channel[:40], "incident": incident_ref[:40]})
    which = (
        f"Status update on {incident_ref}" if incident_ref else "Status update on this channel's "
        "incident"
    )
    return {
        "type": "modal",
        "callback_id": UPDATE_VIEW,
        "private_metadata": metadata[:METADATA_CHARS],
        "title": {"type": "plain_text", "text": "Status update"},
        "submit": {"type": "plain_text", "text": "Post update"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "section",
                "text": {"type": "plain_text", "text": fit(plain(which), LIMITS.section_text)},
            },
            {
                "type": "input",
                "block_id": UPDATE_TEXT,
                "label": {"type": "plain_text", "text": "What changed, and what happens next"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": UPDATE_TEXT,
                    "multiline": True,
                    "max_length": UPDATE_CHARS,
                },
            },
        ],
    }


def submitted(view: dict[str, Any]) -> tuple[str, str, str]:
    """(channel, incident ref, text) from a submitted form; anything unreadable is empty."""
    try:
        metadata = json.loads(str(view.get("private_metadata") or "{}"))
    except ValueError:
        metadata = {}
    if not isinstance(metadata, dict):
        metadata = {}
    values = (view.get("state") or {}).get("values") or {}
    entered = (values.get(UPDATE_TEXT) or {}).get(UPDATE_TEXT) or {}
    text = str(entered.get("value") or "")
    ref = str(metadata.get("incident") or "")
    return str(metadata.get("channel") or ""), ref if INCIDENT_ID.match(ref) else "", text


class UpdateForm:
    """Opens the status-update form from the command and posts what is submitted."""

    def __init__(self, runtime: SlackRuntime, client: AsyncWebClient) -> None:
        self.runtime = runtime
        self.client = client

    async def open_from_command(
        self, ack: AsyncAck, command: dict[str, Any], incident_ref: str
    ) -> None:
        """``/incident update [id]`` without text: the form, before the ack (trigger ids live
        3 s); when it cannot open, the ack says how to post with text instead."""
        view = update_modal(str(command.get("channel_id", "")), incident_ref)
        if await open_form(self.client, str(command.get("trigger_id", "")), view, "update"):
            await ack()
        else:
            await ack(messages.update_form_failed())

    async def _incident(self, channel: str, ref: str) -> Incident | None:
        pipeline = self.runtime.pipeline
        if ref:
            try:
                return await pipeline.incident(ref)
            except NotFound:
                return None
        return await pipeline.incident_in(channel) if channel else None

    async def on_submit(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        """Check the text and find the incident (refusals under the text box), then post."""
        channel, ref, text = submitted(view)
        if not text.strip():
            await ack(response_action="errors", errors={UPDATE_TEXT: messages.update_form_empty()})
            return
        incident = await self._incident(channel, ref)
        if incident is None:
            refusal = messages.update_form_no_incident(bool(ref))
            await ack(response_action="errors", errors={UPDATE_TEXT: refusal})
            return
        await ack()
        user = str((body.get("user") or {}).get("id", ""))

        async def reply(answer: str) -> None:
            if channel and user:
                await self.runtime.outbox.ephemeral(channel, user, answer)

        async def post() -> None:
            posted = await self.runtime.pipeline.post_update(incident.id, user, text, utcnow())
            await reply(messages.update_posted(posted))

        self.runtime.after_ack(post(), "update:form", reply)


def attach(app: AsyncApp, runtime: SlackRuntime) -> UpdateForm:
    """Attach the form's submission; the command opens it through the result."""
    form = UpdateForm(runtime, app.client)
    app.view(UPDATE_VIEW)(form.on_submit)
    return form
