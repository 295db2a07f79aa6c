"""Did the action work? The post-action verification decision, as a value.

An action may declare ``verify`` in actions.yaml: an expression that must return a non-empty,
non-zero result, or that the incident's alerts all resolve, within a window. After the request
succeeds it is *verifying* until a check holds (``verified``) or the window ends first
(``not_verified``). A check that could not be made (the metrics backend is down) decides
nothing until the window ends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from bot.evidence.series import Series
from bot.models import Verification


@dataclass(frozen=True)
class Check:
    """One look at the condition: True holds, False does not, None could not be checked."""

    holds: bool | None
    detail: str = ""


def expression_holds(series: list[Series]) -> bool:
    """PromQL's idea of "true": some series whose latest sample is a number other than 0.

    A filtering comparison (``rate(...) < 0.02``) returns nothing when it is false and the
    matching samples when it is true; a ``bool`` comparison returns 0 or 1.
    """
    for one in series:
        if not one.points:
            continue
        value = one.points[-1][1]
        if not math.isnan(value) and value != 0:
            return True
    return False


def decide(check: Check, now: datetime, verify_until: datetime) -> Verification | None:
    """The verdict of one sweep: verified as soon as it holds, not verified once time is up."""
    if check.holds:
        return Verification.VERIFIED
    if now >= verify_until:
        return Verification.NOT_VERIFIED
    return None
