"""The Triager port the pipeline calls, whatever produces the triage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

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


@dataclass(frozen=True)
class ChatMessage:
    """One chat message sent to (or received from) a model."""

    role: Literal["system", "user", "assistant"]
    content: str
