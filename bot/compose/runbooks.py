"""Runbook retrieval from settings: the embedder (local model, OpenAI, or none) and the index."""

from __future__ import annotations

import logging

from bot.compose.llm import openai_sync_client
from bot.config import RunbookBackend, Settings
from bot.errors import ConfigError
from bot.retrieval import RunbookIndex, load_runbooks
from bot.retrieval.embedders import Embedder, OpenAIEmbedder, load_embedder
from bot.retrieval.index import IndexStats, Progress
from bot.retrieval.lazy import LazyRunbooks
from bot.retrieval.local import LocalRunbookIndex

log = logging.getLogger(__name__)


def build_embedder(settings: Settings) -> Embedder | None:
    """The configured embedder: local static model, OpenAI / Azure OpenAI, or none."""
    if settings.runbook_embeddings != "openai":
        return load_embedder(settings.runbook_embeddings, settings.runbook_model_dir)
    return OpenAIEmbedder(
        openai_sync_client(settings), settings.runbook_embedding_model
    )


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


def build_index(
    settings: Settings, progress: Progress | None = None
) -> tuple[RunbookIndex, IndexStats]:
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
    return index, stats


def lazy_runbooks(settings: Settings) -> LazyRunbooks:
    """The index the pipeline searches: opened on first use, refreshed by the scheduler."""
    return LazyRunbooks(lambda: open_index(settings), lambda: load_runbooks(settings.runbook_dir))
