"""The runbook index as the pipeline sees it: opened and brought up to date on first use."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from bot.errors import ConfigError
from bot.models import RunbookChunk
from bot.retrieval.index import RunbookIndex
from bot.retrieval.runbooks import Runbook

log = logging.getLogger(__name__)


class LazyRunbooks:
    """Opens the index on first use, not at start-up; refreshes it when the files change.

    Commands that never triage (``incidents``, ``timeline``) never touch it; ``serve`` warms it
    in a worker thread after start-up and the scheduler refreshes it. Invalid runbook files
    never stop triage: the error is logged and the last good index stays.
    """

    def __init__(
        self, open_index: Callable[[], RunbookIndex], load: Callable[[], list[Runbook]]
    ) -> None:
        self._open = open_index
        self._load = load
        self._index: RunbookIndex | None = None
        self._warmed = False
        self._lock = threading.Lock()
        self.problem: str | None = None

    def _opened(self) -> RunbookIndex:
        if self._index is None:
            self._index = self._open()
        return self._index

    def refresh(self) -> bool:
        """Re-index if the runbook files changed; True when it rebuilt."""
        with self._lock:
            index = self._opened()
            self._warmed = True
            try:
                runbooks = self._load()
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
        self,
        query: str,
        k: int = 4,
        *,
        service: str | None = None,
        category: str | None = None,
        prefer_category: str | None = None,
    ) -> list[RunbookChunk]:
        """Search the index, opening it first if needed."""
        self.warm()
        return self._opened().search(
            query, k, service=service, category=category, prefer_category=prefer_category
        )
