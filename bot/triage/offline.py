"""The embedded default Triager: the offline rules engine (keywords, no model) behind the port."""

from __future__ import annotations

from datetime import datetime

from bot.models import Alert, Incident, RunbookChunk, Triage
from bot.redaction import Redactor
from bot.triage.output import failed, scrub
from bot.triage.rules import RulesEngine


class RulesTriager:
    """Classifies with the rules engine; honestly labelled provider ``rules``, never a model."""

    def __init__(self, engine: RulesEngine, redactor: Redactor) -> None:
        self.engine = engine
        self.redactor = redactor

    async def triage(
        self,
        incident: Incident,
        alerts: list[Alert],
        runbooks: list[RunbookChunk],
        allowed_actions: list[str],
        now: datetime,
    ) -> Triage:
        """Classify with the rules engine; an unexpected failure yields a FAILED triage."""
        try:
            result = self.engine.triage(incident, alerts, runbooks, allowed_actions, now)
        except Exception as exc:  # noqa: BLE001 - a triage must come back, whatever broke
            result = failed(incident, [f"rules engine failed: {exc!r}"], now)
        return scrub(result, self.redactor)
