"""Composition root: builds every port and the pipeline from Settings, and nothing else does."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot import actions
from bot.clock import utcnow
from bot.config import Settings, StoreBackend
from bot.errors import ConfigError
from bot.ingest import IngestOptions
from bot.models import RunbookChunk
from bot.notify import Notifier, SilentNotifier
from bot.pipeline import Pipeline, RunbookSearch
from bot.policy import Policy, load_policy
from bot.retrieval.index import RunbookIndex
from bot.store.base import Store
from bot.triage import build_triager

log = logging.getLogger(__name__)


def build_store(settings: Settings) -> Store:
    """The configured store backend."""
    if settings.store_backend is StoreBackend.COSMOS:
        from bot.store.cosmos import CosmosStore

        return CosmosStore.from_settings(settings, throughput=settings.cosmos_throughput)
    from bot.store.sqlite import SQLiteStore

    return SQLiteStore(settings.sqlite_path)


class LazyRunbooks:
    """The runbook index, opened (and brought up to date) on first use, not at start-up.

    Commands that never triage (``incidents``, ``timeline``) never touch it; ``serve`` warms it
    in a worker thread after start-up and the scheduler refreshes it when the files change.
    Invalid runbook files never stop triage: the error is logged and the last good index stays.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._index: RunbookIndex | None = None
        self._warmed = False
        self._lock = threading.Lock()
        self.problem: str | None = None

    def _opened(self) -> RunbookIndex:
        if self._index is None:
            from bot.retrieval import open_index

            self._index = open_index(self._settings)
        return self._index

    def refresh(self) -> bool:
        """Re-index if the runbook files changed; True when it rebuilt."""
        from bot.retrieval import load_runbooks

        with self._lock:
            index = self._opened()
            self._warmed = True
            try:
                runbooks = load_runbooks(self._settings.runbook_dir)
            except ConfigError as exc:
                self.problem = str(exc)
                log.error("runbooks not re-indexed: %s", exc)
                return False
            self.problem = None
            return index.index(runbooks).rebuilt

    def warm(self) -> None:
        """Open and index once (idempotent, thread-safe)."""
        if not self._warmed:
            self.refresh()

    def search(
        self, query: str, k: int = 4, *, service: str | None = None, category: str | None = None
    ) -> list[RunbookChunk]:
        """Search the index, opening it first if needed."""
        self.warm()
        return self._opened().search(query, k, service=service, category=category)


def replica_name(settings: Settings) -> str:
    """This process's name in leases and claims."""
    return settings.replica_id or f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class Services:
    """Everything a running bot holds; built once at start-up."""

    settings: Settings
    store: Store
    policy: Policy
    pipeline: Pipeline
    on_start: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    readiness: list[Callable[[], Awaitable[dict[str, str]]]] = field(default_factory=list)

    async def start(self) -> None:
        """Run start-up hooks (scheduler, Slack auth)."""
        for hook in self.on_start:
            await hook()

    async def stop(self) -> None:
        """Run shutdown hooks, then close the store."""
        for hook in reversed(self.on_stop):
            await hook()
        await self.store.close()

    async def extra_readiness(self) -> dict[str, str]:
        """Readiness checks contributed by optional parts (Slack)."""
        checks: dict[str, str] = {}
        for probe in self.readiness:
            checks.update(await probe())
        return checks

    async def triage_in_background(self, incident_id: str) -> None:
        """Triage a newly opened incident; failures are logged by the caller's task guard."""
        await self.pipeline.triage_incident(incident_id, utcnow())


def build_services(
    settings: Settings,
    *,
    store: Store | None = None,
    notifier: Notifier | None = None,
    runbooks: RunbookSearch | None = None,
) -> Services:
    """Wire the bot from settings; an invalid policy raises PolicyError (fail closed)."""
    policy = load_policy(settings.policy_dir)
    store = store or build_store(settings)
    pipeline = Pipeline(
        store=store,
        policy=policy,
        triager=build_triager(settings, store),
        runbooks=runbooks if runbooks is not None else LazyRunbooks(settings),
        notifier=notifier or SilentNotifier(),
        executors=actions.build_executors(settings),
        ingest_options=IngestOptions(
            max_body_bytes=settings.alert_max_body_bytes,
            max_json_depth=settings.alert_max_json_depth,
            service_label_order=tuple(settings.service_label_order),
        ),
        runbook_top_k=settings.runbook_top_k,
        approval_ttl_seconds=settings.approval_ttl_seconds,
        replica_id=replica_name(settings),
    )
    return Services(settings=settings, store=store, policy=policy, pipeline=pipeline)
