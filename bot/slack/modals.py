"""Undo and Break glass: the two buttons that file a new request from an old one, and the
break-glass modal (``views.open`` with the click's ``trigger_id``; its submission arrives as a
``view_submission`` payload, handled by ``app.view``).

Listeners ack first. ``views.open`` is called right after the ack, not in the background: a
``trigger_id`` is only good for a few seconds. The pipeline decides everything else (who may,
whether policy allows it); the listener only reads the signed payload and answers the clicker.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import utcnow
from bot.errors import NotFound
from bot.slack import messages
from bot.slack.action_ids import BREAK_GLASS_VIEW, JUSTIFICATION_INPUT, ActionId
from bot.slack.interactions import ID_SHAPE, Click, ClickListener, read_click
from bot.slack.recovery_blocks import JUSTIFICATION_MIN, glass_modal
from bot.slack.runtime import SlackRuntime

log = logging.getLogger(__name__)

METADATA_CHARS = 300


class RecoveryHandlers(ClickListener):
    """Listeners for Undo, Break glass and the break-glass modal's submission."""


    async def undo(self, click: Click) -> None:
        """Ask the pipeline to file the inverse of the request named by the button."""
        if not ID_SHAPE.match(click.value):
            await self._reply(click, messages.undo_answer("unknown_request"))
            return
        result = await self.runtime.pipeline.request_undo(click.value, click.user_id, utcnow())
        await self._reply(click, messages.undo_answer(result.status.value, result.problem))

    async def on_break_glass(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
    ) -> None:
        """Break glass: ack, then open the justification modal at once (trigger ids expire)."""
        await ack()
        click = read_click(body, action)
        trigger = str(body.get("trigger_id", ""))
        if not ID_SHAPE.match(click.value) or not trigger:
            await self._reply(click, messages.glass_answer("unknown_request"))
            return
        try:
            request = await self.runtime.pipeline.store.get_action_request(click.value)
        except NotFound:
            await self._reply(click, messages.glass_answer("unknown_request"))
            return
        metadata = json.dumps(
            {"request": request.id, "channel": click.channel_id, "thread": click.thread_ts}
        )
        try:
            await client.views_open(trigger_id=trigger, view=glass_modal(request, metadata))
        except SlackApiError as exc:
            log.warning(
                "break-glass modal not opened",
                extra={"request_id": request.id, "error": exc.response.get("error", "?")},
            )
            await self._reply(click, messages.known_error("The break-glass form did not open."))

    async def on_submit(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        """The modal was submitted: check the text's length, ack, file it in the background."""
        text = justification_of(view)
        if len(" ".join(text.split())) < JUSTIFICATION_MIN:
            await ack(
                response_action="errors",
                errors={JUSTIFICATION_INPUT: messages.GLASS_ANSWERS["justification"]},
            )
            return
        await ack()
        click = submission_click(body, view)
        self.runtime.after_ack(
            self.file_glass(click, text), f"glass:{click.value}", lambda t: self._reply(click, t)
        )

    async def file_glass(self, click: Click, justification: str) -> None:
        """Hand the justification to the pipeline; answer the person who broke the glass."""
        if not ID_SHAPE.match(click.value):
            await self._reply(click, messages.glass_answer("unknown_request"))
            return
        result = await self.runtime.pipeline.break_glass(
            click.value, click.user_id, justification, utcnow()
        )
        await self._reply(click, messages.glass_answer(result.status.value, result.problem))


def justification_of(view: dict[str, Any]) -> str:
    """The text typed into the modal (``view.state.values[block][action].value``)."""
    values = (view.get("state") or {}).get("values") or {}
    entered = (values.get(JUSTIFICATION_INPUT) or {}).get(JUSTIFICATION_INPUT) or {}
    return str(entered.get("value") or "")


def submission_click(body: dict[str, Any], view: dict[str, Any]) -> Click:
    """Who submitted, and the request and card the modal's private metadata names."""
    try:
        meta = json.loads(str(view.get("private_metadata", ""))[:METADATA_CHARS])
    except ValueError:
        meta = {}
    if not isinstance(meta, dict):
        meta = {}
    return Click(
        action_id=BREAK_GLASS_VIEW,
        value=str(meta.get("request", ""))[:100],
        user_id=str((body.get("user") or {}).get("id", "")),
        channel_id=str(meta.get("channel") or ""),
        message_ts=None,
        thread_ts=meta.get("thread") if isinstance(meta.get("thread"), str) else None,
    )


def attach(app: AsyncApp, runtime: SlackRuntime) -> None:
    """Attach the Undo and Break glass listeners and the modal's submission to the Bolt app."""
    handlers = RecoveryHandlers(runtime)
    app.action(ActionId.UNDO.value)(handlers.later(handlers.undo, "undo"))
    app.action(ActionId.BREAK_GLASS.value)(handlers.on_break_glass)
    app.view(BREAK_GLASS_VIEW)(handlers.on_submit)
