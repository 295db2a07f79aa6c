"""What every pipeline stage works with: the ports and the few numbers that shape the flow."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from bot import incidents
from bot.accuracy import DriftRule
from bot.cas import read_modify_write
from bot.clock import utcnow
from bot.errors import NotFound
from bot.ingest import IngestOptions
from bot.models import BOT_ACTOR, ActionRequest, Alert, ConversationRef, Incident, Triage
from bot.pipeline.queue import TriageQueue
from bot.pipeline.storm import StormRule
from bot.policy import Policy
from bot.ports import (
    Charts,
    Clock,
    Coordination,
    Directory,
    Executors,
    Metrics,
    Notifier,
    RunbookSearch,
    Store,
    Triager,
)
from bot.redaction import Redactor

if TYPE_CHECKING:
    # Annotation only: the dispatcher's module builds on Stage.
    from bot.pipeline.deliveries import Dispatcher

CARD_ALERTS = 20


@dataclass(frozen=True)
class FlowOptions:
    """Knobs of the flow itself; the composition root fills them from settings."""

    ingest: IngestOptions = field(default_factory=IngestOptions)
    runbook_top_k: int = 4
    approval_ttl_seconds: int = 1800
    reminder_seconds: float = 600.0
    replica_id: str = BOT_ACTOR
    # This process's run of ``replica_id``: a restart with the same REPLICA_ID gets a new one
    # and lets go of the leases earlier boots held (``Triaging.recover``).
    boot_id: str = field(default_factory=lambda: secrets.token_hex(4))
    # An execution claim lasts the executor's timeout plus this margin; then a sweep calls its
    # outcome unknown (ACTION_TIMEOUT_SECONDS, ACTION_CLAIM_MARGIN_SECONDS).
    action_timeout_seconds: float = 30.0
    action_claim_margin_seconds: float = 60.0
    # A triage holds its lease this long; the model's worst case (timeout x attempts) fits in it.
    triage_lease_seconds: float = 300.0
    reindex_seconds: float = 300.0
    # Who may resolve any incident besides its commander and the service's approvers.
    admin_approvers: tuple[str, ...] = ()
    # Raw payloads are kept redacted unless this says to keep the exact bytes.
    keep_raw_payloads: bool = False
    # When new incidents open faster than this, new groups join one storm incident.
    storm: StormRule = field(default_factory=StormRule)
    # Retention (RAW_PAYLOAD_RETENTION_DAYS, OUTBOX_RETENTION_DAYS): the prune sweep deletes
    # raw payloads and finished deliveries older than this.
    raw_retention_days: float = 30.0
    outbox_retention_days: float = 7.0
    # Evidence: how much of an alert's series to chart, and at most one chart per incident
    # per this many seconds (EVIDENCE_LOOKBACK_SECONDS, EVIDENCE_CHART_INTERVAL_SECONDS).
    evidence_lookback_seconds: float = 3600.0
    evidence_chart_interval_seconds: float = 900.0
    # Follow-up alerts of an open incident: at most one threaded line per incident per this
    # many seconds (FOLLOW_UP_NOTE_SECONDS); the card's counts are refreshed every time.
    follow_up_note_seconds: float = 60.0
    # Ask the commander of an open SEV0/SEV1 incident for a status update when there has been
    # none (and no such ask) for this long (UPDATE_REMINDER_MINUTES; 0: never).
    update_reminder_seconds: float = 1800.0
    # The accuracy drift check (DRIFT_MIN_CORRECTED, DRIFT_ACCURACY_THRESHOLD, DRIFT_CHANNEL).
    drift: DriftRule = field(default_factory=DriftRule)


class NoDirectory:
    """No chat tool to ask: approver groups have no members (group approvals cannot count)."""

    async def members(self, approver_ids: object) -> dict[str, frozenset[str]]:
        """Nobody is in any group."""
        return {}


@dataclass
class Stage:
    """The dependencies every stage reads; ``Pipeline`` is all the stages over one of these."""

    store: Store
    coordination: Coordination
    policy: Policy
    triager: Triager
    runbooks: RunbookSearch | None
    notifier: Notifier
    executors: Executors
    redactor: Redactor = field(default_factory=Redactor)
    directory: Directory = field(default_factory=NoDirectory)
    options: FlowOptions = field(default_factory=FlowOptions)
    triage_queue: TriageQueue = field(default_factory=TriageQueue)
    clock: Clock = field(default=utcnow)
    # The outbox (None when no chat tool is configured); its sweep is ``deliver_due``.
    dispatcher: Dispatcher | None = None
    # Evidence and verification (None when no Prometheus is configured).
    metrics: Metrics | None = None
    charts: Charts | None = None

    # shared by the stages: who holds a lease ---------------------------------------------------
    @property
    def replica_owners(self) -> str:
        """The prefix of every lease owner this replica id writes, whichever boot."""
        return f"{self.options.replica_id}/"

    @property
    def boot_owners(self) -> str:
        """The prefix of every lease owner this process (this boot) writes."""
        return f"{self.options.replica_id}/{self.options.boot_id}/"

    def attempt_owner(self) -> str:
        """A lease owner of its own for one attempt: ``{replica}/{boot}/{attempt}``."""
        return f"{self.boot_owners}{secrets.token_hex(6)}"

    @asynccontextmanager
    async def exclusively(self, lease: str, now: datetime, ttl: float) -> AsyncIterator[bool]:
        """Hold ``lease`` for one attempt (True), or learn that someone else holds it (False).

        The owner is this attempt's own, so a second attempt on this very replica is refused
        too; the lease is released as of ``now`` (expired for everyone, whatever the clock).
        """
        owner = self.attempt_owner()
        held = await self.coordination.acquire_lease(lease, owner, now, ttl)
        try:
            yield held
        finally:
            if held:
                await self.coordination.release_lease(lease, owner, now)

    # shared by the stages: where cards are, and keeping them current -----------------------
    async def place_card(
        self, incident: Incident, card: ConversationRef, requests: list[ActionRequest]
    ) -> Incident:
        """Record where a triage card was posted: on its requests, and as the incident's thread."""
        for request in requests:
            await self.remember_card(request.id, card)

        def place(current: Incident) -> Incident | None:
            thread = current.conversation.thread if current.conversation else None
            placed = ConversationRef(
                kind=card.kind, channel=card.channel, thread=thread or card.thread
            )
            changed = current.card != card
            current.card = card
            if current.conversation != placed and (
                current.conversation is None or current.conversation.channel == card.channel
            ):
                current.conversation, changed = placed, True
            return current if changed else None

        return await incidents.mutate_incident(self.store, incident.id, place)

    async def remember_card(self, request_id: str, card: ConversationRef) -> ActionRequest:
        """Record on a request where its card is (first writer wins), so updates can find it."""

        def change(request: ActionRequest) -> ActionRequest | None:
            if request.card is not None:
                return None
            request.card = card
            return request

        stored, _ = await read_modify_write(
            lambda: self.store.get_action_request(request_id),
            self.store.update_action_request,
            change,
            what=f"request {request_id}",
        )
        return stored

    async def refresh_card(self, incident: Incident, request: ActionRequest) -> bool:
        """Re-render the card holding ``request`` with the current state of every proposal."""
        siblings = [
            r
            for r in await self.store.list_action_requests(incident.id)
            if r.triage_id == request.triage_id
        ]
        card = next((r.card for r in [request, *siblings] if r.card is not None), None)
        triage = await self.triage_of(incident.id, request.triage_id)
        if card is None or triage is None:
            return False
        try:
            current = await self.store.get_incident(incident.id)
        except NotFound:
            return False
        alerts = await self.store.list_alerts(incident.id, limit=CARD_ALERTS)
        await self.notifier.card_changed(current, triage, siblings, alerts, card)
        return True

    async def refresh_incident_card(self, incident_id: str) -> bool:
        """Re-render the incident's latest card (its counts, its proposals) where it is."""
        try:
            current = await self.store.get_incident(incident_id)
        except NotFound:
            return False
        triages = await self.store.list_triages(incident_id)
        if not triages:
            return False
        triage = triages[-1]
        requests = [
            r
            for r in await self.store.list_action_requests(incident_id)
            if r.triage_id == triage.id
        ]
        card = next((r.card for r in requests if r.card is not None), None) or current.card
        if card is None:
            return False
        alerts = await self.store.list_alerts(incident_id, limit=CARD_ALERTS)
        await self.notifier.card_changed(current, triage, requests, alerts, card)
        return True

    async def follow_up_card(
        self,
        incident_id: str,
        firing: Sequence[Alert],
        now: datetime,
        conversation: ConversationRef | None = None,
    ) -> None:
        """Follow-up alerts of an incident: refresh its card's counts, and say so in its thread
        at most once per ``follow_up_note_seconds`` (across replicas: a lease)."""
        await self.refresh_incident_card(incident_id)
        interval = self.options.follow_up_note_seconds
        if interval > 0 and not await self.coordination.acquire_lease(
            f"follow-up:{incident_id}", self.attempt_owner(), now, interval
        ):
            return
        current = await self.store.get_incident(incident_id)
        await self.notifier.alert_joined(current, conversation or current.conversation, firing)

    async def triage_of(self, incident_id: str, triage_id: str | None) -> Triage | None:
        """The incident's triage with this id, if it exists."""
        for triage in await self.store.list_triages(incident_id):
            if triage.id == triage_id:
                return triage
        return None
