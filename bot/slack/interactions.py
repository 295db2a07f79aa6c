"""Button clicks: Approve / Deny / Request again on an action request, Helpful / Not helpful
on a triage, Acknowledge and the Recategorize / Severity menus on an incident's card.

Each listener acks at once and does the work afterwards. A button's value is an id; on Approve
/ Deny it is the request id and the prefix of the plan hash the card showed
(``"<request id>:<hash>"``), which the pipeline compares with the request's (invariant 8). Who
clicked comes from the signed payload, and whether they may vote is the pipeline's call.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.actions import VoteStatus
from bot.clock import utcnow
from bot.errors import NotFound
from bot.models import Category, ConversationRef, Incident, IncidentStatus, Role, Severity, Vote
from bot.pipeline import AckStatus, AssignStatus
from bot.slack import messages
from bot.slack.action_ids import CORRECTION_ACTIONS, FEEDBACK_ACTIONS, VOTE_ACTIONS, ActionId
from bot.slack.runtime import SlackRuntime

log = logging.getLogger(__name__)

ID_SHAPE = re.compile(r"^[a-z]{3}-[0-9a-f]{4,32}$")
HASH_SHAPE = re.compile(r"^[0-9a-f]{0,64}$")
USER_SHAPE = re.compile(r"^[UW][A-Z0-9]{2,30}$")


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
    """The parts of a block_actions payload the handlers use (``id:hash`` split in two); a
    select menu's value is its ``selected_option``'s."""
    channel = body.get("channel") or {}
    container = body.get("container") or {}
    message = body.get("message") or {}
    selected = action.get("selected_option")
    raw = selected.get("value", "") if isinstance(selected, dict) else action.get("value", "")
    if action.get("type") == "users_select":
        raw = str(action.get("selected_user") or "")
    value, _, shown = str(raw)[:200].partition(":")
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


Step = Callable[[Click], Awaitable[None]]
Listener = Callable[[AsyncAck, dict[str, Any], dict[str, Any]], Awaitable[None]]


class ClickListener:
    """What every button and menu listener does: ack at once, read the click, run its step
    after the ack, answer the clicker in the card's thread (a step that fails is answered too)."""

    def __init__(self, runtime: SlackRuntime) -> None:
        self.runtime = runtime

    async def _reply(self, click: Click, text: str) -> None:
        if click.channel_id and click.user_id:
            await self.runtime.outbox.ephemeral(
                click.channel_id, click.user_id, text, thread_ts=click.thread_ts
            )

    def later(self, step: Step, label: str) -> Listener:
        """The Bolt listener for one kind of click: ``step`` runs after the ack."""

        async def listener(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
            await ack()
            click = read_click(body, action)
            named = click.value or click.block_id[:80]
            self.runtime.after_ack(
                step(click), f"{label}:{named}", lambda text: self._reply(click, text)
            )

        return listener


class ClickHandlers(ClickListener):
    """The card's buttons and menus: each step reads the click and calls the pipeline."""


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


    async def ask_again(self, click: Click) -> None:
        """Ask the pipeline for a new request like the one named by the button."""
        if not ID_SHAPE.match(click.value):
            await self._reply(click, messages.again_answer("unknown_request"))
            return
        result = await self.runtime.pipeline.request_again(click.value, click.user_id, utcnow())
        await self._reply(click, messages.again_answer(result.status.value))


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


    async def correct(self, click: Click) -> None:
        """Correct the category or severity of the card's incident (``correct:<id>:…``).

        Fails closed: the clicker, the choice and the incident are checked, the click must come
        from that incident's card, and a card no longer corrects a resolved incident (the
        slash command still does, for the record).
        """
        category = _member(Category, click.value, click.action_id == ActionId.RECATEGORIZE)
        severity = _member(Severity, click.value, click.action_id == ActionId.SET_SEVERITY)
        if category is None and severity is None:
            await self._reply(click, messages.unknown_choice())
            return
        incident = await self._open_card_incident(click)
        if incident is None:
            return
        pipeline = self.runtime.pipeline
        # One menu changes one thing; the other keeps what the incident says now. A severity
        # corrected earlier stays in the new correction (as it is now: a later severity change
        # is kept), so the stored correction describes the whole corrected state.
        earlier = incident.correction
        kept = incident.severity if earlier is not None and earlier.severity is not None else None
        to_category = category or incident.category
        to_severity = severity or kept
        if to_category is incident.category and (severity is None or severity is incident.severity):
            await self._reply(click, messages.correction_unchanged(incident))
            return
        corrected = await pipeline.recategorize(
            incident.id,
            to_category,
            click.user_id,
            utcnow(),
            severity=to_severity,
            reason=messages.CARD_CORRECTION_REASON,
        )
        await self._reply(click, messages.recategorized(corrected.incident, corrected.correction))

    async def _open_card_incident(self, click: Click) -> Incident | None:
        """The open incident whose card's menus were used (``correct:<id>:…``); every refusal
        is answered in the card's thread and gives None: no person or incident named, an
        unknown incident, a click from another message, a resolved incident."""
        incident_id = click.block_id.split(":")[1] if click.block_id.startswith("correct:") else ""
        if not USER_SHAPE.match(click.user_id) or not ID_SHAPE.match(incident_id):
            log.warning("card menu names no incident or person", extra={"user": click.user_id})
            await self._reply(click, messages.not_this_card())
            return None
        try:
            incident = await self.runtime.pipeline.incident(incident_id)
        except NotFound:
            await self._reply(click, messages.incident_not_found(incident_id))
            return None
        if not await self._is_card_of(incident_id, incident.card, click):
            log.warning("card menu from another card", extra={"incident_id": incident_id})
            await self._reply(click, messages.not_this_card())
            return None
        if incident.status is not IncidentStatus.OPEN:
            await self._reply(click, messages.correction_closed(incident))
            return None
        return incident


    async def hand_over(self, click: Click) -> None:
        """Make the person picked the commander of the card's incident, as ``/incident assign``
        would: the commander, the service's approvers and admins may (anyone while nobody
        commands); the card redraws with the new commander."""
        if not USER_SHAPE.match(click.value):
            await self._reply(click, messages.unknown_choice())
            return
        incident = await self._open_card_incident(click)
        if incident is None:
            return
        result = await self.runtime.pipeline.assign_role(
            incident.id, Role.COMMANDER, click.value, click.user_id, utcnow()
        )
        if result.status is AssignStatus.ASSIGNED:
            text = messages.role_assigned(
                result.incident, result.role, result.user, click.user_id, result.previous
            )
        elif result.status is AssignStatus.UNCHANGED:
            text = messages.role_unchanged(result.incident, result.role)
        elif result.status is AssignStatus.NOT_ALLOWED:
            text = messages.not_allowed_to_assign(result.incident)
        else:
            text = messages.roles_closed(result.incident)
        await self._reply(click, text)

    async def _is_card_of(
        self, incident_id: str, card: ConversationRef | None, click: Click
    ) -> bool:
        """Whether the clicked message is one of the incident's cards."""
        if not click.channel_id or not click.message_ts:
            return False
        cards = [card] + [r.card for r in await self.runtime.pipeline.requests_of(incident_id)]
        return any(
            c is not None and c.channel == click.channel_id and c.thread == click.message_ts
            for c in cards
        )


Choice = TypeVar("Choice", Category, Severity)


def _member(kind: type[Choice], value: str, chosen: bool) -> Choice | None:
    """The enum member ``value`` names when this menu was ``chosen``; None otherwise."""
    if not chosen:
        return None
    try:
        return kind(value)
    except ValueError:
        return None


def attach(app: AsyncApp, runtime: SlackRuntime) -> None:
    """Attach the button listeners to the Bolt app."""
    handlers = ClickHandlers(runtime)
    steps: list[tuple[Iterable[ActionId], Step, str]] = [
        (VOTE_ACTIONS, handlers.cast_vote, "vote"),
        (FEEDBACK_ACTIONS, handlers.record_feedback, "feedback"),
        ((ActionId.REQUEST_AGAIN,), handlers.ask_again, "again"),
        ((ActionId.ACKNOWLEDGE,), handlers.take, "ack"),
        (CORRECTION_ACTIONS, handlers.correct, "correct"),
        ((ActionId.HAND_OVER,), handlers.hand_over, "hand"),
    ]
    for action_ids, step, label in steps:
        listener = handlers.later(step, label)
        for action_id in action_ids:
            app.action(action_id.value)(listener)
