"""Periodic sweeps on APScheduler. Each job is one pipeline sweep, safe on every replica at once:
expiry and reminders move a request by compare-and-swap (one replica wins each), triage is
lease-guarded, and re-indexing is a no-op unless the runbook files changed."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.ports import Clock
from bot.runtime import Runtime

log = logging.getLogger(__name__)

JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 60}

Sweep = Callable[[datetime], Awaitable[object]]


async def run_sweep(name: str, sweep: Sweep, clock: Clock) -> None:
    """One job run; a failure is logged and the next run tries again."""
    try:
        await sweep(clock())
    except Exception:
        log.exception("scheduled sweep failed", extra={"job": name})


def build_scheduler(jobs: Mapping[str, tuple[float, Sweep]], clock: Clock) -> AsyncIOScheduler:
    """The scheduler with every sweep registered every so many seconds (not started)."""
    scheduler = AsyncIOScheduler(job_defaults=JOB_DEFAULTS, timezone="UTC")
    for name, (seconds, sweep) in jobs.items():
        scheduler.add_job(
            run_sweep, "interval", seconds=seconds, args=[name, sweep, clock], id=name, name=name
        )
    return scheduler


def attach_scheduler(
    runtime: Runtime, jobs: Mapping[str, tuple[float, Sweep]], clock: Clock
) -> AsyncIOScheduler:
    """Start the sweeps with the runtime and stop them first on shutdown."""
    scheduler = build_scheduler(jobs, clock)

    async def start() -> None:
        scheduler.start()
        log.info("scheduler started", extra={"jobs": [job.id for job in scheduler.get_jobs()]})

    async def stop() -> None:
        if scheduler.running:
            scheduler.shutdown(wait=False)

    runtime.on_start.append(start)
    runtime.on_stop.append(stop)
    return scheduler
