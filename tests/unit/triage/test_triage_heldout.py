"""The shipped rules meet issue 17.4's targets on the held-back split (tests/data/README.md)."""

from __future__ import annotations

from bot.config import PROJECT_ROOT
from bot.redaction import Redactor
from bot.triage.evaluation import evaluate, load_cases
from bot.triage.offline import RulesTriager
from bot.triage.rules import RulesEngine

HELDOUT = PROJECT_ROOT / "tests" / "data" / "triage_eval_heldout.jsonl"
KEYWORDS = PROJECT_ROOT / "bot" / "triage" / "keywords.yaml"


async def test_shipped_rules_meet_the_targets_on_the_held_back_split() -> None:
    cases = load_cases(HELDOUT)
    triager = RulesTriager(RulesEngine.from_file(KEYWORDS), Redactor())
    result = await evaluate("rules", triager, cases)

    assert len(result.results) == len(cases) >= 80
    assert result.accuracy >= 0.90
    recall = result.recall()
    assert set(recall) == {c.category for c in cases}
    assert {k: v for k, v in recall.items() if v is None or v < 0.80} == {}
    assert result.severity_within_one >= 0.90
