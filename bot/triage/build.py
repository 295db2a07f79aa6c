"""The triage composition root: build the configured Triager from Settings."""

from __future__ import annotations

from datetime import datetime

from bot.config import LLMProvider, Settings
from bot.errors import ConfigError
from bot.models import Alert, Incident, RunbookChunk, Triage
from bot.store.base import Store
from bot.triage.base import Triager
from bot.triage.output import failed, scrub
from bot.triage.redaction import Redactor
from bot.triage.rules import RulesEngine


class RulesTriager:
    """The embedded default: the offline rules engine behind the async Triager port."""

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


def build_triager(settings: Settings, store: Store) -> Triager:
    """The Triager for LLM_PROVIDER: rules (default), openai or azure."""
    redactor = Redactor(settings.redact_extra_patterns)
    engine = RulesEngine.from_file(settings.triage_rules_path)
    if settings.llm_provider is LLMProvider.RULES:
        return RulesTriager(engine, redactor)
    raise ConfigError(f"LLM_PROVIDER: {settings.llm_provider.value} is not wired yet")
