"""Reciprocal rank fusion and query term extraction."""

from __future__ import annotations

import pytest

from bot.retrieval.fusion import reciprocal_rank_fusion
from bot.retrieval.index import query_terms


def test_items_ranked_well_by_both_lists_win() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["b", "a", "d"]], k=60)
    assert [item for item, _ in fused] == ["a", "b", "c", "d"]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[2][1] == pytest.approx(1 / 63)


def test_an_item_in_one_list_only_still_counts() -> None:
    fused = dict(reciprocal_rank_fusion([["x"], []]))
    assert fused == {"x": pytest.approx(1 / 61)}


def test_query_terms_split_alert_names_and_drop_noise() -> None:
    terms = query_terms('[FIRING:1] KubePodCrashLooping "checkout" is CrashLoopBackOff; a b')
    assert "kubepodcrashlooping" in terms
    assert {"kube", "pod", "crash", "looping", "checkout", "back", "off"} <= set(terms)
    assert "firing" not in terms and "is" not in terms and "a" not in terms
    assert query_terms("") == []
    assert len(query_terms(" ".join(f"w{i}" for i in range(500)))) == 64
