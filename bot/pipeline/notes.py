"""What people write down during an incident: notes (``/incident note``) and messages pinned in
the incident's channel, both on the timeline (redacted) for the post-incident review."""

from __future__ import annotations

from datetime import datetime

from bot import timeline
from bot.models import Event, EventKind, IncidentStatus
from bot.pipeline.stage import Stage

NOTE_CHARS = 3_000
PIN_CLAIM_SECONDS = 3_600.0


class Notes(Stage):
    """Notes and pins on the timeline."""

    async def add_note(self, incident_id: str, author: str, text: str, now: datetime) -> Event:
        """A note from ``author`` on the incident's timeline; raises NotFound."""
        incident = await self.store.get_incident(incident_id)
        return await timeline.note(
            self.store,
            incident.id,
            at=now,
            actor=author,
            kind=EventKind.NOTE,
            message=self.redactor.redact(text)[:NOTE_CHARS],
        )

    async def pin_recorded(
        self, channel: str, pinned_by: str, text: str, message_ts: str, now: datetime
    ) -> Event | None:
        """A message pinned in an open incident's channel joins its timeline (None: no
        incident lives in that channel; the same message pinned again is recorded once)."""
        incidents = await self.store.list_incidents(IncidentStatus.OPEN, limit=200)
        incident = next(
            (
                i
                for i in incidents
                if i.conversation is not None and i.conversation.channel == channel
            ),
            None,
        )
        if incident is None:
            return None
        # Slack may deliver one pin twice at once: the first to take this lease records it.
        claimed = await self.coordination.acquire_lease(
            f"pin:{incident.id}:{message_ts}", self.attempt_owner(), now, PIN_CLAIM_SECONDS
        )
        if not claimed:
            return None
        for event in await self.store.list_events(incident.id):
            if event.kind == EventKind.NOTE and event.data.get("message_ts") == message_ts:
                return None
        return await timeline.note(
            self.store,
            incident.id,
            at=now,
            actor=pinned_by,
            kind=EventKind.NOTE,
            message=self.redactor.redact(text)[:NOTE_CHARS],
            pinned=True,
            message_ts=message_ts,
        )
