"""Triage accuracy from what responders said: corrections are the ground truth, Helpful
feedback on an uncorrected triage confirms it, Not helpful without a correction disputes it.

Pure: values in, figures out (``incident-bot report accuracy``, the drift check, /metrics).

The drift check counts a category's *judged* incidents: those with a truth, i.e. corrected by a
responder (a correction that kept the category is a confirmation) or confirmed by Helpful
feedback on an uncorrected triage. Disputed and unjudged triages are not counted. A category's
accuracy is the share of its last N judged incidents (by when the verdict was given) that
triage had categorised right: the recall of ``CategoryScore``, over all providers pooled.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from bot.models import (
    ActionRequest,
    ActionState,
    Category,
    Correction,
    Feedback,
    Triage,
    Verification,
)

CATEGORIES: tuple[Category, ...] = tuple(Category)


@dataclass(frozen=True)
class Judged:
    """One triaged incident and what people made of it."""

    provider: str
    prompt_version: str
    predicted: Category
    # The true category: a correction's, or the triage's own when someone found it helpful.
    truth: Category | None
    disputed: bool = False
    # When the verdict was given (the correction's or the feedback's time), if there is one.
    at: datetime | None = field(default=None, compare=False)


def judge(triage: Triage, correction: Correction | None, feedback: Sequence[Feedback]) -> Judged:
    """What people made of ``triage``: a correction wins; else the latest feedback on it."""
    provider = triage.provider if triage.provider == "rules" else triage.model or triage.provider
    version = triage.prompt_version or "-"
    if correction is not None:
        return Judged(
            provider, version, correction.from_category, correction.category, at=correction.at
        )
    own = [f for f in feedback if f.triage_id in (None, triage.id)]
    latest = max(own, key=lambda f: f.at) if own else None
    if latest is not None and latest.helpful:
        return Judged(provider, version, triage.category, triage.category, at=latest.at)
    return Judged(
        provider,
        version,
        triage.category,
        None,
        disputed=latest is not None,
        at=latest.at if latest is not None else None,
    )


@dataclass(frozen=True)
class CategoryScore:
    """Precision and recall of one category (None when nothing to divide by)."""

    category: Category
    support: int
    predicted: int
    correct: int

    @property
    def precision(self) -> float | None:
        """Share of this category's predictions that were right."""
        return self.correct / self.predicted if self.predicted else None

    @property
    def recall(self) -> float | None:
        """Share of incidents truly of this category that triage got right."""
        return self.correct / self.support if self.support else None


@dataclass
class Scorecard:
    """One provider at one prompt version."""

    provider: str
    prompt_version: str
    judged: int = 0
    correct: int = 0
    disputed: int = 0
    unjudged: int = 0
    # (truth, predicted) -> count
    confusion: Counter[tuple[Category, Category]] = field(default_factory=Counter)

    @property
    def accuracy(self) -> float | None:
        """Share of judged triages whose category was right."""
        return self.correct / self.judged if self.judged else None

    def categories(self) -> list[CategoryScore]:
        """Per-category figures, in the fixed order, for categories seen at all."""
        rows = []
        for category in CATEGORIES:
            support = sum(n for (t, _), n in self.confusion.items() if t is category)
            predicted = sum(n for (_, p), n in self.confusion.items() if p is category)
            if support or predicted:
                correct = self.confusion[(category, category)]
                rows.append(CategoryScore(category, support, predicted, correct))
        return rows


def score(items: Iterable[Judged]) -> list[Scorecard]:
    """Scorecards per (provider, prompt version), sorted by provider then version."""
    cards: dict[tuple[str, str], Scorecard] = {}
    for item in items:
        key = (item.provider, item.prompt_version)
        card = cards.setdefault(key, Scorecard(*key))
        if item.truth is None:
            if item.disputed:
                card.disputed += 1
            else:
                card.unjudged += 1
            continue
        card.judged += 1
        card.correct += item.truth is item.predicted
        card.confusion[(item.truth, item.predicted)] += 1
    return [cards[key] for key in sorted(cards)]


# What became of proposals: the state (or verdict) each share counts.
OUTCOMES: dict[str, frozenset[ActionState]] = {
    "approved": frozenset(
        {
            ActionState.APPROVED,
            ActionState.EXECUTING,
            ActionState.SUCCEEDED,
            ActionState.FAILED,
            ActionState.OUTCOME_UNKNOWN,
        }
    ),
    "denied": frozenset({ActionState.DENIED}),
    "expired": frozenset({ActionState.EXPIRED}),
    "cancelled": frozenset({ActionState.CANCELLED}),
}


def outcome_shares(requests: Sequence[ActionRequest]) -> dict[str, float]:
    """Shares of proposals approved (or run by policy), denied, expired, cancelled; verified
    and not_verified are shares of those with a verdict. Empty input gives zeros."""
    total = len(requests)
    shares = {
        name: (sum(r.state in states for r in requests) / total if total else 0.0)
        for name, states in OUTCOMES.items()
    }
    verdicts = [r.verification for r in requests if r.verification is not None]
    for verdict in (Verification.VERIFIED, Verification.NOT_VERIFIED):
        shares[verdict.value] = (
            sum(v is verdict for v in verdicts) / len(verdicts) if verdicts else 0.0
        )
    return shares


@dataclass(frozen=True)
class DriftRule:
    """The drift check: a category whose accuracy over its last ``last`` judged incidents is
    below ``threshold`` has drifted; ``post`` says whether drift is posted (a channel is set)."""

    last: int = 20
    threshold: float = 0.8
    post: bool = False

    def drifted(self, row: CategoryScore) -> bool:
        """True when ``row`` covers ``last`` judged incidents and its accuracy is below the
        threshold (equal to it is not drift)."""
        accuracy = row.recall
        return row.support >= self.last and accuracy is not None and accuracy < self.threshold


def recent_by_category(items: Iterable[Judged], last: int) -> list[CategoryScore]:
    """Per category, its figures over its ``last`` most recently judged incidents (items with a
    truth, ordered by verdict time), every provider and prompt version pooled; categories
    without a judged incident are left out. ``recall`` is the drift check's accuracy."""
    judged = sorted(
        (item for item in items if item.truth is not None),
        key=lambda item: item.at.timestamp() if item.at is not None else -math.inf,
    )
    rows = []
    for category in CATEGORIES:
        recent = [item for item in judged if item.truth is category][-last:]
        pooled = score(replace(item, provider="all", prompt_version="-") for item in recent)
        rows += [row for card in pooled for row in card.categories() if row.category is category]
    return rows
