"""The verification decision: verified as soon as the check holds, not verified when time is up."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.evidence.series import Series
from bot.evidence.verdicts import Check, decide, expression_holds
from bot.models import Verification

UNTIL = datetime(2026, 11, 24, 2, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("holds", "minutes", "verdict"),
    [
        (True, -5, Verification.VERIFIED),
        (True, 5, Verification.VERIFIED),  # a late sweep that sees it hold still says verified
        (False, -5, None),
        (False, 0, Verification.NOT_VERIFIED),
        (None, -5, None),  # could not check: wait
        (None, 1, Verification.NOT_VERIFIED),  # could never check: not verified
    ],
)
def test_decide(holds: bool | None, minutes: int, verdict: Verification | None) -> None:
    now = UNTIL + timedelta(minutes=minutes)
    assert decide(Check(holds), now, UNTIL) is verdict


@given(st.one_of(st.none(), st.booleans()), st.integers(-10_000, 10_000))
def test_a_verdict_is_final_only_when_it_must_be(holds: bool | None, offset: int) -> None:
    now = UNTIL + timedelta(seconds=offset)
    verdict = decide(Check(holds), now, UNTIL)
    if holds:
        assert verdict is Verification.VERIFIED
    elif now < UNTIL:
        assert verdict is None
    else:
        assert verdict is Verification.NOT_VERIFIED


def test_an_expression_holds_when_some_series_ends_on_a_non_zero_number() -> None:
    assert not expression_holds([])
    assert not expression_holds([Series({}, ((1.0, 0.0),))])  # `x < bool 1` said false
    assert not expression_holds([Series({}, ((1.0, math.nan),))])
    assert not expression_holds([Series({}, ())])
    assert expression_holds([Series({}, ((1.0, 0.0),)), Series({}, ((1.0, 0.013),))])
