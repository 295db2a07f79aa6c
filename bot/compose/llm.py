"""The model side: one OpenAI / Azure OpenAI client factory for chat and embeddings, the gateway,
and the triager for LLM_PROVIDER."""

from __future__ import annotations

from typing import Any

import openai

from bot.config import LLMProvider, Settings
from bot.errors import ConfigError
from bot.ports import Backend, Triager
from bot.redaction import Redactor
from bot.triage.gateway import OpenAIChat, RetryPolicy
from bot.triage.llm import LLMTriager
from bot.triage.offline import RulesTriager
from bot.triage.prompts import PromptSet
from bot.triage.rules import RulesEngine
from bot.triage.usage import PriceTable

COGNITIVE_SCOPE = "https://cognitiveservices.azure.com/.default"


def _common(settings: Settings) -> dict[str, Any]:
    # SDK retries are off: the gateway's own are explicit and bounded.
    return {"timeout": settings.llm_timeout_seconds, "max_retries": 0}


def _uses_azure(settings: Settings) -> bool:
    return settings.llm_provider is LLMProvider.AZURE or (
        settings.llm_provider is LLMProvider.RULES and bool(settings.azure_openai_endpoint)
    )


def _openai_key(settings: Settings) -> str:
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    if key:
        return key
    if not settings.openai_base_url:
        raise ConfigError("OPENAI_API_KEY must be set when talking to OpenAI")
    # Self-hosted servers (vLLM, Ollama) ignore the key, but the SDK insists on one.
    return "unused"


def _azure_args(settings: Settings, *, chat: bool) -> dict[str, Any]:
    if not settings.azure_openai_endpoint:
        raise ConfigError("AZURE_OPENAI_ENDPOINT must be set when LLM_PROVIDER=azure")
    args: dict[str, Any] = {
        "azure_endpoint": settings.azure_openai_endpoint,
        "api_version": settings.openai_api_version,
        **_common(settings),
    }
    # The chat deployment is the client's default route; embeddings name their own deployment
    # (the model argument), so their client must not pin the chat one.
    if chat and settings.azure_openai_deployment:
        args["azure_deployment"] = settings.azure_openai_deployment
    if settings.azure_openai_api_key is not None:
        args["api_key"] = settings.azure_openai_api_key.get_secret_value()
    return args


def _client_args(settings: Settings, *, chat: bool, asynchronous: bool) -> dict[str, Any]:
    """Constructor arguments for either client: endpoint, key or Entra ID token, timeouts."""
    if not _uses_azure(settings):
        return {
            "api_key": _openai_key(settings),
            "base_url": settings.openai_base_url or None,
            **_common(settings),
        }
    args = _azure_args(settings, chat=chat)
    if "api_key" not in args:
        if asynchronous:
            from azure.identity.aio import DefaultAzureCredential as Credential
            from azure.identity.aio import get_bearer_token_provider as provider
        else:
            from azure.identity import DefaultAzureCredential as Credential  # type: ignore[assignment]
            from azure.identity import get_bearer_token_provider as provider  # type: ignore[assignment]
        args["azure_ad_token_provider"] = provider(Credential(), COGNITIVE_SCOPE)
    return args


def openai_client(settings: Settings) -> openai.AsyncOpenAI:
    """The async client for chat: Azure OpenAI (key, else Entra ID) or OpenAI-compatible."""
    args = _client_args(settings, chat=True, asynchronous=True)
    if _uses_azure(settings):
        return openai.AsyncAzureOpenAI(**args)
    return openai.AsyncOpenAI(**args)


def openai_sync_client(settings: Settings) -> openai.OpenAI:
    """The same endpoint and credentials as a sync client, for embeddings (run in threads)."""
    args = _client_args(settings, chat=False, asynchronous=False)
    if _uses_azure(settings):
        return openai.AzureOpenAI(**args)
    return openai.OpenAI(**args)


def build_gateway(settings: Settings) -> OpenAIChat:
    """The chat gateway for LLM_PROVIDER=openai or azure."""
    retry = RetryPolicy(
        max_retries=settings.llm_max_retries,
        max_total_sleep=settings.llm_retry_max_sleep_seconds,
    )
    azure = settings.llm_provider is LLMProvider.AZURE
    return OpenAIChat(
        openai_client(settings),
        provider=settings.llm_provider.value,
        model=settings.azure_openai_deployment if azure else settings.llm_model,
        response_format=settings.llm_response_format,
        retry=retry,
        max_concurrency=settings.llm_max_concurrency,
        slot_timeout=settings.llm_timeout_seconds,
    )


def build_redactor(settings: Settings) -> Redactor:
    """The one redactor every egress uses."""
    return Redactor(settings.redact_extra_patterns)


def build_triager(settings: Settings, store: Backend) -> Triager:
    """The Triager for LLM_PROVIDER: rules (the offline default, no model), openai or azure."""
    redactor = build_redactor(settings)
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
