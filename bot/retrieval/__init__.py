"""Runbook retrieval: load and validate runbooks, chunk them, index and search them.

The embedded default is ``LocalRunbookIndex`` (SQLite FTS5 + local embeddings, rank-fused); the
production adapter is ``AzureRunbookIndex`` (Azure AI Search hybrid queries). Both are sync.
"""

from __future__ import annotations

import logging

from bot.config import RunbookBackend, Settings
from bot.errors import ConfigError
from bot.retrieval.chunking import chunk_runbook
from bot.retrieval.embedders import Embedder, OpenAIEmbedder, load_embedder
from bot.retrieval.index import BM25_ONLY, HYBRID, IndexStats, Progress, RunbookIndex
from bot.retrieval.local import LocalRunbookIndex
from bot.retrieval.runbooks import Runbook, check_runbooks, load_runbooks

__all__ = [
    "BM25_ONLY",
    "HYBRID",
    "Embedder",
    "IndexStats",
    "LocalRunbookIndex",
    "Runbook",
    "RunbookIndex",
    "build_embedder",
    "build_index",
    "check_runbooks",
    "chunk_runbook",
    "load_runbooks",
    "open_index",
]

log = logging.getLogger(__name__)


def build_embedder(settings: Settings) -> Embedder | None:
    """The configured embedder: local static model, OpenAI / Azure OpenAI, or none."""
    if settings.runbook_embeddings != "openai":
        return load_embedder(settings.runbook_embeddings, settings.runbook_model_dir)
    from openai import AzureOpenAI, OpenAI

    client: OpenAI
    if settings.azure_openai_endpoint:
        key = settings.azure_openai_api_key
        client = AzureOpenAI(
            azure_endpoint=settings.azure_openai_endpoint,
            api_key=key.get_secret_value() if key else None,
            api_version=settings.openai_api_version,
            timeout=settings.llm_timeout_seconds,
        )
    else:
        key = settings.openai_api_key
        client = OpenAI(
            base_url=settings.openai_base_url or None,
            api_key=key.get_secret_value() if key else None,
            timeout=settings.llm_timeout_seconds,
        )
    return OpenAIEmbedder(client, settings.runbook_embedding_model)


def open_index(settings: Settings) -> RunbookIndex:
    """The configured index (local or Azure), without (re)indexing anything."""
    embedder = build_embedder(settings)
    if settings.runbook_backend is RunbookBackend.AZURE:
        from bot.retrieval.azure import AzureRunbookIndex

        if settings.azure_search_key is None:
            raise ConfigError("AZURE_SEARCH_KEY must be set when RUNBOOK_BACKEND=azure")
        return AzureRunbookIndex.with_key(
            endpoint=settings.azure_search_endpoint,
            index_name=settings.azure_search_index,
            key=settings.azure_search_key.get_secret_value(),
            embedder=embedder,
            semantic_config=settings.azure_search_semantic_config or None,
            connection_verify=settings.azure_search_verify_tls,
        )
    return LocalRunbookIndex(settings.runbook_index_path, embedder)


def build_index(settings: Settings, progress: Progress | None = None) -> RunbookIndex:
    """The configured index, brought up to date with the runbook files (a no-op if unchanged)."""
    index = open_index(settings)
    stats = index.index(load_runbooks(settings.runbook_dir), progress)
    log.info(
        "runbook index ready: %s backend, %s, %d runbooks, %d chunks%s",
        stats.backend,
        stats.mode,
        stats.runbooks,
        stats.chunks,
        " (rebuilt)" if stats.rebuilt else "",
    )
    return index
