"""Status updates (``/incident update``): on the timeline (redacted), the incident's last-update
time, and posted by the Notifier in the incident's conversation and the broadcast channel."""

from __future__ import annotations

from datetime import datetime

from bot import timeline
from bot.incidents import mutate_incident
from bot.models import EventKind, Incident
from bot.pipeline.command import NUMBERED
from bot.pipeline.stage import Stage

UPDATE_CHARS = 3_000


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
