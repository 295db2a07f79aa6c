"""Incident command: declared incidents, reports from people, resolving, feedback, the review."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot import timeline
from bot.errors import NotFound
from bot.incidents import mutate_incident
from bot.ingest import parse_payload
from bot.models import (
    NUMBER_PREFIX,
    ActionRequest,
    ConversationRef,
    Event,
    EventKind,
    Feedback,
    Incident,
    IncidentStatus,
    RawPayload,
    Severity,
)
from bot.pipeline.intake import Intake
from bot.pipeline.triaging import TriageResult, Triaging
from bot.policy.approvers import is_eligible
from bot.postmortem import PostmortemFacts

TITLE_CHARS = 200
DESCRIPTION_CHARS = 3_000
# How people name an incident by its number: INC-42 (any case).
NUMBERED = re.compile(rf"^{NUMBER_PREFIX}([0-9]{{1,9}})$", re.IGNORECASE)


class ResolveStatus(StrEnum):
    RESOLVED = "resolved"
    ALREADY_RESOLVED = "already_resolved"
    NOT_ALLOWED = "not_allowed"


@dataclass
class ResolveResult:
    """What ``resolve_incident`` did, with the incident as stored afterwards."""

    incident: Incident
    status: ResolveStatus


class AckStatus(StrEnum):
    ACKNOWLEDGED = "acknowledged"
    ALREADY = "already_acknowledged"
    NOT_OPEN = "not_open"


@dataclass
class Acknowledged:
    """What ``acknowledge`` did, with the incident as stored afterwards."""

    incident: Incident
    status: AckStatus


@dataclass
class Declared:
    """A declared incident and where it was announced (None: announcing failed, see problem)."""

    incident: Incident
    where: ConversationRef | None
    problem: str = ""


class Command(Intake, Triaging):
    """What people do to incidents directly, and what they read back."""

    async def declare_incident(
        self,
        title: str,
        service: str,
        severity: Severity,
        commander: str,
        now: datetime,
        *,
        asked_in: ConversationRef | None = None,
        new_channel: bool = False,
        description: str = "",
    ) -> Declared:
        """Open an incident a person declared; they become its commander.

        The title and ``description`` are filed as the incident's first alert, which is what
        its triage reads: run ``triage_incident`` with the declarer as requester once they have
        their answer (the untriaged sweep catches it should that never happen). Triage never
        lowers the severity the declarer chose, and leaves the commander alone.
        """
        incident = Incident(
            title=title[:TITLE_CHARS],
            service=service,
            severity=severity,
            commander=commander,
            created_at=now,
            updated_at=now,
        )
        await self.store.create_incident(incident)
        await timeline.note(
            self.store,
            incident.id,
            at=now,
            actor=commander,
            kind=EventKind.INCIDENT_DECLARED,
            message=f"Declared {severity.value}: {incident.title}",
            service=service,
        )
        await self._declared_alert(incident, description, now)
        if asked_in is None:
            return Declared(incident, None)
        spec = self.policy.resolve_service(service).spec
        where, problem = await self.notifier.incident_declared(
            incident,
            commander,
            asked_in,
            new_channel,
            responders=spec.oncall.responders if spec is not None else (),
        )
        if where is not None:
            incident = await self._set_conversation(incident.id, where)
        return Declared(incident, where, problem)

    async def _declared_alert(self, incident: Incident, description: str, now: datetime) -> None:
        """What the declarer wrote, stored as the declared incident's one alert (counted)."""
        payload = {
            "title": incident.title,
            "description": description[:DESCRIPTION_CHARS],
            "service": incident.service,
            "source": "declared",
            "labels": {"declared_by": incident.commander or ""},
        }
        body = json.dumps(payload).encode()
        parsed = parse_payload(
            "generic", body, "application/json", received_at=now, options=self.options.ingest
        )
        raw = RawPayload(
            source="generic",
            content_type="application/json",
            body=self._raw_text(body),
            received_at=now,
        )
        for alert in parsed.alerts:
            alert.raw_ref, alert.incident_id = raw.id, incident.id
        await self.store.add_alerts(parsed.alerts, {incident.id: len(parsed.alerts)}, raw=raw)

    async def _set_conversation(self, incident_id: str, where: ConversationRef) -> Incident:
        def change(incident: Incident) -> Incident:
            incident.conversation = where
            return incident

        return await mutate_incident(self.store, incident_id, change)

    async def report(
        self,
        text: str,
        service: str,
        reporter: str,
        now: datetime,
        *,
        asked_in: ConversationRef | None = None,
    ) -> tuple[Incident, TriageResult | None]:
        """A person reports what they see: file it as an alert, triage it, lead a new incident."""
        payload = {
            "title": text[:TITLE_CHARS],
            "description": text,
            "service": service,
            "source": "slack-command",
            "labels": {"reported_by": reporter},
        }
        # The person whose report opens an incident leads it (and may resolve it), like a
        # declarer; an incident it joins keeps its commander.
        receipt = await self.ingest(
            "generic", json.dumps(payload).encode(), "application/json", now, commander=reporter
        )
        if not receipt.incident_ids:
            raise NotFound("the report did not open an incident")
        incident = await self.store.get_incident(receipt.incident_ids[0])
        if incident.conversation is None and asked_in is not None:
            incident = await self._set_conversation(incident.id, asked_in)
        result = await self.triage_incident(incident.id, now, requester=reporter, force=True)
        return incident, result

    async def resolve_incident(
        self, incident_id: str, actor: str, note: str, now: datetime
    ) -> ResolveResult:
        """Close an incident by hand: its commander, the service's approvers, or an admin."""
        incident = await self.store.get_incident(incident_id)
        if incident.status is IncidentStatus.RESOLVED:
            return ResolveResult(incident, ResolveStatus.ALREADY_RESOLVED)
        if not await self.may_resolve(incident, actor):
            return ResolveResult(incident, ResolveStatus.NOT_ALLOWED)
        closed = await self.close_incident(
            incident_id, actor=actor, note=note or "Resolved", now=now
        )
        return ResolveResult(closed, ResolveStatus.RESOLVED)

    async def acknowledge(self, incident_ref: str, user: str, now: datetime) -> Acknowledged:
        """Someone takes the incident: recorded once; they lead it when nobody does yet.

        An acknowledged incident gets no further escalations (``remind_waiting``).
        """
        known = await self.incident(incident_ref)
        if known.status is not IncidentStatus.OPEN:
            return Acknowledged(known, AckStatus.NOT_OPEN)
        # What the last (winning) attempt of ``change`` did.
        wrote: list[bool] = []
        took_command: list[bool] = []

        def change(incident: Incident) -> Incident | None:
            wrote.clear()
            took_command.clear()
            if incident.acknowledged_at is not None or incident.status is not IncidentStatus.OPEN:
                return None
            wrote.append(True)
            incident.acknowledged_at = now
            incident.acknowledged_by = user
            if incident.commander is None:
                incident.commander = user
                took_command.append(True)
            incident.updated_at = now
            return incident

        stored = await mutate_incident(self.store, known.id, change, known=known)
        if not wrote:
            status = AckStatus.NOT_OPEN if stored.acknowledged_at is None else AckStatus.ALREADY
            return Acknowledged(stored, status)
        lead = " and took command" if took_command else ""
        await timeline.note(
            self.store,
            stored.id,
            at=now,
            actor=user,
            kind=EventKind.INCIDENT_ACKNOWLEDGED,
            message=f"Acknowledged{lead}",
        )
        # The card drops its Acknowledge button.
        await self.refresh_incident_card(stored.id)
        return Acknowledged(stored, AckStatus.ACKNOWLEDGED)

    async def may_resolve(self, incident: Incident, actor: str) -> bool:
        """The commander, the service's eligible approvers and the admins may resolve."""
        if incident.commander is not None and actor == incident.commander:
            return True
        return await self.may_oversee(incident.service, actor)

    async def may_oversee(self, service: str, actor: str) -> bool:
        """The service's eligible approvers and the incident admins (groups resolved): they may
        resolve any of its incidents and hand its roles over."""
        allowed = [*self.policy.eligible_approvers(service), *self.options.admin_approvers]
        groups = await self.directory.members(allowed)
        return is_eligible(actor, allowed, groups)

    async def feedback(
        self, incident_id: str, triage_id: str, user_id: str, helpful: bool, now: datetime
    ) -> bool:
        """Store Helpful / Not helpful on a triage; False when the triage is not the incident's."""
        try:
            if await self.triage_of(incident_id, triage_id) is None:
                return False
        except NotFound:
            return False
        await self.store.add_feedback(
            Feedback(
                incident_id=incident_id,
                triage_id=triage_id,
                user_id=user_id,
                helpful=helpful,
                at=now,
            )
        )
        await timeline.note(
            self.store,
            incident_id,
            at=now,
            actor=user_id,
            kind=EventKind.TRIAGE_FEEDBACK,
            message="helpful" if helpful else "not helpful",
            triage_id=triage_id,
        )
        return True

    # reading back ----------------------------------------------------------------------------
    async def incident(self, incident_id: str) -> Incident:
        """One incident by id or by number (``INC-42``, any case); raises NotFound."""
        number = NUMBERED.match(incident_id.strip())
        if number is not None:
            return await self.store.get_incident_by_number(int(number.group(1)))
        return await self.store.get_incident(incident_id)

    async def incidents(
        self, status: IncidentStatus | None = IncidentStatus.OPEN, limit: int = 50
    ) -> list[Incident]:
        """Incidents, most recently updated first."""
        return await self.store.list_incidents(status, limit=limit)

    async def incident_in(self, channel: str) -> Incident | None:
        """The most recent open incident whose conversation is in ``channel``."""
        for incident in await self.store.list_incidents(IncidentStatus.OPEN, limit=200):
            if incident.conversation is not None and incident.conversation.channel == channel:
                return incident
        return None

    async def requests_of(self, incident_id: str) -> list[ActionRequest]:
        """An incident's action requests, oldest first."""
        return await self.store.list_action_requests(incident_id)

    async def timeline_of(self, incident_id: str) -> list[Event]:
        """An incident's timeline, in order."""
        return await self.store.list_events(incident_id)

    async def postmortem_facts(self, incident_id: str) -> PostmortemFacts:
        """Everything stored about an incident, for the post-incident review."""
        return PostmortemFacts(
            incident=await self.store.get_incident(incident_id),
            events=await self.store.list_events(incident_id),
            triages=await self.store.list_triages(incident_id),
            requests=await self.store.list_action_requests(incident_id),
            alerts=await self.store.list_alerts(incident_id, limit=50),
            feedback=await self.store.list_feedback(incident_id),
        )
