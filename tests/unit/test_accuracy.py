"""Scoring triage from corrections and feedback: exact figures on small hand-made records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.accuracy import (
    DriftRule,
    Judged,
    judge,
    outcome_shares,
    recent_by_category,
    score,
)
from bot.models import (
    ActionRequest,
    ActionState,
    Category,
    Correction,
    Feedback,
    Severity,
    Triage,
    Verification,
)

T0 = datetime(2027, 1, 5, tzinfo=UTC)
L, R, S = Category.LATENCY, Category.RESOURCE_EXHAUSTION, Category.SECURITY


def _triage(category: Category, provider: str = "rules", model: str = "") -> Triage:
    return Triage(
        incident_id="inc_1",
        category=category,
        confidence=0.8,
        created_at=T0,
        provider=provider,
        model=model,
        prompt_version="v3",
    )


def _correction(was: Category, now: Category) -> Correction:
    return Correction(category=now, from_category=was, from_severity=Severity.SEV2, by="U1", at=T0)


def test_a_correction_is_the_truth_and_feedback_decides_the_rest() -> None:
    triage = _triage(L)
    helpful = Feedback(incident_id="inc_1", triage_id=triage.id, user_id="U", helpful=True, at=T0)
    unhelpful = helpful.model_copy(update={"helpful": False, "at": T0 + timedelta(minutes=1)})
    assert judge(triage, _correction(L, S), [helpful]) == Judged("rules", "v3", L, S)
    assert judge(triage, None, [helpful]) == Judged("rules", "v3", L, L)
    # The latest word counts: helpful, then not helpful, is disputed.
    assert judge(triage, None, [helpful, unhelpful]) == Judged("rules", "v3", L, None, True)
    assert judge(triage, None, []) == Judged("rules", "v3", L, None, False)
    model = _triage(L, provider="openai", model="gpt-x")
    assert judge(model, None, [helpful]).provider == "gpt-x"


def test_precision_recall_and_confusion_per_provider_and_prompt_version() -> None:
    items = [
        Judged("rules", "v3", L, L),
        Judged("rules", "v3", L, L),
        Judged("rules", "v3", L, R),  # said latency, was resource exhaustion
        Judged("rules", "v3", R, R),
        Judged("rules", "v3", S, None, disputed=True),
        Judged("rules", "v3", S, None),
        Judged("gpt-x", "v3", S, S),
    ]
    model, rules = score(items)
    assert (model.provider, model.judged, model.correct, model.accuracy) == ("gpt-x", 1, 1, 1.0)
    assert (rules.judged, rules.correct, rules.disputed, rules.unjudged) == (4, 3, 1, 1)
    assert rules.accuracy == 0.75
    by = {row.category: row for row in rules.categories()}
    assert set(by) == {L, R}
    assert by[L].precision == pytest.approx(2 / 3) and by[L].recall == 1.0
    assert by[R].precision == 1.0 and by[R].recall == 0.5
    assert rules.confusion[(R, L)] == 1 and rules.confusion[(L, L)] == 2


def _request(state: ActionState, verification: Verification | None = None) -> dict[str, object]:
    return {"state": state, "verification": verification}


def test_outcome_shares() -> None:
    requests = [
        ActionRequest.model_construct(**_request(ActionState.SUCCEEDED, Verification.VERIFIED)),
        ActionRequest.model_construct(**_request(ActionState.SUCCEEDED, Verification.NOT_VERIFIED)),
        ActionRequest.model_construct(**_request(ActionState.SUCCEEDED, Verification.VERIFIED)),
        ActionRequest.model_construct(**_request(ActionState.DENIED)),
        ActionRequest.model_construct(**_request(ActionState.EXPIRED)),
        ActionRequest.model_construct(**_request(ActionState.CANCELLED)),
        ActionRequest.model_construct(**_request(ActionState.PENDING_APPROVAL)),
        ActionRequest.model_construct(**_request(ActionState.BLOCKED)),
    ]
    shares = outcome_shares(requests)
    assert shares["approved"] == 3 / 8
    assert shares["denied"] == shares["expired"] == shares["cancelled"] == 1 / 8
    assert shares["verified"] == pytest.approx(2 / 3)
    assert shares["not_verified"] == pytest.approx(1 / 3)
    assert outcome_shares([])["approved"] == 0.0


def _at(minutes: int, predicted: Category, truth: Category | None) -> Judged:
    provider = "gpt-x" if minutes % 2 else "rules"  # providers are pooled
    return Judged(provider, "v3", predicted, truth, at=T0 + timedelta(minutes=minutes))


def test_recent_by_category_scores_each_category_over_its_last_judged() -> None:
    items = [
        _at(5, S, S),
        _at(1, L, S),  # the oldest security incident: outside the last 3
        _at(2, R, S),
        _at(3, S, S),
        _at(4, L, R),
        _at(6, S, None),  # disputed or unjudged: never counted
    ]
    by = {row.category: row for row in recent_by_category(items, last=3)}
    assert set(by) == {S, R}
    assert (by[S].support, by[S].correct, by[S].recall) == (3, 2, pytest.approx(2 / 3))
    assert (by[R].support, by[R].correct, by[R].recall) == (1, 0, 0.0)
    # Every security incident counted when the window is wider.
    wide = {row.category: row for row in recent_by_category(items, last=10)}
    assert (wide[S].support, wide[S].correct) == (4, 2)


def test_judge_records_when_the_verdict_was_given() -> None:
    triage = _triage(L)
    later = T0 + timedelta(hours=2)
    corrected = _correction(L, S).model_copy(update={"at": later})
    assert judge(triage, corrected, []).at == later
    helpful = Feedback(incident_id="inc_1", triage_id=triage.id, user_id="U", helpful=True, at=T0)
    assert judge(triage, None, [helpful]).at == T0


def test_drift_needs_the_full_window_and_a_figure_below_the_threshold() -> None:
    rule = DriftRule(last=5, threshold=0.8)
    four_of_five = recent_by_category([_at(m, S, S) for m in range(4)] + [_at(9, L, S)], 5)[0]
    assert four_of_five.recall == 0.8
    assert not rule.drifted(four_of_five)  # equal to the threshold is not drift
    three_of_five = recent_by_category(
        [_at(m, S, S) for m in range(3)] + [_at(8, L, S), _at(9, R, S)], 5
    )[0]
    assert rule.drifted(three_of_five)
    too_few = recent_by_category([_at(1, L, S), _at(2, L, S)], 5)[0]
    assert too_few.recall == 0.0 and not rule.drifted(too_few)
