"""The drift check: triage accuracy per category over its last N judged incidents (corrected or
confirmed, as ``bot.accuracy`` defines the truth), the figures on /metrics, and a post to the
drift channel when a category falls below the threshold.

Every replica runs it and keeps its own gauges current. A post is claimed per category with a
day-long lease whose owner is not this replica's (``drift/…``), so a restart does not let it go:
at most one post per category per day, whichever replica sees the drift first. Nothing goes on
an incident's timeline (drift is not an incident event); drift is logged.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot import accuracy, metrics
from bot.accuracy import CategoryScore
from bot.pipeline.correcting import Correcting

log = logging.getLogger(__name__)

# How far back judged incidents are read (incidents opened since then).
LOOKBACK_DAYS = 90
# One post per category per this long, across replicas.
POST_LEASE_SECONDS = 86_400.0


def post_lease(category: str) -> str:
    """The lease that lets one replica post one category's drift once a day."""
    return f"accuracy-drift:{category}"


class Drifting(Correcting):
    """The drift sweep (``check_drift``)."""

    async def check_drift(self, now: datetime) -> list[CategoryScore]:
        """Sweep: score each category over its last ``drift.last`` judged incidents, set the
        gauges, and post the drifted ones (once a day each); returns the rows this replica
        posted."""
        rule = self.options.drift
        judged = await self.judged_triages(now - timedelta(days=LOOKBACK_DAYS))
        rows = accuracy.recent_by_category(judged, rule.last)
        _show(rows)
        posted: list[CategoryScore] = []
        for row in rows:
            if not rule.drifted(row):
                continue
            figures = {
                "category": row.category.value,
                "accuracy": row.recall,
                "judged": row.support,
                "threshold": rule.threshold,
            }
            if not rule.post:
                log.info("triage accuracy drifted (no DRIFT_CHANNEL)", extra=figures)
                continue
            owner = f"drift/{self.attempt_owner()}"
            lease = post_lease(row.category.value)
            if not await self.coordination.acquire_lease(lease, owner, now, POST_LEASE_SECONDS):
                continue
            log.warning("triage accuracy drifted", extra=figures)
            await self.notifier.accuracy_drifted(
                row.category, row.recall or 0.0, row.support, rule.threshold
            )
            metrics.ACCURACY_DRIFT_POSTS.labels(row.category.value).inc()
            posted.append(row)
        return posted


def _show(rows: list[CategoryScore]) -> None:
    """Set the per-category gauges; a category with no judged incident left has none."""
    seen: set[str] = set()
    for row in rows:
        name = row.category.value
        seen.add(name)
        metrics.TRIAGE_CATEGORY_ACCURACY.labels(name).set(row.recall or 0.0)
        metrics.TRIAGE_CATEGORY_JUDGED.labels(name).set(row.support)
    for category in accuracy.CATEGORIES:
        if category.value not in seen:
            metrics.TRIAGE_CATEGORY_ACCURACY.remove(category.value)
            metrics.TRIAGE_CATEGORY_JUDGED.remove(category.value)
