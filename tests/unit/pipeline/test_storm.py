"""Storm mode's rule: counts and ``now`` in, storm or not and the storm's group key out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.models import Alert, Severity
from bot.pipeline.storm import (
    MULTIPLE_SERVICES,
    StormRule,
    is_storm_key,
    storm_candidate,
    storm_key,
    storm_service,
    storm_title,
)

T0 = datetime(2026, 11, 24, 2, 0, 5, tzinfo=UTC)


def test_the_threshold_itself_is_not_a_storm() -> None:
    rule = StormRule(threshold=20, window_seconds=60)
    assert rule.decide(0, T0) is None
    assert rule.decide(20, T0) is None
    assert rule.decide(21, T0) == "storm:2026-11-24T02:00:00Z"


def test_threshold_zero_turns_storm_mode_off() -> None:
    rule = StormRule(threshold=0)
    assert not rule.enabled
    assert rule.decide(10_000, T0) is None


def test_every_instant_of_one_bucket_proposes_the_same_key() -> None:
    rule = StormRule(threshold=1, window_seconds=60, buckets=6)
    assert rule.bucket_seconds == 10
    keys = {rule.decide(2, T0 + timedelta(seconds=s)) for s in range(5)}
    assert keys == {"storm:2026-11-24T02:00:00Z"}
    assert rule.decide(2, T0 + timedelta(seconds=5)) == "storm:2026-11-24T02:00:10Z"


def test_buckets_count_forward_and_naive_times_are_utc() -> None:
    rule = StormRule(window_seconds=60, buckets=6)
    assert rule.bucket(T0 + timedelta(seconds=10)) == rule.bucket(T0) + 1
    assert rule.bucket(T0.replace(tzinfo=None)) == rule.bucket(T0)
    assert storm_key(rule.bucket(T0), rule.bucket_seconds) == "storm:2026-11-24T02:00:00Z"


def test_storm_keys_are_recognised() -> None:
    assert is_storm_key("storm:2026-11-24T02:00:00Z")
    assert not is_storm_key("alertname=HighLatency")
    assert not is_storm_key(None)


def test_title_counts_alerts_and_groups() -> None:
    assert storm_title(1234, 57) == "Alert storm: 1,234 alerts across 57 groups"
    assert storm_title(1, 1) == "Alert storm: 1 alert across 1 group"


def test_one_service_until_a_second_one_joins() -> None:
    assert storm_service("checkout", ["checkout", "checkout"]) == "checkout"
    assert storm_service("checkout", ["checkout", "payments"]) == MULTIPLE_SERVICES
    assert storm_service(MULTIPLE_SERVICES, ["checkout"]) == MULTIPLE_SERVICES


def test_the_storm_incident_takes_the_first_alerts_service_and_severity() -> None:
    alert = Alert(
        source="generic",
        fingerprint="fp-1",
        group_key="alertname=Disk",
        title="Disk full",
        service="db",
        severity_hint=Severity.SEV1,
        starts_at=T0,
        received_at=T0,
    )
    incident = storm_candidate(alert, "storm:2026-11-24T02:00:00Z", T0)
    assert incident.group_key == "storm:2026-11-24T02:00:00Z"
    assert (incident.service, incident.severity) == ("db", Severity.SEV1)
    assert incident.title == "Alert storm: 1 alert across 1 group"
