"""Storm mode: when new incidents open faster than a threshold, new groups join one incident.

The count is shared by every replica (``Coordination.add_to_window``): a firing alert of a
group with no open incident adds one to the current time bucket, once per group and window
(``arrival_lease``), and the window is the last ``buckets`` buckets. While that count is over
``threshold`` a new group joins the storm incident instead of opening its own. The storm's
group key comes from the bucket in which it began and is held as a shared lease
(``join_lease``), so every replica files into the same incident; the lease lapses one window
after the last group joined, and a later new group opens its own incident again. Everything
here is pure: counts and ``now`` in, decisions out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.models import Alert, Incident, Severity

# Shared names (counters and leases) storm mode uses.
OPENINGS = "incident-openings"
STORM_LEASE = "storm"
STORM_PREFIX = "storm:"
MULTIPLE_SERVICES = "multiple"
# How long a group that joined a storm stays with it (its repeats join the storm incident).
MEMBERSHIP_SECONDS = 86_400.0


@dataclass(frozen=True)
class StormRule:
    """More than ``threshold`` new incidents within ``window_seconds`` is a storm (0: never)."""

    threshold: int = 20
    window_seconds: float = 60.0
    buckets: int = 6

    @property
    def enabled(self) -> bool:
        """False when the threshold is 0: every new group opens its own incident."""
        return self.threshold > 0

    @property
    def bucket_seconds(self) -> float:
        """The width of one time bucket of the shared count."""
        return self.window_seconds / self.buckets

    def bucket(self, now: datetime) -> int:
        """The time bucket ``now`` falls in (the same number on every replica)."""
        return math.floor(_utc(now).timestamp() / self.bucket_seconds)

    def decide(self, openings: int, now: datetime) -> str | None:
        """The storm key this arrival proposes when ``openings`` in the window (itself
        included) is over the threshold; None when the group opens its own incident."""
        if not self.enabled or openings <= self.threshold:
            return None
        return storm_key(self.bucket(now), self.bucket_seconds)


def storm_key(bucket: int, bucket_seconds: float) -> str:
    """The group key of a storm that began in ``bucket``: the bucket's start, in UTC."""
    start = datetime.fromtimestamp(bucket * bucket_seconds, UTC)
    return STORM_PREFIX + start.strftime("%Y-%m-%dT%H:%M:%SZ")


def is_storm_key(group_key: str | None) -> bool:
    """True for the group key of a storm incident."""
    return group_key is not None and group_key.startswith(STORM_PREFIX)


def arrival_lease(group_key: str) -> str:
    """The lease that lets a new group count once per window, however many resends race."""
    return f"storm-arrival:{group_key}"


def member_lease(group_key: str) -> str:
    """The lease naming the storm a folded group belongs to."""
    return f"storm-member:{group_key}"


def groups_counter(storm: str) -> str:
    """The counter of groups that joined the storm with this key."""
    return f"storm-groups:{storm}"


def storm_title(alerts: int, groups: int) -> str:
    """The storm incident's title, e.g. ``Alert storm: 1,234 alerts across 57 groups``."""
    return (
        f"Alert storm: {alerts:,} alert{'s' if alerts != 1 else ''} across "
        f"{groups:,} group{'s' if groups != 1 else ''}"
    )


def storm_service(current: str, joining: Iterable[str]) -> str:
    """One service while every group shares it, else ``multiple``."""
    services = {current, *joining}
    return current if len(services) == 1 else MULTIPLE_SERVICES


def storm_candidate(
    alert: Alert, key: str, now: datetime, commander: str | None = None
) -> Incident:
    """The storm incident the first folded alert would open, led by ``commander`` (the first
    alert's service's on-call commander) when one is known."""
    return Incident(
        title=storm_title(1, 1),
        service=alert.service,
        severity=alert.severity_hint or Severity.SEV3,
        group_key=key,
        commander=commander,
        created_at=now,
        updated_at=now,
    )


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
