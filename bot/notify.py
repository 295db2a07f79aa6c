"""The conversation port: how the pipeline tells people what happened, whatever the chat tool."""

from __future__ import annotations

import logging
from typing import Protocol

from bot.models import ActionRequest, Alert, Incident, Triage

log = logging.getLogger(__name__)


class Notifier(Protocol):
    """Posts triage cards and updates; Slack implements it, tests and Slack-less runs log it."""

    async def incident_triaged(
        self, incident: Incident, triage: Triage, requests: list[ActionRequest], alerts: list[Alert]
    ) -> Incident:
        """Post the triage card; returns the incident with its channel/thread set when posted."""

    async def request_updated(self, incident: Incident, request: ActionRequest, note: str) -> None:
        """Refresh a proposal's card section and say what changed in the thread."""

    async def incident_note(self, incident: Incident, text: str) -> None:
        """Say something in the incident's thread."""


class SilentNotifier:
    """Used when Slack is not configured: nothing is posted, each message is logged once."""

    async def incident_triaged(
        self, incident: Incident, triage: Triage, requests: list[ActionRequest], alerts: list[Alert]
    ) -> Incident:
        log.info(
            "slack off: triage card not posted",
            extra={"incident_id": incident.id, "triage_id": triage.id},
        )
        return incident

    async def request_updated(self, incident: Incident, request: ActionRequest, note: str) -> None:
        log.info(
            "slack off: request update not posted",
            extra={"incident_id": incident.id, "request_id": request.id, "note": note},
        )

    async def incident_note(self, incident: Incident, text: str) -> None:
        log.info("slack off: note not posted", extra={"incident_id": incident.id})
