"""Button clicks: Approve / Deny on an action request, Helpful / Not helpful on a triage.

Each listener acks at once and does the work afterwards. A button's value is only an id; who
clicked comes from the signed payload, and whether they may vote is the pipeline's call.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot import timeline
from bot.clock import utcnow
from bot.errors import NotFound
from bot.metrics import APPROVALS
from bot.models import ActionState, Feedback, Vote
from bot.slack import messages
from bot.slack.action_ids import FEEDBACK_ACTIONS, VOTE_ACTIONS, ActionId
from bot.slack.runtime import SlackRuntime

log = logging.getLogger(__name__)

ID_SHAPE = re.compile(r"^[a-z]{3}-[0-9a-f]{4,32}$")


@dataclass(frozen=True)
class Click:
    """Who clicked which button where, read from the signed payload."""

    action_id: str
    value: str
    user_id: str
    channel_id: str
    message_ts: str | None
    block_id: str = ""


def read_click(body: dict[str, Any], action: dict[str, Any]) -> Click:
    """The parts of a block_actions payload the handlers use."""
    channel = body.get("channel") or {}
    container = body.get("container") or {}
    message = body.get("message") or {}
    return Click(
        action_id=str(action.get("action_id", "")),
        value=str(action.get("value", ""))[:100],
        user_id=str((body.get("user") or {}).get("id", "")),
        channel_id=str(channel.get("id") or container.get("channel_id") or ""),
        message_ts=message.get("ts") or container.get("message_ts"),
        block_id=str(action.get("block_id", "")),
    )


class ClickHandlers:
    """Listeners for every button the bot sends."""

    def __init__(self, runtime: SlackRuntime) -> None:
        self.runtime = runtime

    async def _reply(self, click: Click, text: str) -> None:
        if click.channel_id and click.user_id:
            await self.runtime.outbox.ephemeral(click.channel_id, click.user_id, text)

    async def on_vote(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        """Approve / Deny: ack, then vote in the background."""
        await ack()
        click = read_click(body, action)
        self.runtime.after_ack(
            self.cast_vote(click), f"vote:{click.value}", lambda t: self._reply(click, t)
        )

    async def cast_vote(self, click: Click) -> None:
        """Load the request, resolve approver groups, and hand the vote to the pipeline."""
        services = self.runtime.services
        vote = Vote.APPROVE if click.action_id == ActionId.APPROVE.value else Vote.DENY
        if not ID_SHAPE.match(click.value):
            return await self._unknown(click)
        try:
            request = await services.store.get_action_request(click.value)
        except NotFound:
            return await self._unknown(click)
        if request.slack_ts is None and click.message_ts and click.channel_id:
            # The click can beat the post's own bookkeeping; the signed payload says where it is.
            await self.runtime.notifier.remember_card(
                request.id, click.channel_id, click.message_ts
            )
        groups = await self.runtime.approvers.members(request.decision.eligible_approvers)
        now = utcnow()
        result = await services.pipeline.vote(
            request.id, click.user_id, vote, now, group_members=groups
        )
        if result.accepted:  # Pipeline.vote already counted the vote in APPROVALS
            return
        await timeline.note(
            services.store,
            request.incident_id,
            at=now,
            actor=click.user_id,
            kind="action.vote_refused",
            message=f"{vote.value} on {request.proposal.action} refused: {result.message}",
            request_id=request.id,
            vote=vote.value,
        )
        await self._reply(click, messages.vote_refused(result.message))
        if result.request.state is not ActionState.PENDING_APPROVAL:
            # A click on a card that still shows buttons for a closed request: fix the card.
            incident = await services.store.get_incident(request.incident_id)
            await self.runtime.notifier.refresh_card(incident, result.request)

    async def _unknown(self, click: Click) -> None:
        APPROVALS.labels(outcome="refused").inc()
        log.warning(
            "button names no known request", extra={"value": click.value, "user": click.user_id}
        )
        await self._reply(click, messages.unknown_request())

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
        store = self.runtime.services.store
        helpful = click.action_id == ActionId.HELPFUL.value
        incident_id = await self._incident_of_triage(click)
        if incident_id is None:
            await self._reply(click, messages.known_error("That triage no longer exists."))
            return
        now = utcnow()
        await store.add_feedback(
            Feedback(
                incident_id=incident_id,
                triage_id=click.value,
                user_id=click.user_id,
                helpful=helpful,
                at=now,
            )
        )
        await timeline.note(
            store,
            incident_id,
            at=now,
            actor=click.user_id,
            kind="triage.feedback",
            message="helpful" if helpful else "not helpful",
            triage_id=click.value,
        )
        await self._reply(click, messages.feedback_thanks(helpful))

    async def _incident_of_triage(self, click: Click) -> str | None:
        """The incident named by the card's block id, if the triage really belongs to it."""
        store = self.runtime.services.store
        _, _, rest = click.block_id.partition(":")
        incident_id = rest.partition(":")[0]
        if not ID_SHAPE.match(click.value) or not ID_SHAPE.match(incident_id):
            return None
        try:
            triages = await store.list_triages(incident_id)
        except NotFound:
            return None
        return incident_id if any(t.id == click.value for t in triages) else None


def attach(app: AsyncApp, runtime: SlackRuntime) -> None:
    """Attach the button listeners to the Bolt app."""
    handlers = ClickHandlers(runtime)
    for action_id in VOTE_ACTIONS:
        app.action(action_id.value)(handlers.on_vote)
    for action_id in FEEDBACK_ACTIONS:
        app.action(action_id.value)(handlers.on_feedback)
