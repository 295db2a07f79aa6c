"""Status updates (``/incident update``): on the timeline (redacted), the incident's last-update
time, and posted by the Notifier in the incident's conversation and the broadcast channel.
Severity changes (``/incident severity``): the incident's severity set by a person, old -> new
and why on the timeline (redacted), the card redrawn."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot import timeline
from bot.incidents import mutate_incident
from bot.models import EventKind, Incident, IncidentStatus, Severity
from bot.pipeline.command import NUMBERED
from bot.pipeline.stage import Stage

UPDATE_CHARS = 3_000
REASON_CHARS = 500


class SeverityStatus(StrEnum):
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    NOT_OPEN = "not_open"


@dataclass(frozen=True)
class SeverityChange:
    """What ``change_severity`` did: the incident as stored afterwards, the severity it had
    before, and the reason as recorded (redacted)."""

    incident: Incident
    status: SeverityStatus
    previous: Severity
    reason: str = ""


class Updates(Stage):
    """Status updates from the people running an incident."""

    async def _named(self, incident_ref: str) -> Incident:
        number = NUMBERED.match(incident_ref.strip())
        if number is not None:
            return await self.store.get_incident_by_number(int(number.group(1)))
        return await self.store.get_incident(incident_ref)

    async def post_update(self, incident_ref: str, user: str, text: str, now: datetime) -> Incident:
        """A status update from ``user`` on the incident (id or ``INC-42``); raises NotFound.

        Returns the incident as stored afterwards (``last_update_at`` is ``now``).
        """
        known = await self._named(incident_ref)
        clean = self.redactor.redact(text)[:UPDATE_CHARS]

        def change(incident: Incident) -> Incident:
            incident.last_update_at = now
            incident.updated_at = now
            return incident

        stored = await mutate_incident(self.store, known.id, change, known=known)
        await timeline.note(
            self.store,
            stored.id,
            at=now,
            actor=user,
            kind=EventKind.INCIDENT_STATUS_UPDATE,
            message=clean,
        )
        await self.notifier.status_update(stored, user, clean)
        return stored

    async def change_severity(
        self, incident_ref: str, severity: Severity, actor: str, reason: str, now: datetime
    ) -> SeverityChange:
        """Set the severity of an open incident (id or ``INC-42``); raises NotFound.

        A resolved incident is refused (``NOT_OPEN``) and the severity it already has changes
        nothing (``UNCHANGED``); a change is recorded as old -> new with the reason.
        """
        known = await self._named(incident_ref)
        clean = self.redactor.redact(" ".join(reason.split()))[:REASON_CHARS]
        # The severity the winning attempt of ``change`` replaced (empty: nothing written).
        replaced: list[Severity] = []

        def change(incident: Incident) -> Incident | None:
            replaced.clear()
            if incident.status is not IncidentStatus.OPEN or incident.severity is severity:
                return None
            replaced.append(incident.severity)
            incident.severity = severity
            incident.severity_set_by = actor
            incident.updated_at = now
            return incident

        if known.status is not IncidentStatus.OPEN:
            return SeverityChange(known, SeverityStatus.NOT_OPEN, known.severity)
        stored = await mutate_incident(self.store, known.id, change, known=known)
        if not replaced:
            status = (
                SeverityStatus.UNCHANGED
                if stored.status is IncidentStatus.OPEN
                else SeverityStatus.NOT_OPEN
            )
            return SeverityChange(stored, status, stored.severity)
        previous = replaced[-1]
        await timeline.note(
            self.store,
            stored.id,
            at=now,
            actor=actor,
            kind=EventKind.INCIDENT_SEVERITY_CHANGED,
            message=f"{previous.value} -> {severity.value}" + (f": {clean}" if clean else ""),
            from_severity=previous.value,
            to_severity=severity.value,
            reason=clean,
        )
        # The card shows the severity.
        await self.refresh_incident_card(stored.id)
        return SeverityChange(stored, SeverityStatus.CHANGED, previous, clean)
