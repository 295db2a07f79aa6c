"""Runtime: everything a running bot holds, built once at start-up by the composition root."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.pipeline import Pipeline
from bot.policy import Policy
from bot.ports import Store

Hook = Callable[[], Awaitable[None]]
Probe = Callable[[], Awaitable[dict[str, str]]]


@dataclass
class Runtime:
    """The pipeline and its ports, plus start/stop hooks and readiness probes of optional parts."""

    store: Store
    policy: Policy
    pipeline: Pipeline
    on_start: list[Hook] = field(default_factory=list)
    on_stop: list[Hook] = field(default_factory=list)
    readiness: list[Probe] = field(default_factory=list)

    async def start(self) -> None:
        """Start the triage workers, recover what an earlier boot of this replica left
        (its leases, untriaged incidents), then the start-up hooks (scheduler, Slack)."""
        self.pipeline.start()
        await self.pipeline.recover()
        for hook in self.on_start:
            await hook()

    async def stop(self) -> None:
        """Stop hooks in reverse order, drain triage, then close the store."""
        for hook in reversed(self.on_stop):
            await hook()
        await self.pipeline.stop()
        await self.store.close()

    async def extra_readiness(self) -> dict[str, str]:
        """Readiness checks contributed by optional parts (Slack)."""
        checks: dict[str, str] = {}
        for probe in self.readiness:
            checks.update(await probe())
        return checks
