"""Retention: raw payloads and finished outbox deliveries are deleted once they are old enough.

One replica at a time prunes (a lease), and each run deletes at most ``PRUNE_BATCH`` of each
kind, so a long backlog drains over several runs without one long write. On Cosmos DB the same
items also carry a per-item TTL where the account supports it; this sweep is the portable path.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.pipeline.stage import Stage

log = logging.getLogger(__name__)

PRUNE_LEASE = "retention:prune"
PRUNE_BATCH = 1000
PRUNE_LEASE_SECONDS = 600.0


@dataclass(frozen=True)
class Pruned:
    """What one prune run deleted; ``ran`` is False when another replica held the lease."""

    ran: bool
    raw_payloads: int = 0
    deliveries: int = 0


class Retention(Stage):
    """The prune sweep (``prune``)."""

    async def prune(self, now: datetime, *, batch: int = PRUNE_BATCH) -> Pruned:
        """Sweep: delete raw payloads older than the raw retention and finished, recorded
        deliveries older than the outbox retention, at most ``batch`` of each."""
        async with self.exclusively(PRUNE_LEASE, now, PRUNE_LEASE_SECONDS) as held:
            if not held:
                return Pruned(ran=False)
            options = self.options
            raw = await self.store.prune_raw(
                now - timedelta(days=options.raw_retention_days), batch
            )
            deliveries = 0
            if self.dispatcher is not None:
                deliveries = await self.dispatcher.store.prune_deliveries(
                    now - timedelta(days=options.outbox_retention_days), batch
                )
        if raw or deliveries:
            log.info("pruned", extra={"raw_payloads": raw, "deliveries": deliveries})
        return Pruned(ran=True, raw_payloads=raw, deliveries=deliveries)
