"""What every Slack listener shares, and the one error policy for work done after ``ack()``."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.errors import BotError
from bot.notify import NoPeople
from bot.pipeline import Pipeline
from bot.ports import People
from bot.slack import messages
from bot.slack.outbox import Outbox

log = logging.getLogger(__name__)

Reply = Callable[[str], Awaitable[object]]


class BackgroundWork:
    """Tasks started after an ack; kept referenced and drained (bounded) on shutdown."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, work: Awaitable[None], name: str) -> None:
        """Run ``work`` in the background, logging (never raising) its failure."""

        async def guarded() -> None:
            try:
                await work
            except Exception:
                log.exception("background work failed", extra={"work": name})

        task = asyncio.get_running_loop().create_task(guarded(), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait for running tasks (bounded) so a clean shutdown loses no click."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    def __len__(self) -> int:
        return len(self._tasks)


@dataclass
class SlackRuntime:
    """The pipeline plus the Slack-side parts the listeners need."""

    pipeline: Pipeline
    outbox: Outbox
    alert_channels: frozenset[str] = frozenset()
    work: BackgroundWork = field(default_factory=BackgroundWork)
    people: People = field(default_factory=NoPeople)
    # Where an incident declared from the global shortcut (no channel of its own) is announced.
    incident_channel: str = ""

    def after_ack(self, job: Awaitable[None], name: str, reply: Reply) -> None:
        """Run slow work after the ack; errors become an ephemeral ``reply``, never a trace."""

        async def guarded() -> None:
            try:
                await job
            except BotError as exc:
                log.warning("slack work refused", extra={"work": name, "error": str(exc)})
                await reply(messages.known_error(str(exc)))
            except Exception:
                correlation = secrets.token_hex(4)
                log.exception(
                    "slack work failed", extra={"work": name, "correlation_id": correlation}
                )
                await reply(messages.internal_error(correlation))

        self.work.start(guarded(), name)
