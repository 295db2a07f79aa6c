"""Scoring triage from corrections and feedback: exact figures on small hand-made records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.accuracy import Judged, category_accuracy, judge, outcome_shares, score
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


def test_category_accuracy_over_corrected_incidents() -> None:
    corrected = [_correction(S, S), _correction(L, S), _correction(R, S), _correction(L, R)]
    assert category_accuracy(corrected, S) == pytest.approx(1 / 3)
    assert category_accuracy(corrected, R) == 0.0
    assert category_accuracy(corrected, L) is None
