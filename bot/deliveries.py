"""Outgoing chat messages as durable deliveries: what to send, where, and how it went.

A delivery is written to the store before it is sent and changes state only by
compare-and-swap:

    pending ──► delivered            the chat tool took it (``ts`` is where it landed)
       │   ╰──► superseded           a newer update of the same card made it pointless
       ╰──────► failed               refused for good, or out of attempts (``last_error``)

A card post that is still pending has no message id yet: whoever asked for it gets a
placeholder (``placeholder(delivery.id)``) in its ``ConversationRef``, and updates and thread
replies that name the placeholder wait for the post and then go to its real id.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from bot.models import Model, new_id

PLACEHOLDER_PREFIX = "outbox:"


class DeliveryKind(StrEnum):
    """What a delivery is; the first two put a message whose id the pipeline records."""

    CARD = "card"  # a triage card: its id goes on the requests and the incident's thread
    ANNOUNCEMENT = "announcement"  # a declared incident's first message: the incident's thread
    UPDATE = "update"  # a new version of a card that was (or will be) posted
    MESSAGE = "message"  # anything else: thread notes, reminders, replies
    # a reply only one person sees (the payload's ``user``); to their direct messages with the
    # app where the bot may not whisper (it is not in the channel)
    EPHEMERAL = "ephemeral"


class DeliveryState(StrEnum):
    """Where a delivery is in its life (see the module docstring)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    SUPERSEDED = "superseded"


class Delivery(Model):
    """One outgoing message: the exact payload, where it goes, and every attempt's outcome."""

    id: str = Field(default_factory=lambda: new_id("dlv"))
    kind: DeliveryKind
    channel: str
    # thread to reply in (posts) or message to replace (updates); may be a placeholder
    thread: str | None = None
    # the call's content exactly as sent: already escaped, redacted and cut to the limits
    payload: dict[str, Any] = Field(default_factory=dict)
    # every delivery of one card shares this key (the post's id, or "channel/ts"); ``seq``
    # orders them
    card: str = ""
    seq: str = ""
    incident_id: str | None = None
    request_ids: list[str] = Field(default_factory=list)
    state: DeliveryState = DeliveryState.PENDING
    attempts: int = 0
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None = None
    ts: str | None = None
    last_error: str = ""
    claimed_by: str = ""
    claimed_until: datetime | None = None
    # False while the pipeline still has to record the outcome (a failure, or a late message id)
    reported: bool = True
    version: int = 0

    @property
    def waits_for(self) -> str | None:
        """The id of the post this delivery's thread (or target message) is still waiting for."""
        return placeholder_of(self.thread)


def placeholder(delivery_id: str) -> str:
    """The stand-in message id of a post that has not landed yet."""
    return f"{PLACEHOLDER_PREFIX}{delivery_id}"


def placeholder_of(thread: str | None) -> str | None:
    """The delivery id inside a placeholder, or None for a real message id."""
    if thread is not None and thread.startswith(PLACEHOLDER_PREFIX):
        return thread[len(PLACEHOLDER_PREFIX) :]
    return None


def card_key(channel: str, thread: str) -> str:
    """The key shared by one card's deliveries: its post's id while pending, else channel/ts."""
    pending = placeholder_of(thread)
    return pending if pending is not None else f"{channel}/{thread}"
