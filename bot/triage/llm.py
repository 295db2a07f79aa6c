"""LLMTriager: prompt → model → validate → retry with feedback → fallback, within a budget."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from bot.errors import TriageError
from bot.models import (
    BOT_ACTOR,
    Alert,
    Event,
    EventKind,
    Incident,
    RunbookChunk,
    TokenUsage,
    Triage,
)
from bot.ports import Backend, ChatGateway, ChatMessage, Completion
from bot.redaction import Redactor
from bot.triage.context import TriageContext
from bot.triage.output import as_fallback, failed, scrub
from bot.triage.prompts import PromptSet, feedback
from bot.triage.rules import RulesEngine
from bot.triage.usage import PriceTable, TokenBudget, budget_day
from bot.triage.validation import check_reply

log = logging.getLogger(__name__)

# The model's own invalid reply is echoed back once; a runaway reply is cut.
ECHO_LIMIT = 8000


@dataclass
class _Attempts:
    """What the conversation with the model has produced so far."""

    raw: list[str]
    errors: list[str]
    usage: TokenUsage


class LLMTriager:
    """Triage with a language model; invalid or failed output falls back to the rules engine."""

    def __init__(
        self,
        gateway: ChatGateway,
        prompts: PromptSet,
        rules: RulesEngine,
        redactor: Redactor,
        store: Backend,
        prices: PriceTable,
        *,
        daily_token_budget: int = 0,
        validation_retries: int = 2,
        allow_cross_service: bool = False,
    ) -> None:
        self.gateway = gateway
        self.prompts = prompts
        self.rules = rules
        self.redactor = redactor
        self.store = store
        self.prices = prices
        self.budget = TokenBudget(store, daily_token_budget)
        self.validation_retries = validation_retries
        self.allow_cross_service = allow_cross_service

    async def triage(
        self,
        incident: Incident,
        alerts: list[Alert],
        runbooks: list[RunbookChunk],
        allowed_actions: list[str],
        now: datetime,
    ) -> Triage:
        """A validated model triage, or the rules engine's (RECOVERED_FALLBACK), or FAILED."""
        ctx = TriageContext(
            incident, alerts, runbooks, allowed_actions, now, self.allow_cross_service
        )
        attempts = _Attempts(raw=[], errors=[], usage=TokenUsage())
        if await self.budget.exhausted(now):
            await self._note_budget(incident, now)
            return self._fallback(ctx, attempts, "daily LLM token budget exhausted")
        schema = self.prompts.reply_schema(allowed_actions, ctx.allowed_services)
        wire = self.prompts.wire_schema(schema)
        messages = self.prompts.messages(ctx, self.redactor)
        for attempt in range(1, self.validation_retries + 2):
            if attempt > 1 and await self.budget.exhausted(now):
                await self._note_budget(incident, now)
                return self._fallback(ctx, attempts, "daily LLM token budget exhausted")
            completion = await self._complete(messages, wire, attempts)
            if completion is None:
                return self._fallback(ctx, attempts, "the LLM call failed")
            await self._account(completion, attempts, now)
            verdict = check_reply(completion.text, schema, ctx)
            if verdict.triage is not None:
                return self._completed(verdict.triage, completion, attempts)
            attempts.errors.extend(f"attempt {attempt}: {error}" for error in verdict.errors)
            echo = self.redactor.redact(completion.text)[:ECHO_LIMIT]
            messages = [
                *messages,
                ChatMessage("assistant", echo),
                feedback(self.prompts, verdict.errors, self.redactor),
            ]
        return self._fallback(ctx, attempts, "no valid reply after the validation retries")

    async def _complete(
        self, messages: list[ChatMessage], wire: dict[str, object], attempts: _Attempts
    ) -> Completion | None:
        try:
            return await self.gateway.complete(messages, dict(wire))
        except TriageError as exc:
            attempts.errors.append(str(exc))
        except Exception as exc:  # noqa: BLE001 - a triage must come back whatever broke
            log.exception("LLM gateway failed unexpectedly")
            attempts.errors.append(f"unexpected gateway error: {exc!r}")
        return None

    async def _account(self, completion: Completion, attempts: _Attempts, now: datetime) -> None:
        attempts.raw.append(completion.text)
        attempts.errors.extend(completion.usage_problems)
        usage = self.prices.usage(
            completion.model,
            completion.prompt_tokens,
            completion.completion_tokens,
            completion.total_tokens,
        )
        attempts.usage = attempts.usage + usage
        await self.budget.spend(now, usage.total_tokens)

    def _stamp(self, triage: Triage, attempts: _Attempts) -> Triage:
        return triage.model_copy(
            update={
                "prompt_version": self.prompts.version,
                "prompt_hash": self.prompts.hash,
                "usage": attempts.usage,
                "raw_responses": list(attempts.raw),
            }
        )

    def _completed(self, triage: Triage, completion: Completion, attempts: _Attempts) -> Triage:
        result = self._stamp(triage, attempts).model_copy(
            update={
                "provider": self.gateway.provider,
                "model": completion.model,
                "errors": [*attempts.errors, *triage.errors],
            }
        )
        return scrub(result, self.redactor)

    def _fallback(self, ctx: TriageContext, attempts: _Attempts, note: str) -> Triage:
        log.warning(
            "triage fell back to the rules engine",
            extra={"incident_id": ctx.incident.id, "reason": note},
        )
        try:
            rules_triage = self.rules.triage(
                ctx.incident, ctx.alerts, ctx.runbooks, ctx.allowed_actions, ctx.now
            )
        except Exception as exc:  # noqa: BLE001 - the last resort must not raise
            log.exception("rules engine failed during fallback")
            errors = [*attempts.errors, note, f"rules engine failed: {exc!r}"]
            return scrub(
                self._stamp(failed(ctx.incident, errors, ctx.now), attempts), self.redactor
            )
        result = as_fallback(rules_triage, attempts.errors, note)
        return scrub(self._stamp(result, attempts), self.redactor)

    async def _note_budget(self, incident: Incident, now: datetime) -> None:
        used = await self.store.get_token_usage(budget_day(now))
        await self.store.append_event(
            Event(
                incident_id=incident.id,
                at=now,
                actor=BOT_ACTOR,
                kind=EventKind.TRIAGE_BUDGET_EXHAUSTED,
                message=(
                    f"Daily LLM token budget used up ({used}/{self.budget.daily_tokens} tokens); "
                    "triaged by the offline rules engine instead."
                ),
                data={"day": budget_day(now), "used": used, "budget": self.budget.daily_tokens},
            )
        )
