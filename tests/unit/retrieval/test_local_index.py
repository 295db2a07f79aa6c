"""The embedded index end to end: shipped runbooks into a temporary SQLite file, BM25 only."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.compose import Root
from bot.config import load_settings
from bot.retrieval import BM25_ONLY, LocalRunbookIndex, load_runbooks
from bot.retrieval.embedders import forget_warnings
from bot.retrieval.local import CANDIDATES


@pytest.fixture
def index(tmp_path: Path, runbook_dir: Path) -> LocalRunbookIndex:
    built = LocalRunbookIndex(tmp_path / "var" / "runbooks.db", embedder=None)
    built.index(load_runbooks(runbook_dir))
    return built


def _top_runbooks(index: LocalRunbookIndex, query: str, **filters: str) -> list[str]:
    ranked: list[str] = []
    for chunk in index.search(query, 8, **filters):
        if chunk.runbook_id not in ranked:
            ranked.append(chunk.runbook_id)
    return ranked


@pytest.mark.parametrize(
    ("alert", "runbook_id"),
    [
        ("checkout pods restarting, last state OOMKilled exit code 137", "oom-crashloop"),
        ("x509: certificate has expired or is not yet valid", "certificate-expiry"),
        (
            "FATAL: sorry, too many clients already on the inventory database",
            "db-connection-pool-exhaustion",
        ),
        ("dial tcp: lookup api.psp.example: no such host", "dns-failure"),
        ("consumer group search-indexer lag 300k on topic product-events", "kafka-consumer-lag"),
        ("500 errors doubled right after the 14:02 rollout of cart-service", "deploy-5xx-spike"),
        ("Someone pushed an AWS secret key to a public repository", "credential-leak"),
    ],
)
def test_alerts_find_their_runbook(index: LocalRunbookIndex, alert: str, runbook_id: str) -> None:
    assert _top_runbooks(index, alert)[0] == runbook_id


def test_results_cite_runbook_id_and_version(index: LocalRunbookIndex) -> None:
    chunks = index.search("No space left on device", 3)
    assert len(chunks) == 3
    assert chunks[0].runbook_id == "disk-full"
    ref = chunks[0].ref()
    assert (ref.id, ref.version) == ("disk-full", "1.2.0")
    assert ref.section and ref.score > 0
    assert [c.score for c in chunks] == sorted((c.score for c in chunks), reverse=True)


def test_service_filter_keeps_that_service_and_any_service_runbooks(
    index: LocalRunbookIndex,
) -> None:
    chunks = index.search("queue backlog consumers lag latency", 20, service="payment-gateway")
    assert chunks
    for chunk in chunks:
        assert "payment-gateway" in chunk.services or "*" in chunk.services
    unfiltered = {c.runbook_id for c in index.search("queue backlog consumers lag", 20)}
    assert "queue-backlog" in unfiltered
    assert "queue-backlog" not in {c.runbook_id for c in chunks}


def test_category_filter(index: LocalRunbookIndex) -> None:
    chunks = index.search("pods restarting after release errors", 10, category="security")
    assert chunks
    assert {c.runbook_id for c in chunks} <= {"credential-leak", "suspicious-authentication"}
    assert index.search("anything at all", 5, category="security", service="checkout") != []


def test_queries_without_keywords_return_nothing(index: LocalRunbookIndex) -> None:
    assert index.search("", 4) == []
    assert index.search("the a of !!!", 4) == []
    assert index.search('" AND ( * ^ : -', 4) == []
    # FTS5 operators in alert text are plain words, never query syntax.
    assert index.search('NEAR(disk "full" OR', 1)[0].runbook_id == "disk-full"


def test_k_bounds_the_results(index: LocalRunbookIndex) -> None:
    assert len(index.search("pods", 2)) == 2
    assert len(index.search("pods restart kubectl", 500)) <= CANDIDATES


def test_reindex_is_a_no_op_until_a_runbook_changes(tmp_path: Path, runbook_dir: Path) -> None:
    path = tmp_path / "runbooks.db"
    first = LocalRunbookIndex(path).index(load_runbooks(runbook_dir))
    assert first.rebuilt and first.mode == BM25_ONLY and first.runbooks >= 20
    again = LocalRunbookIndex(path).index(load_runbooks(runbook_dir))
    assert not again.rebuilt
    assert (again.chunks, again.content_hash) == (first.chunks, first.content_hash)

    disk = runbook_dir / "disk-full.md"
    text = disk.read_text().replace('version: "1.2.0"', 'version: "1.3.0"')
    disk.write_text(text + "\n## Zettabyte filesystems\nCheck the quuxplorer quota.\n")
    reopened = LocalRunbookIndex(path)
    changed = reopened.index(load_runbooks(runbook_dir))
    assert changed.rebuilt and changed.content_hash != first.content_hash
    assert changed.chunks == first.chunks + 1
    hit = reopened.search("quuxplorer", 1)[0]
    assert (hit.runbook_id, hit.version, hit.section) == (
        "disk-full",
        "1.3.0",
        "Zettabyte filesystems",
    )

    (runbook_dir / "disk-full.md").unlink()
    removed = reopened.index(load_runbooks(runbook_dir))
    assert removed.rebuilt and removed.runbooks == first.runbooks - 1
    assert all(c.runbook_id != "disk-full" for c in reopened.search("quuxplorer disk space", 20))


def test_bm25_only_mode_is_announced_once(
    tmp_path: Path, runbook_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    forget_warnings()
    settings = load_settings(
        RUNBOOK_DIR=str(runbook_dir),
        RUNBOOK_INDEX_PATH=str(tmp_path / "idx.db"),
        RUNBOOK_EMBEDDINGS="none",
    )
    with caplog.at_level(logging.INFO, logger="bot.retrieval"):
        index, _ = Root(settings).runbook_index()
        Root(settings).runbook_index()
    assert index.mode == "bm25 only"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "runbook search runs bm25 only: "
        "no embedding model (RUNBOOK_EMBEDDINGS=none or not installed)"
    ]
    assert index.search("disk full", 1)[0].runbook_id == "disk-full"
