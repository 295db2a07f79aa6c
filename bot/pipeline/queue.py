"""The triage queue: bounded, with a fixed number of workers, so webhooks stay fast while the
model is slow. A full queue refuses more work instead of growing; what it refuses is an open,
untriaged incident in the store, and the triage sweep picks it up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot import metrics

log = logging.getLogger(__name__)

Handler = Callable[[str], Awaitable[object]]


class TriageQueue:
    """Incident ids waiting for triage; each id is queued at most once at a time."""

    def __init__(self, capacity: int = 1000, workers: int = 4) -> None:
        self.capacity = capacity
        self.workers = workers
        self._queue: asyncio.Queue[str] | None = None
        self._queued: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def running(self) -> bool:
        """True between ``start`` and ``stop``."""
        return bool(self._tasks)

    @property
    def depth(self) -> int:
        """How many incidents wait for a worker."""
        return self._queue.qsize() if self._queue is not None else 0

    def submit(self, incident_id: str) -> bool:
        """Queue an incident; False when the queue is full, stopped, or already holds it."""
        if self._queue is None or incident_id in self._queued:
            return False
        try:
            self._queue.put_nowait(incident_id)
        except asyncio.QueueFull:
            metrics.TRIAGE_QUEUE_REFUSED.inc()
            log.warning(
                "triage queue full; the sweep will triage", extra={"incident_id": incident_id}
            )
            return False
        self._queued.add(incident_id)
        metrics.TRIAGE_QUEUE_DEPTH.set(self.depth)
        return True

    def start(self, handle: Handler) -> None:
        """Start the workers on the running loop."""
        if self._tasks:
            return
        self._queue = asyncio.Queue(maxsize=self.capacity)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._work(handle), name=f"triage-worker-{n}")
            for n in range(self.workers)
        ]

    async def _work(self, handle: Handler) -> None:
        assert self._queue is not None
        while True:
            incident_id = await self._queue.get()
            self._queued.discard(incident_id)
            metrics.TRIAGE_QUEUE_DEPTH.set(self.depth)
            try:
                await handle(incident_id)
            except Exception:
                log.exception("queued triage failed", extra={"incident_id": incident_id})
            finally:
                self._queue.task_done()

    async def stop(self, timeout: float = 30.0) -> None:
        """Let queued work finish (bounded by ``timeout``), then stop the workers."""
        if self._queue is not None and self._tasks:
            try:
                await asyncio.wait_for(self._queue.join(), timeout)
            except TimeoutError:
                log.warning("triage queue not drained", extra={"left": self.depth})
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self._queue = None
        self._queued.clear()
