"""The Azure AI Search adapter against a loopback HTTPS stand-in of the REST API.

The real azure-search-documents SDK sends the requests; the stand-in records them so the tests
can check the wire format (index definition, upload batches, hybrid queries) and answers with
the documented response shapes. TLS uses a certificate made for the test and
``connection_verify=False``; the key travels in the ``api-key`` header.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from bot.compose import Root
from bot.config import PROJECT_ROOT, load_settings
from bot.errors import ConfigError
from bot.retrieval import chunk_runbook, load_runbooks
from bot.retrieval.azure import AzureRunbookIndex, odata_filter
from tests.integration.azure_search_server import (
    API_KEY,
    SearchService,
    azure_search_server,
    embeddings_server,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]

DIMS = 8
RUNBOOKS = load_runbooks(PROJECT_ROOT / "runbooks")
CHUNKS = sum(len(chunk_runbook(r)) for r in RUNBOOKS)


class HashingEmbedder:
    """A deterministic stand-in for the embedding port: word hashes folded into 8 numbers."""

    name = "test-hashing-8"
    dimensions = DIMS

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        rows = np.zeros((len(texts), DIMS), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                rows[row, hashlib.sha256(word.encode()).digest()[0] % DIMS] += 1.0
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        result: npt.NDArray[np.float32] = rows / norms
        return result


@pytest.fixture
def search_service(tmp_path: Path) -> Iterator[tuple[str, SearchService]]:
    with azure_search_server(tmp_path) as running:
        yield running


def _adapter(endpoint: str, **options: Any) -> AzureRunbookIndex:
    return AzureRunbookIndex.with_key(
        endpoint=endpoint,
        index_name="runbooks",
        key=API_KEY,
        connection_verify=False,
        retry_total=0,
        **options,
    )


def test_index_defines_vector_field_and_hnsw_profile_then_uploads_every_chunk(
    search_service: tuple[str, SearchService],
) -> None:
    endpoint, service = search_service
    stats = _adapter(endpoint, embedder=HashingEmbedder()).index(RUNBOOKS)
    assert (stats.backend, stats.mode, stats.chunks) == ("azure", "hybrid", CHUNKS)

    (put,) = [r for r in service.requests if r.method == "PUT"]
    assert put.path == "/indexes('runbooks')"
    assert put.query["api-version"] == ["2026-04-01"]
    assert put.headers["api-key"] == API_KEY
    fields = {f["name"]: f for f in put.body["fields"]}
    assert fields["chunk_id"]["key"] is True
    assert fields["services"]["type"] == "Collection(Edm.String)"
    assert fields["services"]["filterable"] is True
    assert fields["text"]["searchable"] is True
    vector = fields["embedding"]
    assert vector["type"] == "Collection(Edm.Single)"
    assert vector["dimensions"] == DIMS
    assert vector["vectorSearchProfile"] == "runbook-vector-profile"
    assert put.body["vectorSearch"]["algorithms"][0]["name"] == "runbook-hnsw"
    assert put.body["vectorSearch"]["algorithms"][0]["kind"] == "hnsw"
    assert put.body["vectorSearch"]["profiles"] == [
        {"name": "runbook-vector-profile", "algorithm": "runbook-hnsw"}
    ]
    assert "semantic" not in put.body or put.body["semantic"] is None

    uploads = [a for r in service.calls("/docs/search.index") for a in r.body["value"]]
    assert len(uploads) == CHUNKS
    assert {a["@search.action"] for a in uploads} == {"upload"}
    first = uploads[0]
    assert first["chunk_id"] == f"{RUNBOOKS[0].id}--overview"
    assert (first["runbook_id"], first["version"]) == (RUNBOOKS[0].id, RUNBOOKS[0].version)
    assert len(first["embedding"]) == DIMS
    assert first["content_hash"] == stats.content_hash
    assert len(service.documents["runbooks"]) == CHUNKS

    # A second replica starting up finds the corpus there and uploads nothing.
    service.requests.clear()
    again = _adapter(endpoint, embedder=HashingEmbedder()).index(RUNBOOKS)
    assert not again.rebuilt and again.content_hash == stats.content_hash
    assert service.calls("/docs/search.index") == []
    counts = [r.body for r in service.calls("/docs/search.post.search")]
    assert counts[0]["filter"] == f"content_hash eq '{stats.content_hash}'"
    assert counts[0]["count"] is True and counts[0]["top"] == 0


def test_search_sends_a_hybrid_query_and_returns_cited_chunks(
    search_service: tuple[str, SearchService],
) -> None:
    endpoint, service = search_service
    index = _adapter(endpoint, embedder=HashingEmbedder())
    index.index(RUNBOOKS)
    service.requests.clear()

    chunks = index.search(
        "checkout pods OOMKilled exit code 137",
        3,
        service="checkout",
        category="resource_exhaustion",
    )

    (request,) = service.calls("/docs/search.post.search")
    body = request.body
    assert body["search"] == "checkout pods OOMKilled exit code 137"
    assert body["top"] == 3
    assert body["filter"] == (
        "services/any(s: s eq 'checkout' or s eq '*') "
        "and categories/any(c: c eq 'resource_exhaustion')"
    )
    (vector_query,) = body["vectorQueries"]
    assert vector_query["kind"] == "vector"
    assert vector_query["fields"] == "embedding"
    assert vector_query["k"] == 10
    assert len(vector_query["vector"]) == DIMS
    assert "queryType" not in body

    assert 0 < len(chunks) <= 3
    assert chunks[0].runbook_id == "oom-crashloop"
    ref = chunks[0].ref()
    assert (ref.id, ref.version) == ("oom-crashloop", "1.5.0")
    assert ref.score > 0
    for chunk in chunks:
        assert "resource_exhaustion" in chunk.categories
        assert "checkout" in chunk.services or "*" in chunk.services


def test_semantic_configuration_is_defined_and_used(
    search_service: tuple[str, SearchService],
) -> None:
    endpoint, service = search_service
    index = _adapter(endpoint, embedder=HashingEmbedder(), semantic_config="runbooks-semantic")
    index.index(RUNBOOKS)
    (put,) = [r for r in service.requests if r.method == "PUT"]
    (config,) = put.body["semantic"]["configurations"]
    assert config["name"] == "runbooks-semantic"
    assert config["prioritizedFields"]["titleField"] == {"fieldName": "title"}

    chunks = index.search("certificate has expired", 2)
    body = service.calls("/docs/search.post.search")[-1].body
    assert body["queryType"] == "semantic"
    assert body["semanticConfiguration"] == "runbooks-semantic"
    assert chunks[0].runbook_id == "certificate-expiry"
    assert [c.score for c in chunks] == [4.0, 3.5]  # reranker scores, not the BM25 ones


def test_reindexing_deletes_chunks_of_removed_runbooks(
    search_service: tuple[str, SearchService],
) -> None:
    endpoint, service = search_service
    index = _adapter(endpoint, embedder=HashingEmbedder())
    index.index(RUNBOOKS)
    kept = [r for r in RUNBOOKS if r.id != "disk-full"]
    stats = index.index(kept)
    deletes = [
        a["chunk_id"]
        for r in service.calls("/docs/search.index")
        for a in r.body["value"]
        if a["@search.action"] == "delete"
    ]
    assert deletes and all(key.startswith("disk-full--") for key in deletes)
    assert len(service.documents["runbooks"]) == stats.chunks
    stale_query = service.calls("/docs/search.post.search")[-1].body
    assert stale_query["filter"] == f"content_hash ne '{stats.content_hash}'"


def test_without_an_embedder_the_index_is_text_only(
    search_service: tuple[str, SearchService],
) -> None:
    endpoint, service = search_service
    index = _adapter(endpoint, embedder=None)
    assert index.index(RUNBOOKS).mode == "bm25 only"
    (put,) = [r for r in service.requests if r.method == "PUT"]
    assert "embedding" not in {f["name"] for f in put.body["fields"]}
    assert not put.body.get("vectorSearch")
    assert index.search("No space left on device", 2)[0].runbook_id == "disk-full"
    assert "vectorQueries" not in service.calls("/docs/search.post.search")[-1].body


def test_service_errors_become_config_errors_or_empty_results(
    search_service: tuple[str, SearchService], caplog: pytest.LogCaptureFixture
) -> None:
    endpoint, service = search_service
    index = _adapter(endpoint, embedder=HashingEmbedder())
    service.fail_next.append((400, "Invalid vector dimensions"))
    with pytest.raises(ConfigError, match="indexing failed"):
        index.index(RUNBOOKS)
    index.index(RUNBOOKS)
    service.fail_next.append((400, "Invalid expression"))
    with caplog.at_level(logging.WARNING, logger="bot.retrieval.azure"):
        assert index.search("disk full", 2) == []
    assert "azure runbook search failed" in caplog.text

    wrong_key = AzureRunbookIndex.with_key(
        endpoint=endpoint, index_name="runbooks", key="wrong", connection_verify=False
    )
    with pytest.raises(ConfigError):
        wrong_key.index(RUNBOOKS)


def test_odata_filter_quotes_values() -> None:
    assert odata_filter(None, None) is None
    assert odata_filter("o'brien", None) == "services/any(s: s eq 'o''brien' or s eq '*')"


def test_build_index_with_azure_openai_embeddings_end_to_end(
    search_service: tuple[str, SearchService], tmp_path: Path
) -> None:
    endpoint, service = search_service
    with embeddings_server() as (embeddings_url, embeddings):
        settings = load_settings(
            RUNBOOK_BACKEND="azure",
            AZURE_SEARCH_ENDPOINT=endpoint,
            AZURE_SEARCH_KEY=API_KEY,
            AZURE_SEARCH_VERIFY_TLS="false",
            RUNBOOK_EMBEDDINGS="openai",
            RUNBOOK_EMBEDDING_MODEL="embeddings-deployment",
            AZURE_OPENAI_ENDPOINT=embeddings_url,
            AZURE_OPENAI_API_KEY="test-openai-key",
            AZURE_OPENAI_DEPLOYMENT="chat-deployment",
        )
        index, _ = Root(settings).runbook_index()
        assert index.mode == "hybrid"
        chunks = index.search("x509: certificate has expired", 2, service="web-frontend")

    first = embeddings.requests[0]
    assert first.path == "/openai/deployments/embeddings-deployment/embeddings"
    assert first.query["api-version"] == [settings.openai_api_version]
    assert first.headers["api-key"] == "test-openai-key"
    assert first.body["encoding_format"] == "float"
    embedded = sum(len(r.body["input"]) for r in embeddings.requests)
    assert embedded >= CHUNKS + 1  # every chunk, plus the query
    (put,) = [r for r in service.requests if r.method == "PUT"]
    vector_field = next(f for f in put.body["fields"] if f["name"] == "embedding")
    assert vector_field["dimensions"] == embeddings.dims
    query = service.calls("/docs/search.post.search")[-1].body
    assert len(query["vectorQueries"][0]["vector"]) == embeddings.dims
    assert chunks[0].runbook_id == "certificate-expiry"


def test_preferred_category_filters_first_and_falls_back_to_every_category(
    search_service: tuple[str, SearchService],
) -> None:
    endpoint, service = search_service
    index = _adapter(endpoint)
    index.index(RUNBOOKS)
    service.requests.clear()

    chunks = index.search("checkout pods OOMKilled", 3, prefer_category="resource_exhaustion")
    (request,) = service.calls("/docs/search.post.search")
    assert request.body["filter"] == "categories/any(c: c eq 'resource_exhaustion')"
    assert chunks and all("resource_exhaustion" in c.categories for c in chunks)

    service.requests.clear()
    fallback = index.search("checkout pods OOMKilled", 3, prefer_category="no_such_category")
    first, second = service.calls("/docs/search.post.search")
    assert first.body["filter"] == "categories/any(c: c eq 'no_such_category')"
    assert "filter" not in second.body or not second.body["filter"]
    assert fallback and all("no_such_category" not in c.categories for c in fallback)
