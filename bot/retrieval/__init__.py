"""Runbook retrieval: load and validate runbooks, chunk them, index and search them.

The embedded default is ``LocalRunbookIndex`` (SQLite FTS5 + local embeddings, rank-fused); the
production adapter is ``AzureRunbookIndex`` (Azure AI Search hybrid queries). Both are sync.
"""

from __future__ import annotations

from bot.retrieval.chunking import chunk_runbook
from bot.retrieval.embedders import Embedder
from bot.retrieval.index import BM25_ONLY, HYBRID, IndexStats, RunbookIndex
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
    "check_runbooks",
    "chunk_runbook",
    "load_runbooks",
]
