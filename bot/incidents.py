"""Incident bookkeeping: join alerts to incidents, count them, resolve them (CAS-retried)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot import timeline
from bot.errors import Conflict
from bot.models import Alert, AlertStatus, Incident, IncidentStatus, Severity
from bot.store.base import Store

CAS_ATTEMPTS = 20


async def mutate_incident(
    store: Store,
    incident_id: str,
    change: Callable[[Incident], Incident | None],
    known: Incident | None = None,
) -> Incident:
    """Apply ``change`` under compare-and-swap, starting from ``known`` if given, else a fresh read.

    ``change`` returning None means no write is needed.
    """
    for attempt in range(CAS_ATTEMPTS):
        current = known if known and attempt == 0 else await store.get_incident(incident_id)
        updated = change(current.model_copy())  # Incident holds no nested mutable values
        if updated is None:
            return current
        try:
            return await store.update_incident(updated)
        except Conflict:
            continue
    raise Conflict(f"incident {incident_id}: gave up after {CAS_ATTEMPTS} concurrent updates")


def candidate_for(alert: Alert, now: datetime) -> Incident:
    """The incident a first firing alert would open."""
    return Incident(
        title=alert.title[:200],
        service=alert.service,
        severity=alert.severity_hint or Severity.SEV3,
        group_key=alert.group_key,
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


async def count_alerts(
    store: Store, incident: Incident, alerts: list[Alert], now: datetime
) -> Incident:
    """Add newly stored alerts to an incident: count, escalate severity, touch updated_at."""
    firing = [a.severity_hint for a in alerts if a.status is AlertStatus.FIRING and a.severity_hint]

    def change(incident: Incident) -> Incident:
        incident.alert_count += len(alerts)
        incident.updated_at = now
        worst = min(firing, key=lambda s: s.rank, default=None)
        if worst is not None and worst.rank < incident.severity.rank:
            incident.severity = worst
        return incident

    return await mutate_incident(store, incident.id, change, known=incident)


async def still_firing(store: Store, incident_id: str) -> set[str]:
    """Fingerprints whose latest stored alert on this incident is firing."""
    latest: dict[str, AlertStatus] = {}
    for alert in await store.list_alerts(incident_id, limit=100_000):
        latest[alert.fingerprint] = alert.status
    return {fp for fp, status in latest.items() if status is AlertStatus.FIRING}


async def resolve(
    store: Store, incident_id: str, *, actor: str, reason: str, now: datetime
) -> Incident:
    """Mark an incident resolved (idempotent) and note it on the timeline."""

    changed = False

    def change(incident: Incident) -> Incident | None:
        nonlocal changed
        changed = incident.status is not IncidentStatus.RESOLVED
        if not changed:
            return None
        incident.status = IncidentStatus.RESOLVED
        incident.resolved_at = now
        incident.updated_at = now
        return incident

    after = await mutate_incident(store, incident_id, change)
    if changed:
        await timeline.note(
            store, incident_id, at=now, actor=actor, kind="incident.resolved", message=reason
        )
    return after
