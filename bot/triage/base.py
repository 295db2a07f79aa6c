"""The Triager port the pipeline calls, whatever produces the triage."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from bot.models import Alert, Incident, RunbookChunk, Triage


class Triager(Protocol):
    """Turns an incident and its context into a Triage; never raises for bad model output."""

    async def triage(
        self,
        incident: Incident,
        alerts: list[Alert],
        runbooks: list[RunbookChunk],
        allowed_actions: list[str],
        now: datetime,
    ) -> Triage: ...
