"""The flow, end to end: ingest → triage → policy → action requests → approvals → execution.

Read this module top to bottom to understand the bot. Each stage is a plain call on domain
models; storage, chat, the LLM and the runbook index are ports handed in by the composition root.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from bot import actions, incidents, metrics, timeline
from bot.errors import NotFound
from bot.ingest import IngestOptions, parse_payload
from bot.models import (
    ActionRequest,
    ActionState,
    Alert,
    AlertStatus,
    Incident,
    IncidentStatus,
    RawPayload,
    RunbookChunk,
    Severity,
    Triage,
    Vote,
)
from bot.notify import Notifier
from bot.policy import EvaluationContext, Policy
from bot.postmortem import PostmortemFacts
from bot.store.base import Store
from bot.triage import Triager

log = logging.getLogger(__name__)

BOT_ACTOR = "incident-bot"
TRIAGE_LEASE_SECONDS = 300.0
OPEN_STATES = [ActionState.PROPOSED, ActionState.PENDING_APPROVAL, ActionState.APPROVED]


class RunbookSearch(Protocol):
    def search(
        self, query: str, k: int = 4, *, service: str | None = None, category: str | None = None
    ) -> list[RunbookChunk]: ...


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


@dataclass
class _Filing:
    """Per-payload bookkeeping: incidents looked up and alerts stored under each."""

    by_group: dict[tuple[str, AlertStatus], Incident | None] = field(default_factory=dict)
    incidents: dict[str, Incident] = field(default_factory=dict)
    alerts: dict[str, list[Alert]] = field(default_factory=lambda: defaultdict(list))


@dataclass
class TriageResult:
    incident: Incident
    triage: Triage
    requests: list[ActionRequest]


@dataclass
class VoteResult:
    request: ActionRequest
    accepted: bool
    message: str
    executed: bool = False


@dataclass
class Pipeline:
    store: Store
    policy: Policy
    triager: Triager
    runbooks: RunbookSearch | None
    notifier: Notifier
    executors: actions.Executors
    ingest_options: IngestOptions = field(default_factory=IngestOptions)
    runbook_top_k: int = 4
    approval_ttl_seconds: int = 1800
    replica_id: str = BOT_ACTOR

    # 1. ingest ---------------------------------------------------------------------------
    async def ingest(
        self, source: str, body: bytes, content_type: str | None, now: datetime
    ) -> IngestReceipt:
        """Parse a payload, keep its raw bytes, and file each alert under an incident."""
        parsed = parse_payload(
            source, body, content_type, received_at=now, options=self.ingest_options
        )
        raw = RawPayload(
            source=source,
            content_type=content_type or "application/json",
            body=body.decode("utf-8"),
            received_at=now,
        )
        await self.store.add_raw(raw)
        receipt = IngestReceipt(
            source=source, received=len(parsed.alerts), truncated=parsed.truncated
        )
        filed = _Filing()
        for alert in parsed.alerts:
            alert.raw_ref = raw.id
            await self._file_alert(alert, now, receipt, filed)
        self._count_receipt(receipt)
        for incident_id, stored in filed.alerts.items():
            await incidents.count_alerts(self.store, filed.incidents[incident_id], stored, now)
            await self._note_resolved(incident_id, stored, now)
        if parsed.truncated:
            log.warning(
                "source left out alerts", extra={"source": source, "truncated": parsed.truncated}
            )
        return receipt

    @staticmethod
    def _count_receipt(receipt: IngestReceipt) -> None:
        counted = metrics.ALERTS_RECEIVED
        source = receipt.source
        counted.labels(source, "stored").inc(receipt.stored - receipt.unmatched_resolved)
        counted.labels(source, "duplicate").inc(receipt.duplicates)
        counted.labels(source, "unmatched_resolved").inc(receipt.unmatched_resolved)
        metrics.INCIDENTS_OPENED.labels(source).inc(len(receipt.new_incident_ids))

    async def _file_alert(
        self,
        alert: Alert,
        now: datetime,
        receipt: IngestReceipt,
        filed: _Filing,
    ) -> None:
        incident, created = await self._incident_for(alert, now, filed)
        alert.incident_id = incident.id if incident else None
        if incident is not None and created:
            # Reported even if this alert turns out to be a duplicate: a resend racing through
            # another replica may store the alert first, and then only this call knows the
            # incident is new and must be triaged.
            receipt.new_incident_ids.append(incident.id)
            receipt.incident_ids.append(incident.id)
            await timeline.note(
                self.store,
                incident.id,
                at=now,
                actor=alert.source,
                kind="incident.opened",
                message=f"Opened by {alert.source} alert: {alert.title}",
                service=alert.service,
                service_flags=alert.service_flags,
                group_key=alert.group_key,
                alert_id=alert.id,
            )
        if not await self.store.add_alert(alert):
            receipt.duplicates += 1
            return
        receipt.stored += 1
        receipt.alerts.append(alert)
        if incident is None:
            receipt.unmatched_resolved += 1
            return
        filed.alerts[incident.id].append(alert)
        if incident.id not in receipt.incident_ids:
            receipt.incident_ids.append(incident.id)

    async def _incident_for(
        self, alert: Alert, now: datetime, filed: _Filing
    ) -> tuple[Incident | None, bool]:
        """Alerts of one payload that share a group key share one lookup."""
        key = (alert.group_key, alert.status)
        if key in filed.by_group:
            return filed.by_group[key], False
        incident, created = await incidents.incident_for(self.store, alert, now)
        filed.by_group[key] = incident
        if incident is not None:
            filed.incidents[incident.id] = incident
        return incident, created

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
                kind="alert.resolved",
                message=f"Resolved: {alert.title}",
                alert_id=alert.id,
                fingerprint=alert.fingerprint,
            )
        if not await incidents.still_firing(self.store, incident_id):
            incident = await incidents.resolve(
                self.store,
                incident_id,
                actor=resolved[-1].source,
                reason="All alerts of this incident resolved at the source",
                now=now,
            )
            await self.notifier.incident_note(incident, "All alerts resolved; incident resolved.")

    # 2. triage → 3. policy → 4. action requests --------------------------------------------
    async def triage_incident(
        self, incident_id: str, now: datetime, *, requester: str = BOT_ACTOR, force: bool = False
    ) -> TriageResult | None:
        """Triage an incident once (lease-guarded across replicas), judge and file proposals."""
        lease = f"triage:{incident_id}"
        if not await self.store.acquire_lease(lease, self.replica_id, now, TRIAGE_LEASE_SECONDS):
            return None
        if not force and await self.store.list_triages(incident_id):
            return None
        incident = await self.store.get_incident(incident_id)
        alerts = await self.store.list_alerts(incident_id, limit=20)
        started = time.perf_counter()
        # Index look-ups are blocking SQLite / HTTP calls: keep them off the event loop.
        chunks = await asyncio.to_thread(self._runbooks_for, incident, alerts)
        triage = await self.triager.triage(
            incident, alerts, chunks, self.policy.action_names(), now
        )
        metrics.TRIAGE_SECONDS.labels(triage.provider).observe(time.perf_counter() - started)
        metrics.TRIAGES.labels(triage.execution_status.value, triage.provider).inc()
        metrics.count_usage(triage.provider, triage.model, triage.usage)
        await self.store.add_triage(triage)
        incident = await self._apply_triage(incident_id, triage, now)
        requests = await self._file_proposals(incident, triage, requester, now)
        incident = await self.notifier.incident_triaged(incident, triage, requests, alerts)
        return TriageResult(incident=incident, triage=triage, requests=requests)

    def _runbooks_for(self, incident: Incident, alerts: list[Alert]) -> list[RunbookChunk]:
        if self.runbooks is None:
            return []
        query = " ".join([incident.title, *(f"{a.title} {a.description}" for a in alerts[:5])])
        return self.runbooks.search(query[:2000], self.runbook_top_k, service=incident.service)

    async def _apply_triage(self, incident_id: str, triage: Triage, now: datetime) -> Incident:
        def change(incident: Incident) -> Incident:
            incident.category = triage.category
            if triage.severity.rank < incident.severity.rank:
                incident.severity = triage.severity
            incident.updated_at = now
            return incident

        incident = await incidents.mutate_incident(self.store, incident_id, change)
        await timeline.note(
            self.store,
            incident_id,
            at=now,
            actor=f"{triage.provider}:{triage.model}",
            kind="triage.completed",
            message=(
                f"{triage.category.value} / {triage.severity.value} "
                f"({triage.execution_status.value}, confidence {triage.confidence:.2f})"
            ),
            triage_id=triage.id,
            prompt_version=triage.prompt_version,
            runbooks=[f"{r.id}@{r.version}" for r in triage.runbooks],
        )
        return incident

    async def _file_proposals(
        self, incident: Incident, triage: Triage, requester: str, now: datetime
    ) -> list[ActionRequest]:
        pending = len(await self.store.list_action_requests(incident.id, OPEN_STATES))
        requests: list[ActionRequest] = []
        for proposal in triage.proposals:
            context = EvaluationContext(
                category=triage.category,
                severity=incident.severity,
                confidence=triage.confidence,
                now=now,
                requester=requester,
                pending_actions=pending,
            )
            decision = self.policy.evaluate(proposal, context)
            metrics.POLICY_DECISIONS.labels(decision.outcome.value).inc()
            request = await actions.open_request(
                self.store,
                incident_id=incident.id,
                triage_id=triage.id,
                proposal=proposal,
                decision=decision,
                requested_by=requester,
                now=now,
                ttl_seconds=self.approval_ttl_seconds,
            )
            if request.state is not ActionState.BLOCKED:
                pending += 1
            requests.append(request)
        return requests

    # 5. approvals → 6. execution -----------------------------------------------------------
    async def vote(
        self,
        request_id: str,
        user_id: str,
        vote: Vote,
        now: datetime,
        group_members: dict[str, frozenset[str]] | None = None,
    ) -> VoteResult:
        """Record one approver's vote; once enough approvals are in, execute (which re-checks)."""
        outcome = await actions.record_vote(
            request_id,
            user_id,
            vote,
            store=self.store,
            policy=self.policy,
            now=now,
            group_members=group_members or {},
        )
        result = VoteResult(
            request=outcome.request, accepted=outcome.accepted, message=outcome.message
        )
        metrics.APPROVALS.labels("accepted" if outcome.accepted else "refused").inc()
        if outcome.request.state is ActionState.APPROVED:
            executed = await actions.execute(
                request_id,
                store=self.store,
                policy=self.policy,
                executors=self.executors,
                now=now,
                group_members=group_members or {},
            )
            result.request = executed.request
            result.executed = executed.ran
            metrics.ACTIONS_EXECUTED.labels(
                executed.request.state.value if executed.ran else "not_run"
            ).inc()
            result.message = executed.message
        incident = await self.store.get_incident(result.request.incident_id)
        if outcome.accepted or result.executed:
            await self.notifier.request_updated(incident, result.request, result.message)
        return result

    async def expire_requests(self, now: datetime) -> list[ActionRequest]:
        """Sweep: expire pending approvals past their deadline (safe on every replica)."""
        expired = await actions.expire_due(self.store, now)
        for request in expired:
            try:
                incident = await self.store.get_incident(request.incident_id)
            except NotFound:
                continue
            await self.notifier.request_updated(incident, request, "Approval window expired.")
        return expired

    async def resolve_incident(
        self, incident_id: str, actor: str, note: str, now: datetime
    ) -> Incident:
        """Close an incident by hand; open action requests stay as they are for the audit."""
        incident = await incidents.resolve(
            self.store, incident_id, actor=actor, reason=note or "Resolved", now=now
        )
        await self.notifier.incident_note(incident, f"Resolved by {actor}: {note or 'no note'}")
        return incident

    async def untriaged_open_incidents(self, limit: int = 50) -> list[Incident]:
        """Open incidents with no triage yet (a replica died mid-way): the sweep picks them up."""
        found = []
        for incident in await self.store.list_incidents(IncidentStatus.OPEN, limit=limit):
            if not await self.store.list_triages(incident.id):
                found.append(incident)
        return found

    # declared by hand, and the review afterwards ------------------------------------------
    async def declare_incident(
        self,
        title: str,
        service: str,
        severity: Severity,
        commander: str,
        now: datetime,
        *,
        channel: str | None = None,
    ) -> Incident:
        """Open an incident a person declared (no alert); they become its commander."""
        incident = Incident(
            title=title[:200],
            service=service,
            severity=severity,
            commander=commander,
            slack_channel=channel,
            created_at=now,
            updated_at=now,
        )
        await self.store.create_incident(incident)
        await timeline.note(
            self.store,
            incident.id,
            at=now,
            actor=commander,
            kind="incident.declared",
            message=f"Declared {severity.value}: {incident.title}",
            service=service,
        )
        return incident

    async def postmortem_facts(self, incident_id: str) -> PostmortemFacts:
        """Everything stored about an incident, for the post-incident review."""
        return PostmortemFacts(
            incident=await self.store.get_incident(incident_id),
            events=await self.store.list_events(incident_id),
            triages=await self.store.list_triages(incident_id),
            requests=await self.store.list_action_requests(incident_id),
            alerts=await self.store.list_alerts(incident_id, limit=50),
            feedback=await self.store.list_feedback(incident_id),
        )
