"""Corrections: a responder sets the category (and severity) triage got wrong. The correction
is kept on the incident (later policy decisions and re-triages use it) and as a
``triage.corrected`` event in the hash-chained timeline; the accuracy report reads it back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from bot import accuracy, incidents, metrics, timeline
from bot.models import ActionRequest, Category, Correction, EventKind, Incident, Severity
from bot.pipeline.stage import Stage

HISTORY_PAGE = 200
# Incidents read per accuracy report, most recently updated first.
REPORT_INCIDENTS = 10_000


@dataclass(frozen=True)
class Corrected:
    """The incident as corrected, and the correction."""

    incident: Incident
    correction: Correction


class Correcting(Stage):
    """Record corrections; read back what the accuracy report scores."""

    async def recategorize(
        self,
        incident_id: str,
        category: Category,
        actor: str,
        now: datetime,
        *,
        severity: Severity | None = None,
        reason: str = "",
    ) -> Corrected:
        """Correct the incident's category (and severity); raises NotFound."""
        triages = await self.store.list_triages(incident_id)
        latest = triages[-1] if triages else None
        reason = self.redactor.redact(reason)[:500]
        made: list[Correction] = []

        def change(incident: Incident) -> Incident:
            made.clear()
            # Against what triage said, not an earlier correction: the report scores triage.
            before = incident.correction
            correction = Correction(
                category=category,
                severity=severity,
                from_category=before.from_category if before else incident.category,
                from_severity=before.from_severity if before else incident.severity,
                triage_id=latest.id if latest else None,
                by=actor,
                reason=reason,
                at=now,
            )
            made.append(correction)
            incident.correction = correction
            incident.category = category
            if severity is not None:
                incident.severity = severity
            incident.updated_at = now
            return incident

        incident = await incidents.mutate_incident(self.store, incident_id, change)
        correction = made[-1]
        metrics.TRIAGE_CORRECTIONS.labels(
            correction.from_category.value, correction.category.value
        ).inc()
        await timeline.note(
            self.store,
            incident_id,
            at=now,
            actor=actor,
            kind=EventKind.TRIAGE_CORRECTED,
            message=(
                f"{correction.from_category.value} -> {category.value}"
                + (f" / {severity.value}" if severity is not None else "")
                + (f": {reason}" if reason else "")
            ),
            **correction.model_dump(mode="json", exclude={"at", "by"}),
        )
        await self.refresh_incident_card(incident_id)
        return Corrected(incident=incident, correction=correction)

    async def judged_triages(self, since: datetime) -> list[accuracy.Judged]:
        """Every incident triaged since ``since`` (its first triage) with what people said."""
        judged = []
        for incident in await self.store.list_incidents(None, REPORT_INCIDENTS):
            if incident.created_at < since:
                continue
            triages = await self.store.list_triages(incident.id)
            if not triages:
                continue
            feedback = await self.store.list_feedback(incident.id)
            judged.append(accuracy.judge(triages[0], incident.correction, feedback))
        return judged

    async def proposals_since(self, since: datetime) -> AsyncIterator[ActionRequest]:
        """Every action request filed since ``since``, oldest first."""
        after: str | None = None
        while True:
            page = await self.store.list_action_requests_since(since, HISTORY_PAGE, after)
            for request in page:
                yield request
            if len(page) < HISTORY_PAGE:
                return
            after = page[-1].id
