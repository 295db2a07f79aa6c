"""What a triage is about: the incident, its alerts, runbook context and what may be proposed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.models import Alert, Category, Incident, RunbookChunk

# Categories in which a triage may only notify people (DESIGN: security is humans only,
# unknown is notify-only).
NOTIFY_ONLY_CATEGORIES = frozenset({Category.SECURITY, Category.UNKNOWN})
NOTIFY_ACTION = "notify_oncall"


@dataclass(frozen=True)
class TriageContext:
    """The inputs of one triage, as plain values."""

    incident: Incident
    alerts: list[Alert]
    runbooks: list[RunbookChunk]
    allowed_actions: list[str]
    now: datetime
    allow_cross_service: bool = False

    @property
    def allowed_services(self) -> list[str]:
        """Services a proposal may target: the incident's own, plus alerts' if allowed."""
        services = [self.incident.service]
        if self.allow_cross_service:
            for alert in self.alerts:
                if alert.service and alert.service not in services:
                    services.append(alert.service)
        return services

    def chunk_for(self, cited: str) -> list[RunbookChunk]:
        """Chunks a cited id names: a chunk id, or every given chunk of a runbook id."""
        exact = [chunk for chunk in self.runbooks if chunk.chunk_id == cited]
        if exact:
            return exact
        return [chunk for chunk in self.runbooks if chunk.runbook_id == cited]
