"""The triage composition root: build the configured Triager from Settings."""

from __future__ import annotations

from datetime import datetime

import openai

from bot.config import LLMProvider, Settings
from bot.errors import ConfigError
from bot.models import Alert, Incident, RunbookChunk, Triage
from bot.redaction import Redactor
from bot.store.base import Store
from bot.triage.base import Triager
from bot.triage.gateway import OpenAIChat, RetryPolicy
from bot.triage.llm import LLMTriager
from bot.triage.output import failed, scrub
from bot.triage.prompts import PromptSet
from bot.triage.rules import RulesEngine
from bot.triage.usage import PriceTable

COGNITIVE_SCOPE = "https://cognitiveservices.azure.com/.default"


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
    return LLMTriager(
        build_gateway(settings),
        PromptSet.load(settings.prompt_dir),
        engine,
        redactor,
        store,
        PriceTable.load(settings.llm_price_table),
        daily_token_budget=settings.llm_daily_token_budget,
        validation_retries=settings.triage_validation_retries,
        allow_cross_service=settings.triage_allow_cross_service,
    )


def build_gateway(settings: Settings) -> OpenAIChat:
    """The chat gateway for LLM_PROVIDER=openai or azure (SDK retries off: ours are explicit)."""
    retry = RetryPolicy(
        max_retries=settings.llm_max_retries,
        max_total_sleep=settings.llm_retry_max_sleep_seconds,
    )
    if settings.llm_provider is LLMProvider.AZURE:
        client: openai.AsyncOpenAI = azure_client(settings)
        model = settings.azure_openai_deployment
    else:
        client = openai_client(settings)
        model = settings.llm_model
    return OpenAIChat(
        client,
        provider=settings.llm_provider.value,
        model=model,
        response_format=settings.llm_response_format,
        retry=retry,
        max_concurrency=settings.llm_max_concurrency,
        slot_timeout=settings.llm_timeout_seconds,
    )


def openai_client(settings: Settings) -> openai.AsyncOpenAI:
    """AsyncOpenAI for OpenAI or any OpenAI-compatible server at OPENAI_BASE_URL."""
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    if not key:
        if not settings.openai_base_url:
            raise ConfigError("OPENAI_API_KEY must be set when LLM_PROVIDER=openai")
        # Self-hosted servers (vLLM, Ollama) ignore the key, but the SDK insists on one.
        key = "unused"
    return openai.AsyncOpenAI(
        api_key=key,
        base_url=settings.openai_base_url or None,
        timeout=settings.llm_timeout_seconds,
        max_retries=0,
    )


def azure_client(settings: Settings) -> openai.AsyncAzureOpenAI:
    """AsyncAzureOpenAI with an API key, or an Entra ID token when no key is set."""
    if settings.azure_openai_api_key is not None:
        return openai.AsyncAzureOpenAI(
            azure_endpoint=settings.azure_openai_endpoint,
            azure_deployment=settings.azure_openai_deployment,
            api_version=settings.openai_api_version,
            api_key=settings.azure_openai_api_key.get_secret_value(),
            timeout=settings.llm_timeout_seconds,
            max_retries=0,
        )
    from azure.identity.aio import DefaultAzureCredential, get_bearer_token_provider

    provider = get_bearer_token_provider(DefaultAzureCredential(), COGNITIVE_SCOPE)
    return openai.AsyncAzureOpenAI(
        azure_endpoint=settings.azure_openai_endpoint,
        azure_deployment=settings.azure_openai_deployment,
        api_version=settings.openai_api_version,
        azure_ad_token_provider=provider,
        timeout=settings.llm_timeout_seconds,
        max_retries=0,
    )
