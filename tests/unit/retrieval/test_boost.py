"""The category and service boosts of the embedded index on a small runbook set (BM25 only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.models import Category
from bot.pipeline.triaging import search_runbooks
from bot.retrieval import LocalRunbookIndex, Runbook
from bot.retrieval.local import CATEGORY_BOOST, SERVICE_BOOST, rank_places


def _runbook(
    id_: str, services: list[str], categories: list[str], body: str, title: str = ""
) -> Runbook:
    return Runbook(
        id=id_,
        title=title or id_.replace("-", " "),
        services=services,
        categories=categories,
        actions=["notify_oncall"],
        version="1.0.0",
        owner="sre",
        body=f"# Runbook\n\n## Symptoms\n{body}\n",
    )


# Two runbooks share the query's words; "slow-queue" repeats them, so it wins on text alone.
RUNBOOKS = [
    _runbook("slow-queue", ["*"], ["latency"], "queue consumers slow queue consumers slow backlog"),
    _runbook("full-queue", ["*"], ["resource_exhaustion"], "queue consumers backlog memory"),
    _runbook("leaked-key", ["*"], ["security"], "access key published in a repository"),
    # The same text for one service only: only the service boost tells the two apart.
    _runbook(
        "cart-queue",
        ["cart"],
        ["latency"],
        "queue consumers slow queue consumers slow backlog",
        title="slow queue",
    ),
]


@pytest.fixture
def index(tmp_path: Path) -> LocalRunbookIndex:
    built = LocalRunbookIndex(tmp_path / "boost.db", embedder=None)
    built.index(RUNBOOKS)
    return built


def _ids(index: LocalRunbookIndex, query: str, **options: str) -> list[str]:
    return [chunk.runbook_id for chunk in index.search(query, 4, **options)]


def test_rank_places_is_the_fused_gap_between_top_ranks() -> None:
    assert rank_places(0) == 0.0
    assert rank_places(1) == pytest.approx(1 / 61 - 1 / 62)
    assert 0 < SERVICE_BOOST < CATEGORY_BOOST == rank_places(7)


def test_without_a_preference_text_decides(index: LocalRunbookIndex) -> None:
    assert _ids(index, "queue consumers slow backlog")[0] in {"slow-queue", "cart-queue"}
    assert "full-queue" in _ids(index, "queue consumers slow backlog")


def test_the_preferred_category_is_ranked_first(index: LocalRunbookIndex) -> None:
    ranked = _ids(index, "queue consumers backlog", prefer_category="resource_exhaustion")
    assert ranked[0] == "full-queue"
    # A boost, not a filter: the other categories' runbooks are still there.
    assert {"slow-queue", "cart-queue"} <= set(ranked)


def test_a_preferred_category_nobody_matches_leaves_the_plain_ranking(
    index: LocalRunbookIndex,
) -> None:
    query = "queue consumers slow backlog"
    assert _ids(index, query, prefer_category="deployment") == _ids(index, query)


def test_the_boost_does_not_bury_a_clearly_better_text_match(index: LocalRunbookIndex) -> None:
    # Triage said security, but only the queue runbooks share words with the text.
    ranked = _ids(index, "queue consumers slow backlog", prefer_category="security")
    assert ranked[0] != "leaked-key"
    assert "leaked-key" not in ranked


def test_the_service_own_runbook_beats_an_any_service_twin(index: LocalRunbookIndex) -> None:
    assert _ids(index, "queue consumers slow backlog", service="cart")[0] == "cart-queue"
    # Second on text alone, lifted level with the first, and the tie goes to the service's own.
    plain = index.search("queue consumers slow backlog", 4)
    assert [c.runbook_id for c in plain[:2]] == ["slow-queue", "cart-queue"]
    chunks = index.search("queue consumers slow backlog", 4, service="cart")
    assert chunks[0].score == pytest.approx(plain[1].score + SERVICE_BOOST, abs=1e-5)


def test_search_after_triage_boosts_and_falls_back_for_an_unknown_service(
    index: LocalRunbookIndex,
) -> None:
    query = "queue consumers backlog"
    boosted = search_runbooks(index, query, 4, "", Category.RESOURCE_EXHAUSTION)
    assert boosted[0].runbook_id == "full-queue"
    # ``unknown`` boosts nothing.
    assert [c.runbook_id for c in search_runbooks(index, query, 4, "", Category.UNKNOWN)] == (
        _ids(index, query)
    )
