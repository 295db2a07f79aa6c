"""Runbook index on Azure AI Search: vector field with an HNSW profile, hybrid queries.

Vectors come from the same local embedder as the embedded index. Without one the index holds
text only and queries are keyword (BM25) alone, reported as ``bm25 only``.
"""

from __future__ import annotations

import logging
from typing import Any

from azure.core.credentials import AzureKeyCredential, TokenCredential
from azure.core.exceptions import AzureError
from azure.search.documents import SearchClient
from azure.search.documents.indexes import SearchIndexClient
from azure.search.documents.indexes.models import (
    HnswAlgorithmConfiguration,
    SearchableField,
    SearchField,
    SearchIndex,
    SemanticConfiguration,
    SemanticField,
    SemanticPrioritizedFields,
    SemanticSearch,
    SimpleField,
    VectorSearch,
    VectorSearchProfile,
)
from azure.search.documents.models import VectorizedQuery

from bot.errors import ConfigError
from bot.models import RunbookChunk
from bot.retrieval.chunking import chunk_runbook
from bot.retrieval.embedders import Embedder
from bot.retrieval.index import BM25_ONLY, HYBRID, IndexStats, Progress, passage_text
from bot.retrieval.runbooks import Runbook, corpus_hash

log = logging.getLogger(__name__)

VECTOR_FIELD = "embedding"
HNSW_CONFIG = "runbook-hnsw"
VECTOR_PROFILE = "runbook-vector-profile"
UPLOAD_BATCH = 100
INDEX_FORMAT = "azure-1"
# EDM type names as the REST API spells them.
STRING = "Edm.String"
STRING_LIST = "Collection(Edm.String)"
VECTOR_TYPE = "Collection(Edm.Single)"
_CHUNK_FIELDS = ("chunk_id", "runbook_id", "version", "title", "section", "text", "path")
_LIST_FIELDS = ("services", "categories", "actions")


def _quote(value: str) -> str:
    """An OData string literal: single quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def odata_filter(service: str | None, category: str | None, content_hash: str = "") -> str | None:
    """The OData ``$filter`` for a service (or any-service runbooks) and a category."""
    clauses = []
    if service:
        clauses.append(f"services/any(s: s eq {_quote(service)} or s eq '*')")
    if category:
        clauses.append(f"categories/any(c: c eq {_quote(category)})")
    if content_hash:
        clauses.append(f"content_hash ne {_quote(content_hash)}")
    return " and ".join(clauses) or None


class AzureRunbookIndex:
    """Runbook chunks in an Azure AI Search index; hybrid (text + vector) when it can embed."""

    backend = "azure"

    def __init__(
        self,
        search: SearchClient,
        indexes: SearchIndexClient,
        index_name: str,
        embedder: Embedder | None = None,
        semantic_config: str | None = None,
    ) -> None:
        self._search = search
        self._indexes = indexes
        self.index_name = index_name
        self._embedder = embedder
        self._semantic_config = semantic_config

    @classmethod
    def with_key(
        cls,
        endpoint: str,
        index_name: str,
        key: str | None = None,
        embedder: Embedder | None = None,
        semantic_config: str | None = None,
        token_credential: TokenCredential | None = None,
        **client_options: Any,
    ) -> AzureRunbookIndex:
        """Build the SDK clients from an endpoint and an admin key (or a token credential)."""
        credential: AzureKeyCredential | TokenCredential
        if token_credential is not None:
            credential = token_credential
        elif key:
            credential = AzureKeyCredential(key)
        else:
            raise ConfigError("AZURE_SEARCH_KEY must be set when RUNBOOK_BACKEND=azure")
        search = SearchClient(endpoint, index_name, credential, **client_options)
        indexes = SearchIndexClient(endpoint, credential, **client_options)
        return cls(search, indexes, index_name, embedder, semantic_config)

    @property
    def mode(self) -> str:
        """``hybrid`` or ``bm25 only``."""
        return HYBRID if self._embedder is not None else BM25_ONLY

    def close(self) -> None:
        """Close both SDK clients."""
        self._search.close()
        self._indexes.close()

    def index_definition(self) -> SearchIndex:
        """Fields, the HNSW vector profile and, if configured, the semantic configuration."""
        fields: list[SearchField] = [
            SimpleField(name="chunk_id", type=STRING, key=True),
            SimpleField(name="runbook_id", type=STRING, filterable=True),
            SimpleField(name="version", type=STRING),
            SearchableField(name="title", type=STRING),
            SearchableField(name="section", type=STRING),
            SearchableField(name="text", type=STRING),
            SimpleField(name="path", type=STRING),
            SimpleField(name="content_hash", type=STRING, filterable=True),
        ]
        for name in _LIST_FIELDS:
            fields.append(
                SimpleField(
                    name=name,
                    type=STRING_LIST,
                    filterable=True,
                )
            )
        vector_search = None
        if self._embedder is not None:
            fields.append(
                SearchField(
                    name=VECTOR_FIELD,
                    type=VECTOR_TYPE,
                    searchable=True,
                    vector_search_dimensions=self._embedder.dimensions,
                    vector_search_profile_name=VECTOR_PROFILE,
                )
            )
            vector_search = VectorSearch(
                algorithms=[HnswAlgorithmConfiguration(name=HNSW_CONFIG)],
                profiles=[
                    VectorSearchProfile(
                        name=VECTOR_PROFILE, algorithm_configuration_name=HNSW_CONFIG
                    )
                ],
            )
        return SearchIndex(
            name=self.index_name,
            fields=fields,
            vector_search=vector_search,
            semantic_search=self._semantic_search(),
        )

    def _semantic_search(self) -> SemanticSearch | None:
        if not self._semantic_config:
            return None
        prioritized = SemanticPrioritizedFields(
            title_field=SemanticField(field_name="title"),
            content_fields=[SemanticField(field_name="text")],
            keywords_fields=[SemanticField(field_name="section")],
        )
        config = SemanticConfiguration(name=self._semantic_config, prioritized_fields=prioritized)
        return SemanticSearch(configurations=[config])

    def index(self, runbooks: list[Runbook], progress: Progress | None = None) -> IndexStats:
        """Define the index; unless it already holds this corpus, upload it and drop the rest."""
        embedder_name = self._embedder.name if self._embedder is not None else ""
        content_hash = corpus_hash(runbooks, INDEX_FORMAT, embedder_name)
        chunks = [chunk for runbook in runbooks for chunk in chunk_runbook(runbook)]
        try:
            self._indexes.create_or_update_index(self.index_definition())
            if self._holds_exactly(content_hash, len(chunks)):
                return self._stats(len(runbooks), len(chunks), False, content_hash)
            self._upload(chunks, content_hash, progress)
            stale = self._stale_keys(content_hash)
            if stale:
                self._search.delete_documents([{"chunk_id": key} for key in stale])
        except AzureError as exc:
            raise ConfigError(f"AZURE_SEARCH_ENDPOINT: indexing failed: {exc}") from exc
        log.info("azure runbook index %s: %d chunks, %s", self.index_name, len(chunks), self.mode)
        return self._stats(len(runbooks), len(chunks), True, content_hash)

    def _stats(self, runbooks: int, chunks: int, rebuilt: bool, content_hash: str) -> IndexStats:
        return IndexStats(
            backend=self.backend,
            mode=self.mode,
            runbooks=runbooks,
            chunks=chunks,
            rebuilt=rebuilt,
            content_hash=content_hash,
            embedder=self._embedder.name if self._embedder is not None else "",
        )

    def _count(self, filter_expression: str | None) -> int:
        results = self._search.search(
            search_text="*", filter=filter_expression, include_total_count=True, top=0
        )
        return int(results.get_count() or 0)

    def _holds_exactly(self, content_hash: str, chunks: int) -> bool:
        """True when every document is from this corpus (another replica indexed it already)."""
        same = self._count(f"content_hash eq {_quote(content_hash)}")
        return same == chunks and self._count(None) == chunks

    def _upload(
        self, chunks: list[RunbookChunk], content_hash: str, progress: Progress | None
    ) -> None:
        for start in range(0, len(chunks), UPLOAD_BATCH):
            batch = chunks[start : start + UPLOAD_BATCH]
            documents = [self._document(chunk, content_hash) for chunk in batch]
            if self._embedder is not None:
                vectors = self._embedder.embed([passage_text(chunk) for chunk in batch])
                for document, vector in zip(documents, vectors, strict=True):
                    document[VECTOR_FIELD] = [float(x) for x in vector]
            results = self._search.upload_documents(documents)
            failed = [r.key for r in results if not r.succeeded]
            if failed:
                raise ConfigError(f"AZURE_SEARCH_INDEX: upload rejected for {failed[:5]}")
            if progress is not None:
                progress(start + len(batch), len(chunks))

    @staticmethod
    def _document(chunk: RunbookChunk, content_hash: str) -> dict[str, Any]:
        document: dict[str, Any] = chunk.model_dump(include=set(_CHUNK_FIELDS + _LIST_FIELDS))
        document["content_hash"] = content_hash
        return document

    def _stale_keys(self, content_hash: str) -> list[str]:
        results = self._search.search(
            search_text="*",
            filter=odata_filter(None, None, content_hash),
            select=["chunk_id"],
            top=1000,
        )
        return [str(doc["chunk_id"]) for doc in results]

    def search(
        self,
        query: str,
        k: int = 4,
        *,
        service: str | None = None,
        category: str | None = None,
        prefer_category: str | None = None,
    ) -> list[RunbookChunk]:
        """Hybrid query (text + vector, fused by the service); semantic reranking if configured.
        ``prefer_category`` is a filter with fallback: that category's runbooks when any
        matches, else every category's."""
        if prefer_category and not category:
            fitting = self._query(query, k, service, prefer_category)
            if fitting:
                return fitting
        return self._query(query, k, service, category)

    def _query(
        self, query: str, k: int, service: str | None, category: str | None
    ) -> list[RunbookChunk]:
        options: dict[str, Any] = {
            "filter": odata_filter(service, category),
            "top": k,
            "select": list(_CHUNK_FIELDS + _LIST_FIELDS),
        }
        if self._embedder is not None:
            vector = [float(x) for x in self._embedder.embed([query])[0]]
            options["vector_queries"] = [
                VectorizedQuery(vector=vector, k_nearest_neighbors=max(k, 10), fields=VECTOR_FIELD)
            ]
        if self._semantic_config:
            options["query_type"] = "semantic"
            options["semantic_configuration_name"] = self._semantic_config
        try:
            results = list(self._search.search(search_text=query, **options))
        except AzureError as exc:
            log.warning("azure runbook search failed: %s", exc)
            return []
        return [self._chunk(doc) for doc in results]

    @staticmethod
    def _chunk(doc: dict[str, Any]) -> RunbookChunk:
        score = doc.get("@search.reranker_score") or doc.get("@search.score") or 0.0
        fields = {name: doc.get(name) for name in _CHUNK_FIELDS if doc.get(name) is not None}
        lists = {name: list(doc.get(name) or []) for name in _LIST_FIELDS}
        return RunbookChunk.model_validate({**fields, **lists, "score": float(score)})
