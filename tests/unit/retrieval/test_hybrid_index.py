"""The embedded index with the real local embedder: BM25 and vectors fused."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.retrieval import HYBRID, LocalRunbookIndex, load_runbooks
from bot.retrieval.embedders import Embedder
from bot.retrieval.local import CATEGORY_BOOST


@pytest.fixture
def hybrid(tmp_path: Path, runbook_dir: Path, embedder: Embedder) -> LocalRunbookIndex:
    index = LocalRunbookIndex(tmp_path / "runbooks.db", embedder)
    stats = index.index(load_runbooks(runbook_dir))
    assert stats.mode == HYBRID and stats.embedder == embedder.name
    return index


def test_embedder_gives_normalised_vectors_that_rank_paraphrases_close(embedder: Embedder) -> None:
    vectors = embedder.embed(["disk is full", "no space left on the volume", "TLS handshake"])
    assert vectors.shape == (3, embedder.dimensions)
    norms = (vectors * vectors).sum(axis=1)
    assert norms == pytest.approx([1.0, 1.0, 1.0], abs=1e-3)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


@pytest.mark.parametrize(
    ("alert", "runbook_id"),
    [
        # Few or misleading shared keywords: the vector side has to carry these.
        ("shoppers unable to buy anything with their credit cards", "payment-provider-errors"),
        ("hackers stole our passwords", "suspicious-authentication"),
    ],
)
def test_paraphrased_alerts_find_their_runbook(
    hybrid: LocalRunbookIndex, alert: str, runbook_id: str
) -> None:
    assert hybrid.search(alert, 1)[0].runbook_id == runbook_id


def test_a_query_with_no_indexed_words_still_gets_vector_results(hybrid: LocalRunbookIndex) -> None:
    chunks = hybrid.search("webshop sluggish", 3)
    assert len(chunks) == 3


def test_filters_apply_to_the_vector_side(hybrid: LocalRunbookIndex) -> None:
    for chunk in hybrid.search("webshop sluggish", 10, service="batch-reports"):
        assert "batch-reports" in chunk.services or "*" in chunk.services
    for chunk in hybrid.search("webshop sluggish", 10, category="security"):
        assert "security" in chunk.categories


def test_switching_embeddings_on_or_off_rebuilds(
    tmp_path: Path, runbook_dir: Path, embedder: Embedder
) -> None:
    runbooks = load_runbooks(runbook_dir)
    path = tmp_path / "switch.db"
    assert LocalRunbookIndex(path, None).index(runbooks).rebuilt
    with_vectors = LocalRunbookIndex(path, embedder)
    stats = with_vectors.index(runbooks)
    assert stats.rebuilt and stats.mode == HYBRID
    assert not LocalRunbookIndex(path, embedder).index(runbooks).rebuilt
    assert with_vectors.search("hackers stole our passwords", 1)[0].runbook_id == (
        "suspicious-authentication"
    )


def test_a_rebuild_by_another_process_is_picked_up_by_a_running_index(
    tmp_path: Path, runbook_dir: Path, embedder: Embedder
) -> None:
    path = tmp_path / "shared.db"
    server = LocalRunbookIndex(path, embedder)
    server.index(load_runbooks(runbook_dir))
    assert server.search("hackers stole our passwords", 1)[0].runbook_id == (
        "suspicious-authentication"
    )

    (runbook_dir / "suspicious-authentication.md").unlink()
    (runbook_dir / "credential-leak.md").unlink()
    cli = LocalRunbookIndex(path, embedder)
    assert cli.index(load_runbooks(runbook_dir)).rebuilt

    chunks = server.search("hackers stole our passwords", 5)
    assert chunks
    assert not {c.runbook_id for c in chunks} & {"suspicious-authentication", "credential-leak"}
    fresh = LocalRunbookIndex(path, embedder)
    for query in ("hackers stole our passwords", "webshop sluggish", "disk almost full"):
        assert [c.chunk_id for c in server.search(query, 6)] == [
            c.chunk_id for c in fresh.search(query, 6)
        ]


def test_the_boosts_count_once_for_each_ranking_fused(hybrid: LocalRunbookIndex) -> None:
    # BM25 and vectors both rank this query, so a boost of "seven places" is seven in each.
    query = "checkout p99 latency above 3 seconds"
    plain = {chunk.chunk_id: chunk.score for chunk in hybrid.search(query, 500)}
    boosted = hybrid.search(query, 500, prefer_category="resource_exhaustion")
    lifted = ["resource_exhaustion" in chunk.categories for chunk in boosted]
    assert any(lifted) and not all(lifted)
    for chunk, lift in zip(boosted, lifted, strict=True):
        expected = plain[chunk.chunk_id] + (2 * CATEGORY_BOOST if lift else 0.0)
        assert chunk.score == pytest.approx(expected, abs=1e-5)
