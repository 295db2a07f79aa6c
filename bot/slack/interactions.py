"""Button clicks: Approve / Deny / Request again on an action request, Helpful / Not helpful
on a triage.

Each listener acks at once and does the work afterwards. A button's value is an id; on Approve
/ Deny it is the request id and the prefix of the plan hash the card showed
(``"<request id>:<hash>"``), which the pipeline compares with the request's (invariant 8). Who
clicked comes from the signed payload, and whether they may vote is the pipeline's call.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.actions import VoteStatus
from bot.clock import utcnow
from bot.models import ConversationRef, Vote
from bot.pipeline import AckStatus
from bot.slack import messages
from bot.slack.action_ids import FEEDBACK_ACTIONS, VOTE_ACTIONS, ActionId
from bot.slack.runtime import SlackRuntime

log = logging.getLogger(__name__)

ID_SHAPE = re.compile(r"^[a-z]{3}-[0-9a-f]{4,32}$")
HASH_SHAPE = re.compile(r"^[0-9a-f]{0,64}$")


@dataclass(frozen=True)
class Click:
    """Who clicked which button where, read from the signed payload."""

    action_id: str
    value: str
    user_id: str
    channel_id: str
    message_ts: str | None
    block_id: str = ""
    thread_ts: str | None = None
    # The plan hash prefix an Approve / Deny button carried ("" when it carried none).
    card_hash: str = ""


def read_click(body: dict[str, Any], action: dict[str, Any]) -> Click:
    """The parts of a block_actions payload the handlers use (``id:hash`` split in two)."""
    channel = body.get("channel") or {}
    container = body.get("container") or {}
    message = body.get("message") or {}
    value, _, shown = str(action.get("value", ""))[:200].partition(":")
    return Click(
        action_id=str(action.get("action_id", "")),
        value=value[:100],
        card_hash=shown if HASH_SHAPE.match(shown) else "",
        user_id=str((body.get("user") or {}).get("id", "")),
        channel_id=str(channel.get("id") or container.get("channel_id") or ""),
        message_ts=message.get("ts") or container.get("message_ts"),
        block_id=str(action.get("block_id", "")),
        # Refusals answer in the card's thread: the thread it sits in, else its own.
        thread_ts=message.get("thread_ts")
        or container.get("thread_ts")
        or message.get("ts")
        or container.get("message_ts"),
    )


class ClickHandlers:
    """Listeners for every button the bot sends: ack, read the click, call the pipeline."""

    def __init__(self, runtime: SlackRuntime) -> None:
        self.runtime = runtime

    async def _reply(self, click: Click, text: str) -> None:
        if click.channel_id and click.user_id:
            await self.runtime.outbox.ephemeral(
                click.channel_id, click.user_id, text, thread_ts=click.thread_ts
            )

    async def on_vote(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        """Approve / Deny: ack, then vote in the background."""
        await ack()
        click = read_click(body, action)
        self.runtime.after_ack(
            self.cast_vote(click), f"vote:{click.value}", lambda t: self._reply(click, t)
        )

    async def cast_vote(self, click: Click) -> None:
        """Hand the vote to the pipeline (which decides who may vote); answer the clicker."""
        vote = Vote.APPROVE if click.action_id == ActionId.APPROVE.value else Vote.DENY
        if not ID_SHAPE.match(click.value):
            log.warning("button names no request", extra={"user": click.user_id})
            await self._reply(click, messages.vote_answer(VoteStatus.UNKNOWN_REQUEST))
            return
        card = None
        if click.message_ts and click.channel_id:
            card = ConversationRef(kind="slack", channel=click.channel_id, thread=click.message_ts)
        result = await self.runtime.pipeline.vote(
            click.value, click.user_id, vote, utcnow(), card=card, card_hash=click.card_hash
        )
        if not result.accepted:
            await self._reply(click, messages.vote_answer(result.status))

    async def on_again(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        """Request again: ack, then file a new request through the pipeline in the background."""
        await ack()
        click = read_click(body, action)
        self.runtime.after_ack(
            self.ask_again(click), f"again:{click.value}", lambda t: self._reply(click, t)
        )

    async def ask_again(self, click: Click) -> None:
        """Ask the pipeline for a new request like the one named by the button."""
        if not ID_SHAPE.match(click.value):
            await self._reply(click, messages.again_answer("unknown_request"))
            return
        result = await self.runtime.pipeline.request_again(click.value, click.user_id, utcnow())
        await self._reply(click, messages.again_answer(result.status.value))

    async def on_feedback(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]
    ) -> None:
        """Helpful / not helpful: ack, then store the feedback."""
        await ack()
        click = read_click(body, action)
        self.runtime.after_ack(
            self.record_feedback(click), f"feedback:{click.value}", lambda t: self._reply(click, t)
        )

    async def record_feedback(self, click: Click) -> None:
        """Store one Feedback for the triage named by the button."""
        helpful = click.action_id == ActionId.HELPFUL.value
        _, _, rest = click.block_id.partition(":")
        incident_id = rest.partition(":")[0]
        stored = (
            ID_SHAPE.match(click.value) is not None
            and ID_SHAPE.match(incident_id) is not None
            and await self.runtime.pipeline.feedback(
                incident_id, click.value, click.user_id, helpful, utcnow()
            )
        )
        if not stored:
            await self._reply(click, messages.known_error("That triage no longer exists."))
            return
        await self._reply(click, messages.feedback_thanks(helpful))


    async def on_acknowledge(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]
    ) -> None:
        """Acknowledge: ack, then take the incident through the pipeline (the card refreshes)."""
        await ack()
        click = read_click(body, action)
        self.runtime.after_ack(
            self.take(click), f"ack:{click.value}", lambda t: self._reply(click, t)
        )

    async def take(self, click: Click) -> None:
        """Acknowledge the incident named by the button; answer the clicker."""
        if not ID_SHAPE.match(click.value):
            await self._reply(click, messages.known_error("That incident no longer exists."))
            return
        result = await self.runtime.pipeline.acknowledge(click.value, click.user_id, utcnow())
        if result.status is AckStatus.ACKNOWLEDGED:
            await self._reply(click, messages.acknowledged(result.incident))
        elif result.status is AckStatus.ALREADY:
            await self._reply(click, messages.already_acknowledged(result.incident))
        else:
            await self._reply(click, messages.already_resolved(result.incident))


def attach(app: AsyncApp, runtime: SlackRuntime) -> None:
    """Attach the button listeners to the Bolt app."""
    handlers = ClickHandlers(runtime)
    for action_id in VOTE_ACTIONS:
        app.action(action_id.value)(handlers.on_vote)
    for action_id in FEEDBACK_ACTIONS:
        app.action(action_id.value)(handlers.on_feedback)
    app.action(ActionId.REQUEST_AGAIN.value)(handlers.on_again)
    app.action(ActionId.ACKNOWLEDGE.value)(handlers.on_acknowledge)
