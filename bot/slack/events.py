"""Alert channels: messages other bots post there become alerts, answered in their thread."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.clock import utcnow
from bot.errors import PayloadError
from bot.incidents import mutate_incident
from bot.models import Incident
from bot.slack import messages
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
    """Ingests alert messages and triages what they open, replying in the message's thread."""

    def __init__(self, runtime: SlackRuntime) -> None:
        self.runtime = runtime
        self.channels = frozenset(runtime.services.settings.slack_alert_channels)

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
        """File the message's alerts; each new incident is triaged into the message's thread."""
        pipeline = self.runtime.services.pipeline
        channel, ts = str(event["channel"]), str(event.get("ts", ""))
        now = utcnow()
        try:
            receipt = await pipeline.ingest(
                "slack", json.dumps(event).encode(), "application/json", now
            )
        except PayloadError as exc:
            log.info("alert channel message is not an alert", extra={"error": str(exc)})
            return
        for incident_id in receipt.incident_ids:
            if incident_id in receipt.new_incident_ids:
                await self._thread_on(incident_id, channel, ts)
                await pipeline.triage_incident(incident_id, now)
            else:
                incident = await self.runtime.services.store.get_incident(incident_id)
                await self.runtime.outbox.post(
                    channel, messages.alert_joined(incident), thread_ts=ts
                )

    async def _thread_on(self, incident_id: str, channel: str, ts: str) -> Incident:
        def change(incident: Incident) -> Incident | None:
            if incident.slack_channel:
                return None
            incident.slack_channel, incident.slack_thread_ts = channel, ts
            return incident

        return await mutate_incident(self.runtime.services.store, incident_id, change)


def attach(app: AsyncApp, runtime: SlackRuntime) -> None:
    """Attach the message listener to the Bolt app."""
    app.event("message")(AlertChannelListener(runtime).on_message)
