"""Evidence: an alert's own series, summarised for the triage and charted in the thread.

For a firing alert whose ``generatorURL`` carries its PromQL (Prometheus, and rulers speaking its
API), the series behind the alert is queried over the last hour (EVIDENCE_LOOKBACK_SECONDS)
before the triage, and its summary (min / max / now / since when) is kept on the incident, where
the triage prompt reads it. Once the card is posted the chart follows in its thread: the
threshold drawn, the alert's start marked.

Bounded: one query with the metrics adapter's timeout, and at most one chart per incident per
EVIDENCE_CHART_INTERVAL_SECONDS (a lease, so replicas share the limit). A metrics backend that
does not answer costs the triage that timeout and nothing else.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot import incidents, metrics, timeline
from bot.errors import EvidenceError
from bot.evidence.series import (
    Chart,
    SeriesSummary,
    comparison_of,
    expression_of,
    summarise,
    threshold_of,
)
from bot.models import Alert, AlertStatus, EventKind, EvidenceNote, Incident
from bot.pipeline.stage import Stage

log = logging.getLogger(__name__)

# Evidence notes an incident keeps (newest last): enough for a triage, never a growing record.
KEEP_NOTES = 5
# Points a chart aims for over the look-back (never a step under a second).
CHART_POINTS = 720
TITLE_CHARS = 140


@dataclass(frozen=True)
class Gathered:
    """What one evidence step found: the summary (kept) and the chart (to post)."""

    summary: SeriesSummary
    chart: Chart


class Evidencing(Stage):
    """Gather an alert's series before the triage; share its chart after the card."""

    async def gather_evidence(
        self, incident: Incident, alerts: list[Alert], now: datetime
    ) -> tuple[Incident, Gathered | None]:
        """Query the first charted alert's series; keep its summary on the incident."""
        if self.metrics is None:
            return incident, None
        alert = next(
            (a for a in alerts if a.status is AlertStatus.FIRING and expression_of(a)), None
        )
        if alert is None:
            return incident, None
        lease = f"evidence:{incident.id}"
        owner = f"{self.options.replica_id}/{secrets.token_hex(6)}"
        interval = self.options.evidence_chart_interval_seconds
        if not await self.coordination.acquire_lease(lease, owner, now, interval):
            return incident, None
        expr = expression_of(alert) or ""
        threshold = threshold_of(alert, expr)
        # A filtering comparison drops every sample on the wrong side: chart what it compares.
        charted = comparison_of(expr)[0] if comparison_of(expr)[1] is not None else expr
        lookback = self.options.evidence_lookback_seconds
        step = max(lookback / CHART_POINTS, 1.0)
        try:
            series = await self.metrics.query_range(
                charted, now - timedelta(seconds=lookback), now, step
            )
        except EvidenceError as exc:
            metrics.EVIDENCE_QUERIES.labels("failed").inc()
            log.warning(
                "evidence query failed", extra={"incident_id": incident.id, "error": str(exc)}
            )
            return incident, None
        summary = summarise(charted, series, threshold)
        metrics.EVIDENCE_QUERIES.labels("empty" if summary is None else "ok").inc()
        if summary is None:
            return incident, None
        incident = await self._keep(incident.id, alert, summary, now)
        chart = Chart(
            title=f"{alert.title}: {charted}"[:TITLE_CHARS],
            series=tuple(series),
            threshold=threshold,
            marked_at=alert.starts_at,
            notes=(summary.text(),),
        )
        return incident, Gathered(summary, chart)

    async def _keep(
        self, incident_id: str, alert: Alert, summary: SeriesSummary, now: datetime
    ) -> Incident:
        note = EvidenceNote(
            at=now,
            source="prometheus",
            text=f"{alert.title}: {summary.expr} — {summary.text()}",
            data=summary.as_data(),
        )
        incident = await incidents.add_evidence(self.store, incident_id, note, keep=KEEP_NOTES)
        await timeline.note(
            self.store,
            incident_id,
            at=now,
            actor="prometheus",
            kind=EventKind.EVIDENCE_COLLECTED,
            message=note.text,
            alert_id=alert.id,
            **summary.as_data(),
        )
        return incident

    async def share_evidence(self, incident: Incident, gathered: Gathered | None) -> bool:
        """Render the chart (in a worker thread) and post it in the incident's thread."""
        if gathered is None or self.charts is None:
            return False
        try:
            png = await asyncio.to_thread(self.charts.render, gathered.chart)
            shared = await self.notifier.evidence_chart(
                incident, png, gathered.chart.title, gathered.summary
            )
        except Exception:
            # The summary is kept and the triage goes on; a chart that failed is only logged.
            log.exception("evidence chart failed", extra={"incident_id": incident.id})
            shared = False
        metrics.EVIDENCE_CHARTS.labels("shared" if shared else "failed").inc()
        return shared
