"""Severity hints from the words sources use for urgency (severity, priority, urgency)."""

from __future__ import annotations

import re

from bot.models import Severity

# Keys are lower-case with spaces, hyphens and underscores removed.
SEVERITY_ALIASES: dict[str, Severity] = {
    "sev0": Severity.SEV0,
    "p0": Severity.SEV0,
    "emergency": Severity.SEV0,
    "disaster": Severity.SEV0,
    "sev1": Severity.SEV1,
    "p1": Severity.SEV1,
    "critical": Severity.SEV1,
    "crit": Severity.SEV1,
    "page": Severity.SEV1,
    "fatal": Severity.SEV1,
    "high": Severity.SEV1,
    "sev2": Severity.SEV2,
    "p2": Severity.SEV2,
    "warning": Severity.SEV2,
    "warn": Severity.SEV2,
    "error": Severity.SEV2,
    "major": Severity.SEV2,
    "medium": Severity.SEV2,
    "sev3": Severity.SEV3,
    "p3": Severity.SEV3,
    "p4": Severity.SEV3,
    "p5": Severity.SEV3,
    "minor": Severity.SEV3,
    "low": Severity.SEV3,
    "normal": Severity.SEV3,
    "info": Severity.SEV3,
    "informational": Severity.SEV3,
    "notice": Severity.SEV3,
    "none": Severity.SEV3,
}

_SEPARATORS = re.compile(r"[\s_-]+")


def severity_hint(*candidates: str) -> Severity | None:
    """The first candidate that names a known severity, mapped to SEV0..SEV3."""
    for candidate in candidates:
        key = _SEPARATORS.sub("", candidate.strip().lower())
        if key in SEVERITY_ALIASES:
            return SEVERITY_ALIASES[key]
    return None
