"""Stages 2-4: triage an incident, judge each proposal with policy, file action requests (each
with its plan, shown on the card before anyone is asked)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot import actions, incidents, metrics, timeline
from bot.actions.outputs import evidence_alert
from bot.errors import Conflict
from bot.models import (
    BOT_ACTOR,
    OPEN_ACTION_STATES,
    ActionRequest,
    ActionState,
    Alert,
    AlertStatus,
    Category,
    EventKind,
    Incident,
    IncidentStatus,
    RunbookChunk,
    RunbookRef,
    Triage,
)
from bot.pipeline.evidence import Evidencing
from bot.pipeline.storm import is_storm_key
from bot.policy import EvaluationContext
from bot.ports import RunbookSearch

log = logging.getLogger(__name__)

TRIAGE_ALERTS = 20
# Pieces of action evidence a triage reads (the newest).
EVIDENCE_ITEMS = 3
REINDEX_LEASE = "scheduler:reindex"


@dataclass
class TriageResult:
    """One triage and the requests filed from its proposals."""

    incident: Incident
    triage: Triage
    requests: list[ActionRequest]


class Triaging(Evidencing):
    """Triage once per incident (lease-guarded across replicas), then policy, then requests."""

    async def triage_incident(
        self, incident_id: str, now: datetime, *, requester: str = BOT_ACTOR, force: bool = False
    ) -> TriageResult | None:
        """Triage an incident unless another replica is at it or it is done (``force``: redo)."""
        # One owner per attempt: a second attempt on this same replica (a queued resend, the
        # sweep) must not renew the first one's lease and triage again beside it. The owner
        # names this boot too, so a restart can let go of what the dead process held.
        ttl = self.options.triage_lease_seconds
        async with self.exclusively(f"triage:{incident_id}", now, ttl) as held:
            if not held:
                return None
            # Checked under the lease: a triage that finished just before we took it counts.
            done = bool(await self.store.list_triages(incident_id))
            if done and not force:
                return None
            return await self._triage_now(incident_id, now, requester, force=force, again=done)

    async def _triage_now(
        self, incident_id: str, now: datetime, requester: str, *, force: bool, again: bool
    ) -> TriageResult | None:
        incident = await self.store.get_incident(incident_id)
        alerts = await self.store.list_alerts(incident_id, limit=TRIAGE_ALERTS)
        # The alert's own series (bounded by the metrics timeout) goes into the triage context.
        incident, gathered = await self.gather_evidence(incident, alerts, now)
        started = time.perf_counter()
        # Index look-ups are blocking SQLite / HTTP calls: keep them off the event loop.
        chunks = await asyncio.to_thread(self._runbooks_for, incident, alerts)
        seen = [*await self._action_evidence(incident), *alerts]
        triage = await self.triager.triage(incident, seen, chunks, self.policy.action_names(), now)
        metrics.TRIAGE_SECONDS.labels(triage.provider).observe(time.perf_counter() - started)
        metrics.TRIAGES.labels(triage.execution_status.value, triage.provider).inc()
        metrics.count_usage(triage.provider, triage.model, triage.usage)
        # What the card cites: a second search that knows the decided category.
        cited = await asyncio.to_thread(self._runbooks_for, incident, alerts, triage.category)
        triage = triage.model_copy(update={"runbooks": _cite(cited), "retriage": again})
        stored = await self._store_triage(triage, force)
        if stored is None:
            return None
        triage = stored
        incident = await self._apply_triage(incident_id, triage, now)
        requests = await self._file_proposals(incident, triage, requester, now)
        card = await self.notifier.incident_triaged(incident, triage, requests, alerts)
        if card is not None:
            drawn = incident.alert_count
            incident = await self.place_card(incident, card, requests)
            await self._catch_up(incident, drawn, now)
        await self.share_evidence(incident, gathered)
        return TriageResult(incident=incident, triage=triage, requests=requests)

    async def _catch_up(self, incident: Incident, drawn: int, now: datetime) -> None:
        """Alerts that joined after the card was drawn, before it was placed, found no card to
        refresh and no thread to tell: both happen now, as for any follow-up (a storm's
        alerts never get a line)."""
        joined = incident.alert_count - drawn
        if joined <= 0 or incident.status is not IncidentStatus.OPEN:
            return
        if is_storm_key(incident.group_key):
            return
        # The count is of firing alerts; each may have its resolved notice stored beside it
        # (oldest first, so the listing must reach past both to the newest).
        alerts = await self.store.list_alerts(incident.id, limit=2 * incident.alert_count + 10)
        firing = [a for a in alerts if a.status is AlertStatus.FIRING][-joined:]
        if firing:
            await self.follow_up_card(incident.id, firing, now)

    async def _action_evidence(self, incident: Incident) -> list[Alert]:
        """What actions that ran by themselves returned with signal (newest first), read by the
        triage next to the alerts; never stored as alerts."""
        events = [
            event
            for event in await self.store.list_events(incident.id)
            if event.kind == EventKind.ACTION_EVIDENCE and event.data.get("signal")
        ]
        return [evidence_alert(event, incident) for event in events[-EVIDENCE_ITEMS:][::-1]]

    async def _store_triage(self, triage: Triage, force: bool) -> Triage | None:
        """Store ``triage``; None when another replica stored the incident's first triage
        meanwhile (a lapsed lease, a slow model): that one files the requests and posts the
        card. An explicit re-triage (``force``) is then stored as a re-triage."""
        try:
            await self.store.add_triage(triage)
            return triage
        except Conflict:
            if triage.retriage or not force:
                log.info(
                    "incident already triaged elsewhere; this triage is dropped",
                    extra={"incident_id": triage.incident_id, "triage_id": triage.id},
                )
                return None
        again = triage.model_copy(update={"retriage": True})
        await self.store.add_triage(again)
        return again

    def _runbooks_for(
        self, incident: Incident, alerts: list[Alert], category: Category | None = None
    ) -> list[RunbookChunk]:
        """The service's runbooks for the alerts; with a category, those of that category
        ranked first."""
        if self.runbooks is None:
            return []
        query = " ".join([incident.title, *(f"{a.title} {a.description}" for a in alerts[:5])])
        k = self.options.runbook_top_k
        return search_runbooks(self.runbooks, query[:2000], k, incident.service, category)

    async def _apply_triage(self, incident_id: str, triage: Triage, now: datetime) -> Incident:
        def change(incident: Incident) -> Incident:
            # A human correction stands: a re-triage does not overwrite it; nor a severity a
            # person set by hand (raised or lowered, it is their call, not the model's).
            if incident.correction is None:
                incident.category = triage.category
                worse = triage.severity.rank < incident.severity.rank
                if worse and incident.severity_set_by is None:
                    incident.severity = triage.severity
            incident.updated_at = now
            return incident

        incident = await incidents.mutate_incident(self.store, incident_id, change)
        await timeline.note(
            self.store,
            incident_id,
            at=now,
            actor=f"{triage.provider}:{triage.model}",
            kind=EventKind.TRIAGE_COMPLETED,
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
        open_states = list(OPEN_ACTION_STATES)
        pending = len(await self.store.list_action_requests(incident.id, open_states))
        requests: list[ActionRequest] = []
        for proposal in triage.proposals:
            context = EvaluationContext(
                category=incident.category if incident.correction else triage.category,
                severity=incident.severity,
                confidence=triage.confidence,
                now=now,
                requester=requester,
                pending_actions=pending,
                service_flags=tuple(incident.service_flags),
            )
            decision = self.policy.evaluate(proposal, context)
            metrics.POLICY_DECISIONS.labels(decision.outcome.value).inc()
            request = await actions.open_request(
                self.store,
                incident_id=incident.id,
                triage_id=triage.id,
                proposal=proposal,
                decision=decision,
                policy=self.policy,
                requested_by=requester,
                now=now,
                ttl_seconds=self.options.approval_ttl_seconds,
                redactor=self.redactor,
            )
            if request.state is not ActionState.BLOCKED:
                pending += 1
            requests.append(request)
        return requests

    async def triage_untriaged(self, now: datetime, *, page: int = 100) -> int:
        """Sweep: triage open incidents that have alerts but no triage, oldest first.

        A just-opened incident is queued by the request that opened it; only one older than
        the triage lease (the worst-case time of one triage) is taken here, so the sweep never
        races a triage still in flight.
        """
        grace = timedelta(seconds=self.options.triage_lease_seconds)
        done = 0
        after: str | None = None
        while True:
            batch = await self.store.list_untriaged_incidents(limit=page, after=after)
            if not batch:
                return done
            for incident in batch:
                if now - incident.created_at < grace:
                    continue
                try:
                    if await self.triage_incident(incident.id, now) is not None:
                        done += 1
                except Exception:
                    # One incident that cannot be triaged must not stop the others.
                    log.exception("sweep triage failed", extra={"incident_id": incident.id})
            after = batch[-1].id
            if len(batch) < page:
                return done

    async def recover(self) -> tuple[int, int]:
        """Start-up: let go of the leases earlier boots of this replica id held (a process
        killed mid-triage holds its lease until the TTL), then queue the untriaged incidents,
        oldest first, as far as the queue takes them. Returns (leases released, queued).

        No grace here, unlike the sweep: what an earlier boot had queued died with it, and a
        triage another replica is running holds its lease, so queueing it again is harmless.
        A store that cannot answer yet is logged and left to the sweeps.
        """
        now = self.clock()
        released: list[str] = []
        queued = 0
        try:
            released = await self.coordination.release_leases_of(
                self.replica_owners, now, keep_prefix=self.boot_owners
            )
            queued = await self._queue_untriaged()
        except Exception:
            log.exception("start-up recovery failed; the sweeps will catch up")
        if released or queued:
            log.info(
                "recovered after a restart",
                extra={"released_leases": len(released), "queued_triages": queued},
            )
        return len(released), queued

    async def _queue_untriaged(self, page: int = 100) -> int:
        queue = self.triage_queue
        queued = 0
        after: str | None = None
        while queue.depth < queue.capacity:
            batch = await self.store.list_untriaged_incidents(limit=page, after=after)
            queued += sum(queue.submit(incident.id) for incident in batch)
            if len(batch) < page:
                break
            after = batch[-1].id
        return queued

    async def refresh_runbooks(self, now: datetime, *, shared_index: bool = False) -> bool:
        """Sweep: re-index the runbooks if their files changed; True when it rebuilt.

        A local index lives beside each replica, so every replica refreshes its own (a no-op
        when nothing changed); a shared index (Azure AI Search) is refreshed by one replica at
        a time, under a lease.
        """
        if self.runbooks is None:
            return False
        if shared_index and not await self.coordination.acquire_lease(
            REINDEX_LEASE, self.options.replica_id, now, self.options.reindex_seconds
        ):
            return False
        rebuilt = await asyncio.to_thread(self.runbooks.refresh)
        if rebuilt:
            log.info("runbooks re-indexed")
        return rebuilt


def search_runbooks(
    runbooks: RunbookSearch, query: str, k: int, service: str, category: Category | None
) -> list[RunbookChunk]:
    """The service's runbooks for ``query``, the triaged category's ranked first (a boost, not
    a filter: a wrong triage still leaves a clearly better text match on top). ``unknown``
    boosts nothing: it says triage learnt nothing the text does not already carry. With no
    runbook for the service, every service's."""
    prefer = category.value if category is not None and category is not Category.UNKNOWN else None
    found = runbooks.search(query, k, service=service or None, prefer_category=prefer)
    if found or not service:
        return found
    return runbooks.search(query, k, prefer_category=prefer)


def _cite(chunks: list[RunbookChunk]) -> list[RunbookRef]:
    """One citation per runbook, in the order the search ranked them."""
    first: dict[str, RunbookChunk] = {}
    for chunk in chunks:
        first.setdefault(chunk.runbook_id, chunk)
    return [chunk.ref() for chunk in first.values()]
