"""Stage 1, intake: a payload in, its alerts stored and filed under incidents, triage scheduled."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot import actions, incidents, metrics, timeline
from bot.ingest import parse_payload
from bot.models import (
    BOT_ACTOR,
    Alert,
    AlertStatus,
    ConversationRef,
    EventKind,
    Incident,
    IncidentStatus,
    RawPayload,
    Role,
)
from bot.pipeline.filing import Filer
from bot.pipeline.stage import Stage

log = logging.getLogger(__name__)


@dataclass
class IngestReceipt:
    """What one inbound payload did: every alert is either stored or counted as a duplicate."""

    source: str
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    unmatched_resolved: int = 0
    truncated: int = 0
    incident_ids: list[str] = field(default_factory=list)
    new_incident_ids: list[str] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    # incidents whose alerts this payload only repeated (a sender's retry)
    resent_incident_ids: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The receipt as every edge reports it (HTTP answer, CLI output)."""
        return {
            "source": self.source,
            "received": self.received,
            "accepted": self.stored,
            "duplicates": self.duplicates,
            "unmatched_resolved": self.unmatched_resolved,
            "truncated": self.truncated,
            "incident_ids": self.incident_ids,
            "new_incident_ids": self.new_incident_ids,
        }


@dataclass
class _Filing:
    """Per-payload bookkeeping: incidents looked up once per group, alerts by incident."""

    filer: Filer
    by_group: dict[tuple[str, AlertStatus], Incident | None] = field(default_factory=dict)
    incidents: dict[str, Incident] = field(default_factory=dict)
    alerts: dict[str, list[Alert]] = field(default_factory=lambda: defaultdict(list))
    # Incidents this payload opened, or a storm absorbs: no follow-up note for those.
    quiet: set[str] = field(default_factory=set)
    # The person whose report this payload is (they lead what it opens), if any.
    reporter: str | None = None


class Intake(Stage):
    """Ingest payloads; ``receive`` also schedules triage of what needs it."""

    async def receive(
        self,
        source: str,
        body: bytes,
        content_type: str | None,
        now: datetime,
        *,
        conversation: ConversationRef | None = None,
    ) -> IngestReceipt:
        """Ingest, then queue triage for new incidents and touched ones still untriaged."""
        receipt = await self.ingest(source, body, content_type, now, conversation=conversation)
        for incident_id in receipt.new_incident_ids:
            self.triage_queue.submit(incident_id)
        # A resend (the sender's retry after a crash between storing and triaging) of an
        # incident that was never triaged schedules it now instead of waiting for the sweep.
        for incident_id in receipt.resent_incident_ids:
            if incident_id not in receipt.new_incident_ids and not await self.store.list_triages(
                incident_id
            ):
                self.triage_queue.submit(incident_id)
        return receipt

    async def ingest(
        self,
        source: str,
        body: bytes,
        content_type: str | None,
        now: datetime,
        *,
        conversation: ConversationRef | None = None,
        commander: str | None = None,
    ) -> IngestReceipt:
        """Parse a payload, keep its raw bytes, and file each alert under an incident.

        An incident the payload opens is led by ``commander`` (a person's report: the
        reporter), else by its service's on-call commander (``oncall.commander``), else by
        nobody until someone acknowledges it.
        """
        parsed = parse_payload(
            source, body, content_type, received_at=now, options=self.options.ingest
        )
        raw = RawPayload(
            source=source,
            content_type=content_type or "application/json",
            body=self._raw_text(body),
            received_at=now,
        )
        receipt = IngestReceipt(
            source=source, received=len(parsed.alerts), truncated=parsed.truncated
        )
        filed = _Filing(
            Filer(
                self.store,
                self.coordination,
                self.options.storm,
                lead=lambda alert: commander or self.oncall_commander(alert.service),
            ),
            reporter=commander,
        )
        for alert in parsed.alerts:
            alert.raw_ref = raw.id
            await self._place_alert(alert, now, receipt, filed, conversation)
        await self._store_alerts(parsed.alerts, raw, receipt, filed)
        _count_receipt(receipt)
        for incident_id, stored in filed.alerts.items():
            await self._count(filed.incidents[incident_id], stored, now)
            await self._note_resolved(incident_id, stored, now)
            if incident_id not in filed.quiet:
                await self._follow_up(filed.incidents[incident_id], stored, now, conversation)
        await filed.filer.settle(filed.alerts, now)
        if parsed.truncated:
            log.warning(
                "source left out alerts", extra={"source": source, "truncated": parsed.truncated}
            )
        return receipt

    def _raw_text(self, body: bytes) -> str:
        text = body.decode("utf-8")
        return text if self.options.keep_raw_payloads else self.redactor.redact_payload_text(text)

    async def _place_alert(
        self,
        alert: Alert,
        now: datetime,
        receipt: IngestReceipt,
        filed: _Filing,
        conversation: ConversationRef | None,
    ) -> None:
        """Find or open the alert's incident (one lookup per group key and status)."""
        key = (alert.group_key, alert.status)
        if key in filed.by_group:
            incident = filed.by_group[key]
            alert.incident_id = incident.id if incident else None
            return
        created = in_storm = False
        if alert.status is AlertStatus.FIRING:
            placed = await filed.filer.place_firing(alert, now, conversation)
            incident, created, in_storm = placed.incident, placed.created, placed.in_storm
        else:
            incident = await filed.filer.place_resolved(alert, now)
        filed.by_group[key] = incident
        alert.incident_id = incident.id if incident else None
        if incident is None:
            return
        filed.incidents[incident.id] = incident
        if created or in_storm:
            # A storm's alerts get no message each: the storm incident's card tells the story.
            filed.quiet.add(incident.id)
        if created:
            # Reported even if the alert turns out to be a duplicate: a resend racing through
            # another replica may store the alert first, and only this call knows the incident
            # is new and must be triaged.
            receipt.new_incident_ids.append(incident.id)
            receipt.incident_ids.append(incident.id)
            await timeline.note(
                self.store,
                incident.id,
                at=now,
                actor=alert.source,
                kind=EventKind.INCIDENT_OPENED,
                message=self._opened_by(alert, in_storm),
                service=alert.service,
                service_flags=alert.service_flags,
                group_key=alert.group_key,
                alert_id=alert.id,
            )
            if incident.commander is not None:
                await self._note_lead(incident, filed.reporter, now)

    def oncall_commander(self, service: str) -> str | None:
        """The on-call commander of a known service (``oncall.commander``); a look-alike or
        unknown name has none."""
        spec = self.policy.resolve_service(service).spec
        return spec.oncall.commander if spec is not None else None

    async def _note_lead(self, incident: Incident, reporter: str | None, now: datetime) -> None:
        """Say on the timeline who leads an incident from its first moment, and why."""
        lead = incident.commander or ""
        if reporter is not None and lead == reporter:
            actor, source, message = reporter, "reporter", f"{lead} reported it and leads it"
        else:
            actor, source = BOT_ACTOR, "oncall"
            message = f"On-call commander {lead} of {incident.service} assigned as commander"
        await timeline.note(
            self.store,
            incident.id,
            at=now,
            actor=actor,
            kind=EventKind.INCIDENT_ROLE_ASSIGNED,
            message=message,
            role=Role.COMMANDER.value,
            user=lead,
            previous=None,
            source=source,
        )

    def _opened_by(self, alert: Alert, in_storm: bool) -> str:
        if not in_storm:
            return f"Opened by {alert.source} alert: {alert.title}"
        rule = self.options.storm
        return (
            f"Alert storm: more than {rule.threshold} new incidents within "
            f"{rule.window_seconds:g} s; new alert groups join this incident until the rate "
            f"falls. First: {alert.source} alert: {alert.title}"
        )

    async def _store_alerts(
        self, alerts: list[Alert], raw: RawPayload, receipt: IngestReceipt, filed: _Filing
    ) -> None:
        """One store call for the whole payload; resends are counted, not stored again."""
        counts: dict[str, int] = defaultdict(int)
        for alert in alerts:
            if alert.incident_id is not None:
                counts[alert.incident_id] += 1
        # The store adds what it actually stored to each incident's count in the same write.
        stored_flags = await self.store.add_alerts(alerts, counts, raw=raw)
        for alert, stored in zip(alerts, stored_flags, strict=True):
            if not stored:
                receipt.duplicates += 1
                resent = alert.incident_id
                if resent is not None and resent not in receipt.resent_incident_ids:
                    receipt.resent_incident_ids.append(resent)
                continue
            receipt.stored += 1
            receipt.alerts.append(alert)
            if alert.incident_id is None:
                receipt.unmatched_resolved += 1
                continue
            filed.alerts[alert.incident_id].append(alert)
            if alert.incident_id not in receipt.incident_ids:
                receipt.incident_ids.append(alert.incident_id)

    async def _follow_up(
        self,
        incident: Incident,
        stored: list[Alert],
        now: datetime,
        conversation: ConversationRef | None,
    ) -> None:
        """New alerts of an incident that has a card: refresh its counts, and say so in its
        thread at most once per ``follow_up_note_seconds`` (across replicas: a lease)."""
        firing = [a for a in stored if a.status is AlertStatus.FIRING]
        if not firing or incident.status is not IncidentStatus.OPEN:
            return
        if incident.card is None and incident.conversation is None and conversation is None:
            return
        await self.follow_up_card(incident.id, firing, now, conversation)

    async def _count(self, incident: Incident, stored: list[Alert], now: datetime) -> None:
        """Escalate the incident's severity when a new firing alert is worse (rare: CAS)."""
        worst = incidents.worst_firing(stored)
        if worst is not None and worst.rank < incident.severity.rank:
            await incidents.escalate(self.store, incident.id, worst, now)

    async def _note_resolved(self, incident_id: str, stored: list[Alert], now: datetime) -> None:
        resolved = [a for a in stored if a.status is AlertStatus.RESOLVED]
        if not resolved:
            return
        for alert in resolved:
            await timeline.note(
                self.store,
                incident_id,
                at=now,
                actor=alert.source,
                kind=EventKind.ALERT_RESOLVED,
                message=f"Resolved: {alert.title}",
                alert_id=alert.id,
                fingerprint=alert.fingerprint,
            )
        if not await incidents.still_firing(self.store, incident_id):
            await self.close_incident(
                incident_id,
                actor=resolved[-1].source,
                note="All alerts of this incident resolved at the source",
                now=now,
            )

    async def close_incident(
        self, incident_id: str, *, actor: str, note: str, now: datetime
    ) -> Incident:
        """Resolve an incident (idempotent), cancel what could still run, and tell people."""
        incident, changed = await incidents.resolve(
            self.store, incident_id, actor=actor, reason=note, now=now
        )
        if not changed:
            return incident
        reason = f"incident resolved by {actor}"
        for request in await actions.cancel_open(
            self.store, incident_id, actor=actor, reason=reason, now=now
        ):
            await self.notifier.request_updated(incident, request)
            await self.refresh_card(incident, request)
        # The latest card drops what only an open incident offers (Acknowledge, corrections).
        await self.refresh_incident_card(incident_id)
        await self.notifier.incident_resolved(incident, actor, note)
        return incident


def _count_receipt(receipt: IngestReceipt) -> None:
    counted = metrics.ALERTS_RECEIVED
    source = receipt.source
    counted.labels(source, "stored").inc(receipt.stored - receipt.unmatched_resolved)
    counted.labels(source, "duplicate").inc(receipt.duplicates)
    counted.labels(source, "unmatched_resolved").inc(receipt.unmatched_resolved)
    metrics.INCIDENTS_OPENED.labels(source).inc(len(receipt.new_incident_ids))
