"""SlackNotifier: the Notifier port on Slack (triage cards, card updates, thread notes).

It renders and posts; it never reads or writes the store. Posts and updates go through the
durable outbox; where a card landed comes back as a ``ConversationRef`` and the pipeline records
it. A card the outbox could not post yet comes back with a placeholder instead of a message id:
updates and thread replies naming it wait for the post, and the outbox sweep records the real id.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.clock import utcnow
from bot.deliveries import Delivery, DeliveryKind, DeliveryState, placeholder
from bot.models import (
    ActionRequest,
    ActionState,
    Alert,
    Category,
    ConversationRef,
    Incident,
    Triage,
)
from bot.redaction import Redactor
from bot.reports import render_card_text
from bot.slack import messages
from bot.slack.arguments import channel_name
from bot.slack.blocks import Block, CardContext, make_clean, triage_card
from bot.slack.outbox import Outbox

if TYPE_CHECKING:
    from bot.evidence.series import SeriesSummary

log = logging.getLogger(__name__)

KIND = "slack"


class SlackNotifier:
    """Posts to the incident's conversation, or to the default incident channel."""

    def __init__(
        self,
        outbox: Outbox,
        redactor: Redactor,
        default_channel: str,
        runbook_url: str = "",
        security_channel: str = "",
        broadcast_channel: str = "",
        drift_channel: str = "",
    ) -> None:
        self.outbox = outbox
        self.redactor = redactor
        self.default_channel = default_channel
        self.runbook_url = runbook_url
        self.security_channel = security_channel
        self.broadcast_channel = broadcast_channel
        self.drift_channel = drift_channel
        self._clean = make_clean(redactor.redact)
        self._card_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def _card(
        self,
        incident: Incident,
        triage: Triage,
        requests: list[ActionRequest],
        alerts: list[Alert],
    ) -> tuple[str, list[Block]]:
        """The card's notification text and its blocks, drawn now."""
        context = CardContext(now=utcnow(), runbook_url=self.runbook_url)
        blocks = triage_card(incident, triage, requests, alerts, self._clean, context)
        text = render_card_text(incident, triage, requests, alerts, self.redactor, card=context)
        return text, blocks

    def _where(self, incident: Incident) -> tuple[str, str | None]:
        if incident.conversation is not None and incident.conversation.kind == KIND:
            return incident.conversation.channel, incident.conversation.thread
        return self.default_channel, None

    async def incident_triaged(
        self, incident: Incident, triage: Triage, requests: list[ActionRequest], alerts: list[Alert]
    ) -> ConversationRef | None:
        """Post the card (in the incident's thread when it has one); returns where it is."""
        channel, thread = self._where(incident)
        if not channel:
            log.info("no slack channel for incident", extra={"incident_id": incident.id})
            return None
        text, blocks = self._card(incident, triage, requests, alerts)
        delivery = await self.outbox.deliver(
            DeliveryKind.CARD,
            channel,
            text,
            blocks,
            thread=thread,
            incident_id=incident.id,
            request_ids=[r.id for r in requests],
        )
        landed = _landed(delivery)
        return ConversationRef(kind=KIND, channel=channel, thread=landed) if landed else None

    async def card_changed(
        self,
        incident: Incident,
        triage: Triage,
        requests: list[ActionRequest],
        alerts: list[Alert],
        card: ConversationRef,
    ) -> None:
        """chat.update the card with the current state of every proposal (one at a time)."""
        if card.kind != KIND or card.thread is None:
            return
        async with self._card_locks[card.thread]:
            text, blocks = self._card(incident, triage, requests, alerts)
            await self.outbox.update(
                card.channel, card.thread, text, blocks, incident_id=incident.id
            )

    async def request_updated(
        self, incident: Incident, request: ActionRequest, people: Sequence[str] = ()
    ) -> None:
        """Say in the thread what happened to the request (an unknown outcome pings
        ``people``)."""
        if request.state is ActionState.OUTCOME_UNKNOWN:
            await self._say(incident, messages.outcome_unknown(request, people))
            return
        await self._say(incident, messages.request_changed(request))

    async def reminded(
        self,
        incident: Incident,
        request: ActionRequest,
        escalate: bool,
        people: Sequence[str] = (),
    ) -> None:
        """Nudge the approvers of a waiting request; an escalation mentions ``people``."""
        text = messages.escalation(request, people) if escalate else messages.reminder(request)
        await self._say(incident, text)

    async def incident_resolved(self, incident: Incident, actor: str, note: str) -> None:
        """Say in the thread that the incident is resolved."""
        await self._say(incident, messages.resolved_note(actor, note))

    async def alert_joined(
        self, incident: Incident, where: ConversationRef | None, alerts: Sequence[Alert] = ()
    ) -> None:
        """One short line in the incident's thread (the card's, or the alert message's when the
        incident has none yet) with the new alert and the count so far."""
        channel, thread = self._where(incident)
        if incident.conversation is None and where is not None and where.kind == KIND:
            channel, thread = where.channel, where.thread
        if channel:
            text = messages.alert_joined(incident, alerts[-1] if alerts else None)
            await self.outbox.post(channel, text, thread_ts=thread, incident_id=incident.id)

    async def incident_declared(
        self,
        incident: Incident,
        declarer: str,
        asked_in: ConversationRef,
        new_channel: bool,
        responders: Sequence[str] = (),
    ) -> tuple[ConversationRef | None, str]:
        """Announce the incident where it was declared, or in a new channel; (where, problem).

        A new channel (the bot, its creator, is in it already) gets the commander and the
        service's responders, and the announcement pinned as its summary.
        """
        channel, problem, pin = asked_in.channel, "", False
        if new_channel:
            created, problem = await self.outbox.create_channel(channel_name(incident))
            if created:
                people = [incident.commander or declarer, declarer, *responders]
                await self.outbox.invite(created, list(dict.fromkeys(people)))
                channel, pin = created, True
        delivery = await self.outbox.deliver(
            DeliveryKind.ANNOUNCEMENT,
            channel,
            messages.declared(incident, declarer),
            incident_id=incident.id,
        )
        landed = _landed(delivery)
        if landed is None:
            if delivery.last_error in messages.NOT_A_MEMBER:
                # Slack's own code: the declarer is told to invite the bot.
                return None, delivery.last_error
            return None, problem or "the announcement could not be posted"
        if pin and delivery.state is DeliveryState.DELIVERED and delivery.ts:
            await self.outbox.pin(channel, delivery.ts)
        return ConversationRef(kind=KIND, channel=channel, thread=landed), problem

    async def evidence_chart(
        self, incident: Incident, png: bytes, title: str, summary: SeriesSummary
    ) -> bool:
        """Upload the chart into the incident's thread, its numbers as the comment."""
        channel, thread = self._where(incident)
        if not channel:
            return False
        shared = await self.outbox.upload_image(
            channel,
            f"evidence-{incident.id}.png",
            png,
            title,
            thread_ts=thread,
            comment=messages.evidence_comment(summary.text()),
        )
        return shared is not None

    async def request_verified(
        self, incident: Incident, request: ActionRequest, people: Sequence[str] = ()
    ) -> None:
        """Say whether the action held; not verified pings ``people``."""
        await self._say(incident, messages.verification_note(request, people))

    async def evidence_gathered(
        self, incident: Incident, request: ActionRequest, output: str
    ) -> None:
        """Post an allowed action's output in the thread (redacted again, cut to fit)."""
        await self._say(incident, messages.evidence(request, self.redactor.redact(output)))

    async def glass_broken(self, incident: Incident, request: ActionRequest) -> None:
        """Say who broke the glass and why: in the thread, and in the security channel."""
        text = messages.glass_broken(incident, request)
        await self._say(incident, text)
        if self.security_channel:
            await self.outbox.post(self.security_channel, text, incident_id=incident.id)

    async def status_update(self, incident: Incident, author: str, text: str) -> None:
        """Post a status update in the incident's conversation and the broadcast channel."""
        message = messages.status_update(incident, author, text)
        channel, thread = self._where(incident)
        if channel:
            await self.outbox.post(channel, message, thread_ts=thread, incident_id=incident.id)
        if self.broadcast_channel and self.broadcast_channel != channel:
            await self.outbox.post(self.broadcast_channel, message, incident_id=incident.id)

    async def update_requested(
        self, incident: Incident, people: Sequence[str], quiet_minutes: int
    ) -> None:
        """Ask for a status update in the incident's conversation (its thread)."""
        await self._say(incident, messages.update_requested(incident, people, quiet_minutes))

    async def accuracy_drifted(
        self, category: Category, accuracy: float, judged: int, threshold: float
    ) -> None:
        """Say in the drift channel that triage's accuracy on a category fell too low."""
        if self.drift_channel:
            text = messages.accuracy_drifted(category.value, accuracy, judged, threshold)
            await self.outbox.post(self.drift_channel, text)

    async def _say(self, incident: Incident, text: str) -> None:
        channel, thread = self._where(incident)
        if channel:
            await self.outbox.post(channel, text, thread_ts=thread, incident_id=incident.id)


def _landed(delivery: Delivery) -> str | None:
    """The message id, a placeholder while the outbox still holds it, None when it failed."""
    if delivery.state is DeliveryState.DELIVERED:
        return delivery.ts
    if delivery.state is DeliveryState.PENDING:
        return placeholder(delivery.id)
    return None
