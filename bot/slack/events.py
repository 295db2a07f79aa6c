"""Alert channels: messages other bots post there become alerts, answered in their thread."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.clock import utcnow
from bot.errors import PayloadError
from bot.models import ConversationRef
from bot.slack.runtime import SlackRuntime

log = logging.getLogger(__name__)

# Edits, deletions and joins are not new alerts; bot_message is how integrations post.
IGNORED_SUBTYPES = frozenset(
    {"message_changed", "message_deleted", "message_replied", "channel_join", "channel_leave"}
)


def is_alert_message(
    event: dict[str, Any], alert_channels: frozenset[str], own_ids: frozenset[str]
) -> bool:
    """A top-level message from another bot or integration, in a configured alert channel."""
    if event.get("channel") not in alert_channels:
        return False
    if event.get("subtype") in IGNORED_SUBTYPES:
        return False
    if event.get("bot_id") in own_ids or event.get("user") in own_ids:
        return False
    if event.get("thread_ts") and event.get("thread_ts") != event.get("ts"):
        return False
    return event.get("subtype") == "bot_message" or bool(event.get("bot_id"))


class AlertChannelListener:
    """Ingests alert messages; a new incident is triaged into the message's thread."""

    def __init__(self, runtime: SlackRuntime) -> None:
        self.runtime = runtime
        self.channels = runtime.alert_channels

    async def on_message(
        self, ack: AsyncAck, event: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        """Ack, then ingest in the background (messages elsewhere are dropped at once)."""
        await ack()
        own = frozenset(i for i in (context.bot_id, context.bot_user_id) if i)
        if not is_alert_message(event, self.channels, own):
            return
        self.runtime.after_ack(
            self.ingest(event), f"alert-message:{event.get('ts')}", self._log_only
        )

    async def _log_only(self, text: str) -> None:
        log.warning("alert message not processed", extra={"reason": text})

    async def ingest(self, event: dict[str, Any]) -> None:
        """Hand the message to the pipeline, naming the message as the conversation."""
        where = ConversationRef(
            kind="slack", channel=str(event["channel"]), thread=str(event.get("ts", "")) or None
        )
        try:
            await self.runtime.pipeline.receive(
                "slack",
                json.dumps(event).encode(),
                "application/json",
                utcnow(),
                conversation=where,
            )
        except PayloadError as exc:
            log.info("alert channel message is not an alert", extra={"error": str(exc)})


class PinListener:
    """A message pinned in an incident's channel goes on its timeline (for the review)."""

    def __init__(self, runtime: SlackRuntime) -> None:
        self.runtime = runtime

    async def on_pin(self, ack: AsyncAck, event: dict[str, Any]) -> None:
        """Ack, then record the pinned message's text in the background."""
        await ack()
        found = event.get("item")
        item: dict[str, Any] = found if isinstance(found, dict) else {}
        body = item.get("message")
        message: dict[str, Any] = body if isinstance(body, dict) else {}
        text = message.get("text")
        channel = str(event.get("channel_id") or item.get("channel") or "")
        if item.get("type") != "message" or not isinstance(text, str) or not channel:
            return
        user = str(event.get("user") or item.get("created_by") or "")
        ts = str(message.get("ts", ""))
        self.runtime.after_ack(
            self._record(channel, user, text, ts),
            f"pin:{channel}:{ts}",
            self._log_only,
        )

    async def _record(self, channel: str, user: str, text: str, ts: str) -> None:
        await self.runtime.pipeline.pin_recorded(channel, user, text, ts, utcnow())

    async def _log_only(self, text: str) -> None:
        log.warning("pin not recorded", extra={"reason": text})


def attach(app: AsyncApp, runtime: SlackRuntime) -> None:
    """Attach the message and pin listeners to the Bolt app."""
    app.event("message")(AlertChannelListener(runtime).on_message)
    app.event("pin_added")(PinListener(runtime).on_pin)
