"""SlackNotifier: the conversation port on Slack (triage cards, card updates, thread notes)."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from bot.errors import Conflict, NotFound
from bot.incidents import mutate_incident
from bot.models import ActionRequest, ActionState, Alert, Incident, Triage
from bot.redaction import Redactor
from bot.reports import render_card_text
from bot.slack import messages
from bot.slack.blocks import make_clean, triage_card
from bot.slack.outbox import Outbox
from bot.store.base import Store

log = logging.getLogger(__name__)

CAS_ATTEMPTS = 10
CARD_ALERTS = 20
NO_ACTOR_STATES = frozenset({ActionState.EXPIRED, ActionState.BLOCKED})


class SlackNotifier:
    """Posts the triage card to the incident's channel (or the default incident channel)."""

    def __init__(
        self, outbox: Outbox, store: Store, redactor: Redactor, default_channel: str
    ) -> None:
        self.outbox = outbox
        self.store = store
        self.redactor = redactor
        self.default_channel = default_channel
        self._clean = make_clean(redactor.redact)
        self._card_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def _card_text(
        self, incident: Incident, triage: Triage, requests: list[ActionRequest], alerts: list[Alert]
    ) -> str:
        return render_card_text(incident, triage, requests, alerts, self.redactor)

    async def incident_triaged(
        self, incident: Incident, triage: Triage, requests: list[ActionRequest], alerts: list[Alert]
    ) -> Incident:
        """Post the card (in the incident's thread when it has one) and remember where."""
        channel = incident.slack_channel or self.default_channel
        if not channel:
            log.info("no slack channel for incident", extra={"incident_id": incident.id})
            return incident
        blocks = triage_card(incident, triage, requests, alerts, self._clean)
        text = self._card_text(incident, triage, requests, alerts)
        ts = await self.outbox.post(channel, text, blocks, thread_ts=incident.slack_thread_ts)
        if ts is None:
            return incident
        for request in requests:
            await self.remember_card(request.id, channel, ts)
        thread = incident.slack_thread_ts or ts

        def place(current: Incident) -> Incident | None:
            if current.slack_channel == channel and current.slack_thread_ts == thread:
                return None
            current.slack_channel = channel
            current.slack_thread_ts = thread
            return current

        return await mutate_incident(self.store, incident.id, place)

    async def remember_card(self, request_id: str, channel: str, ts: str) -> None:
        """Record on the request where its card is (CAS, retried), so updates can find it."""
        for _ in range(CAS_ATTEMPTS):
            request = await self.store.get_action_request(request_id)
            if request.slack_ts == ts and request.slack_channel == channel:
                return
            request.slack_channel, request.slack_ts = channel, ts
            try:
                await self.store.update_action_request(request)
                return
            except Conflict:
                continue
        log.warning("could not record card location", extra={"request_id": request_id})

    async def request_updated(self, incident: Incident, request: ActionRequest, note: str) -> None:
        """Re-render the card from the store, then say what changed in the thread."""
        await self.refresh_card(incident, request)
        actor = None
        if request.approvals and request.state not in NO_ACTOR_STATES:
            actor = request.approvals[-1].user_id
        text = messages.request_note(request, self.redactor.redact(note), actor)
        if request.state is ActionState.PENDING_APPROVAL:
            text += "\n" + messages.reminder(request)
        await self._say(incident, text)

    async def refresh_card(self, incident: Incident, request: ActionRequest) -> bool:
        """chat.update the card holding ``request`` with the current state of every proposal."""
        siblings = [
            r
            for r in await self.store.list_action_requests(incident.id)
            if r.triage_id == request.triage_id
        ]
        located = next((r for r in [request, *siblings] if r.slack_ts and r.slack_channel), None)
        triage = await self._triage(incident.id, request.triage_id)
        if located is None or triage is None:
            log.info("no card to update", extra={"request_id": request.id})
            return False
        assert located.slack_channel is not None and located.slack_ts is not None
        async with self._card_locks[located.slack_ts]:
            fresh = [
                r
                for r in await self.store.list_action_requests(incident.id)
                if r.triage_id == request.triage_id
            ]
            current = await self.store.get_incident(incident.id)
            alerts = await self.store.list_alerts(incident.id, limit=CARD_ALERTS)
            blocks = triage_card(current, triage, fresh, alerts, self._clean)
            text = self._card_text(current, triage, fresh, alerts)
            return await self.outbox.update(located.slack_channel, located.slack_ts, text, blocks)

    async def _triage(self, incident_id: str, triage_id: str | None) -> Triage | None:
        for triage in await self.store.list_triages(incident_id):
            if triage.id == triage_id:
                return triage
        return None

    async def incident_note(self, incident: Incident, text: str) -> None:
        """Say something in the incident's thread."""
        await self._say(incident, messages.note(text))

    async def remind(self, incident: Incident, request: ActionRequest, escalate: bool) -> None:
        """Nudge the approvers of a waiting request; on escalation, the commander or channel."""
        text = (
            messages.escalation(request, incident.commander)
            if escalate
            else messages.reminder(request)
        )
        await self._say(incident, text)

    async def _say(self, incident: Incident, text: str) -> None:
        try:
            current = await self.store.get_incident(incident.id)
        except NotFound:
            current = incident
        channel = current.slack_channel or self.default_channel
        if not channel:
            return
        await self.outbox.post(channel, text, thread_ts=current.slack_thread_ts)
