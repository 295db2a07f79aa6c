"""Incident bookkeeping: join alerts to incidents, count them, resolve them (CAS-retried)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot import timeline
from bot.cas import read_modify_write
from bot.models import (
    Alert,
    AlertStatus,
    EventKind,
    EvidenceNote,
    Incident,
    IncidentStatus,
    Severity,
)
from bot.ports import Store


async def mutate_incident(
    store: Store,
    incident_id: str,
    change: Callable[[Incident], Incident | None],
    known: Incident | None = None,
) -> Incident:
    """Apply ``change`` under compare-and-swap, starting from ``known`` if given, else a fresh read.

    ``change`` returning None means no write is needed.
    """
    stored, _ = await read_modify_write(
        lambda: store.get_incident(incident_id),
        store.update_incident,
        change,
        what=f"incident {incident_id}",
        known=known,
    )
    return stored


def candidate_for(alert: Alert, now: datetime, commander: str | None = None) -> Incident:
    """The incident a first firing alert would open, led by ``commander`` when one is known
    (the service's on-call commander, or the person whose report it is)."""
    return Incident(
        title=alert.title[:200],
        service=alert.service,
        service_flags=list(alert.service_flags),
        severity=alert.severity_hint or Severity.SEV3,
        group_key=alert.group_key,
        commander=commander,
        created_at=now,
        updated_at=now,
    )


async def incident_for(store: Store, alert: Alert, now: datetime) -> tuple[Incident | None, bool]:
    """Find or open the incident an alert belongs to; (incident, created).

    A firing alert joins the open incident of its group or opens one. A resolved alert joins
    the most recent incident of its group and never opens one (None when there is none).
    """
    if alert.status is AlertStatus.FIRING:
        return await store.open_incident_for_group(candidate_for(alert, now))
    return await store.latest_incident_for_group(alert.group_key), False


def worst_firing(alerts: list[Alert]) -> Severity | None:
    """The worst severity hint among firing alerts, if any carries one."""
    firing = [a.severity_hint for a in alerts if a.status is AlertStatus.FIRING and a.severity_hint]
    return min(firing, key=lambda s: s.rank, default=None)


async def escalate(store: Store, incident_id: str, severity: Severity, now: datetime) -> Incident:
    """Raise an incident's severity to ``severity`` unless it is already as bad or worse."""

    def change(incident: Incident) -> Incident | None:
        if severity.rank >= incident.severity.rank:
            return None
        incident.severity = severity
        incident.updated_at = now
        return incident

    return await mutate_incident(store, incident_id, change)


async def still_firing(store: Store, incident_id: str) -> set[str]:
    """Fingerprints whose latest stored alert on this incident is firing."""
    latest: dict[str, AlertStatus] = {}
    for alert in await store.list_alerts(incident_id, limit=100_000):
        latest[alert.fingerprint] = alert.status
    return {fp for fp, status in latest.items() if status is AlertStatus.FIRING}


async def resolve(
    store: Store, incident_id: str, *, actor: str, reason: str, now: datetime
) -> tuple[Incident, bool]:
    """Mark an incident resolved and note it on the timeline; (incident, True if this call did)."""

    def change(incident: Incident) -> Incident | None:
        if incident.status is IncidentStatus.RESOLVED:
            return None
        incident.status = IncidentStatus.RESOLVED
        incident.resolved_at = now
        incident.updated_at = now
        return incident

    after, changed = await read_modify_write(
        lambda: store.get_incident(incident_id),
        store.update_incident,
        change,
        what=f"incident {incident_id}",
    )
    if changed:
        await timeline.note(
            store,
            incident_id,
            at=now,
            actor=actor,
            kind=EventKind.INCIDENT_RESOLVED,
            message=reason,
        )
    return after, changed


async def add_evidence(
    store: Store, incident_id: str, note: EvidenceNote, *, keep: int
) -> Incident:
    """Append an evidence note to the incident, keeping only the newest ``keep``."""

    def change(incident: Incident) -> Incident:
        incident.evidence = [*incident.evidence, note][-keep:]
        return incident

    return await mutate_incident(store, incident_id, change)
