"""Update reminders: an open SEV0/SEV1 incident with no status update for a while is asked for
one, in its conversation, mentioning its commander, or when nobody leads it the service's
escalation list (``escalation.people_to_tell``: never the whole channel).

Every replica sweeps; the ask is claimed by a compare-and-swap write of the incident's
``update_requested_at``, so only the replica whose write lands sends it. The next ask comes
``update_reminder_seconds`` after the later of the last status update and the last ask.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot import timeline
from bot.incidents import mutate_incident
from bot.models import BOT_ACTOR, EventKind, Incident, IncidentStatus
from bot.pipeline.escalation import people_to_tell
from bot.pipeline.stage import Stage
from bot.pipeline.waiting import SEVERE

log = logging.getLogger(__name__)

# Open incidents read per sweep (most recently updated first); SEV0/SEV1 ones are few.
OPEN_LIMIT = 1000


def last_heard(incident: Incident) -> datetime:
    """When the incident last had a status update; before the first, when it was acknowledged
    (or, unacknowledged, when it was opened)."""
    return incident.last_update_at or incident.acknowledged_at or incident.created_at


def update_due(incident: Incident, now: datetime, every_seconds: float) -> bool:
    """True when an open SEV0/SEV1 incident has had neither a status update nor an ask for one
    in the last ``every_seconds`` (0: never due)."""
    if every_seconds <= 0 or incident.status is not IncidentStatus.OPEN:
        return False
    if incident.severity not in SEVERE:
        return False
    cutoff = now - timedelta(seconds=every_seconds)
    asked = incident.update_requested_at
    return last_heard(incident) <= cutoff and (asked is None or asked <= cutoff)


class UpdateReminders(Stage):
    """The update-reminder sweep (``request_updates``)."""

    async def request_updates(self, now: datetime) -> int:
        """Sweep: ask for a status update on every open SEV0/SEV1 incident that is due; returns
        how many asks this replica sent."""
        every = self.options.update_reminder_seconds
        if every <= 0:
            return 0
        sent = 0
        for candidate in await self.store.list_incidents(IncidentStatus.OPEN, OPEN_LIMIT):
            if not update_due(candidate, now, every):
                continue
            try:
                sent += await self._request_update(candidate, now, every)
            except Exception:
                # One broken incident must not stop the others from being asked.
                log.exception("update reminder failed", extra={"incident_id": candidate.id})
        return sent

    async def _request_update(self, known: Incident, now: datetime, every: float) -> int:
        claimed: list[bool] = []

        def claim(incident: Incident) -> Incident | None:
            claimed.clear()
            if not update_due(incident, now, every):
                return None
            incident.update_requested_at = now
            claimed.append(True)
            return incident

        # Only the replica whose write lands asks; the others re-read and find it not due.
        incident = await mutate_incident(self.store, known.id, claim, known=known)
        if not claimed:
            return 0
        people = people_to_tell(self.policy, incident)
        quiet = int((now - last_heard(incident)).total_seconds() // 60)
        await timeline.note(
            self.store,
            incident.id,
            at=now,
            actor=BOT_ACTOR,
            kind=EventKind.INCIDENT_UPDATE_REQUESTED,
            message=(
                f"no status update for {quiet} min; asked "
                + (", ".join(people) if people else "the incident's conversation")
            ),
            people=list(people),
        )
        await self.notifier.update_requested(incident, people, quiet)
        return 1
