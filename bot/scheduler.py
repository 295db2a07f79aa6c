"""Periodic sweeps on APScheduler: expire approvals, remind and escalate, re-index, catch up.

Every job is an idempotent sweep that is safe to run on every replica at once: expiry and
reminders move a request by compare-and-swap (one replica wins each), triage is lease-guarded,
and re-indexing is a no-op unless the runbook files changed.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol, runtime_checkable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot import timeline
from bot.app import LazyRunbooks, Services
from bot.clock import utcnow
from bot.config import RunbookBackend
from bot.errors import Conflict, NotFound
from bot.models import ActionRequest, ActionState, Incident
from bot.pipeline import BOT_ACTOR, Pipeline
from bot.store.base import Store

log = logging.getLogger(__name__)

# A just-opened incident is triaged by the request that opened it; the sweep only catches
# the ones a crashed replica left behind.
TRIAGE_GRACE_SECONDS = 60.0
REINDEX_LEASE = "scheduler:reindex"
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 60}


class Nudge(StrEnum):
    REMIND = "remind"
    ESCALATE = "escalate"


@runtime_checkable
class Reminders(Protocol):
    """A notifier that can nudge approvers itself (Slack mentions); others get a plain note."""

    async def remind(self, incident: Incident, request: ActionRequest, escalate: bool) -> None: ...


def nudge_due(request: ActionRequest, now: datetime, every_seconds: float) -> Nudge | None:
    """Remind once ``every_seconds`` after the request opened, then escalate each period."""
    if request.state is not ActionState.PENDING_APPROVAL:
        return None
    if request.expires_at is not None and request.expires_at <= now:
        return None
    last = request.reminded_at or request.created_at
    if now - last < timedelta(seconds=every_seconds):
        return None
    return Nudge.REMIND if request.reminded_at is None else Nudge.ESCALATE


async def _claim_nudge(
    store: Store, request_id: str, now: datetime, every_seconds: float
) -> tuple[ActionRequest, Nudge] | None:
    """Stamp ``reminded_at`` by CAS; only the replica whose write wins sends the nudge."""
    try:
        current = await store.get_action_request(request_id)
    except NotFound:
        return None
    nudge = nudge_due(current, now, every_seconds)
    if nudge is None:
        return None
    current.reminded_at = now
    try:
        return await store.update_action_request(current), nudge
    except Conflict:
        return None


async def remind_sweep(pipeline: Pipeline, now: datetime, every_seconds: float) -> int:
    """Nudge approvers of requests nobody has acted on; returns how many were nudged."""
    store = pipeline.store
    sent = 0
    for candidate in await store.list_action_requests(states=[ActionState.PENDING_APPROVAL]):
        if nudge_due(candidate, now, every_seconds) is None:
            continue
        claimed = await _claim_nudge(store, candidate.id, now, every_seconds)
        if claimed is None:
            continue
        request, nudge = claimed
        incident = await store.get_incident(request.incident_id)
        await timeline.note(
            store,
            incident.id,
            at=now,
            actor=BOT_ACTOR,
            kind=f"action.{'reminded' if nudge is Nudge.REMIND else 'escalated'}",
            message=f"{request.proposal.action} still waits for approval",
            request_id=request.id,
        )
        notifier = pipeline.notifier
        if isinstance(notifier, Reminders):
            await notifier.remind(incident, request, escalate=nudge is Nudge.ESCALATE)
        else:
            await notifier.incident_note(
                incident, f"{request.proposal.action} ({request.id}) still waits for approval."
            )
        sent += 1
    return sent


async def expire_sweep(pipeline: Pipeline, now: datetime) -> int:
    """Expire pending approvals past their deadline (the pipeline updates the cards)."""
    return len(await pipeline.expire_requests(now))


async def triage_sweep(pipeline: Pipeline, now: datetime) -> int:
    """Triage open incidents that have alerts but no triage (left behind by a crash)."""
    done = 0
    grace = timedelta(seconds=TRIAGE_GRACE_SECONDS)
    for incident in await pipeline.untriaged_open_incidents():
        if incident.alert_count == 0 or now - incident.created_at < grace:
            continue
        if await pipeline.triage_incident(incident.id, now) is not None:
            done += 1
    return done


async def reindex_sweep(services: Services, now: datetime) -> bool:
    """Bring the runbook index up to date if the files changed; True when it rebuilt.

    A local index lives beside each replica, so every replica refreshes its own (a no-op when
    nothing changed); a shared Azure index is refreshed by one replica at a time (lease).
    """
    index = services.pipeline.runbooks
    if not isinstance(index, LazyRunbooks):
        return False
    if services.settings.runbook_backend is RunbookBackend.AZURE:
        lease_seconds = services.settings.runbook_reindex_seconds
        if not await services.store.acquire_lease(
            REINDEX_LEASE, services.pipeline.replica_id, now, lease_seconds
        ):
            return False
    rebuilt = await asyncio.to_thread(index.refresh)
    if rebuilt:
        log.info("runbooks re-indexed")
    return rebuilt


async def _run(name: str, services: Services) -> None:
    """One job run; a failure is logged and the next run tries again."""
    now = utcnow()
    pipeline = services.pipeline
    settings = services.settings
    try:
        if name == "expire":
            await expire_sweep(pipeline, now)
        elif name == "remind":
            await remind_sweep(pipeline, now, settings.approval_reminder_seconds)
        elif name == "triage":
            await triage_sweep(pipeline, now)
        elif name == "reindex":
            await reindex_sweep(services, now)
    except Exception:
        log.exception("scheduled sweep failed", extra={"job": name})


def build_scheduler(services: Services) -> AsyncIOScheduler:
    """The scheduler with every sweep registered (not started)."""
    settings = services.settings
    scheduler = AsyncIOScheduler(job_defaults=JOB_DEFAULTS, timezone="UTC")
    every = settings.scheduler_interval_seconds
    intervals = {
        "expire": every,
        "remind": every,
        "triage": every,
        "reindex": settings.runbook_reindex_seconds,
    }
    for name, seconds in intervals.items():
        scheduler.add_job(
            _run, "interval", seconds=seconds, args=[name, services], id=name, name=name
        )
    return scheduler


def attach_scheduler(services: Services) -> AsyncIOScheduler:
    """Start the sweeps with the services and stop them first on shutdown."""
    scheduler = build_scheduler(services)

    async def start() -> None:
        scheduler.start()
        log.info("scheduler started", extra={"jobs": [job.id for job in scheduler.get_jobs()]})

    async def stop() -> None:
        if scheduler.running:
            scheduler.shutdown(wait=False)

    services.on_start.append(start)
    services.on_stop.append(stop)
    return scheduler
