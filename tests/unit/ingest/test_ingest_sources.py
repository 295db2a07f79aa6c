"""Every fixture parses to the alerts a human reading it would expect."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.errors import PayloadError
from bot.models import AlertStatus, Severity

from .payloads import PAYLOADS, RECEIVED, parse_fixture

AM_GROUP = '{}/{team="payments"}:{alertname="HighErrorRate"}'


def test_alertmanager_firing_multi_reads_both_alerts() -> None:
    parsed = parse_fixture("alertmanager/firing_multi.json")
    assert parsed.truncated == 0
    first, second = parsed.alerts
    assert first.source == "alertmanager"
    assert first.fingerprint == "4f6b1a9d2c7e8f30"
    assert first.group_key == AM_GROUP
    assert first.service == "checkout"
    assert first.title == "HighErrorRate: 5xx ratio above 5% for checkout"
    assert first.description.startswith("checkout is answering 7.3%")
    assert first.severity_hint is Severity.SEV1
    assert first.status is AlertStatus.FIRING
    assert first.starts_at == datetime(2026, 11, 20, 2, 13, 7, 412000, tzinfo=UTC)
    assert first.ends_at is None  # Go's zero time means "still firing"
    assert first.url is not None and first.url.startswith("http://prometheus.monitoring.svc")
    assert first.annotations["runbook_url"].endswith("/checkout/high-error-rate")
    assert first.received_at == RECEIVED
    assert first.incident_id is None and first.raw_ref is None
    # service comes from the second label in the order; nanoseconds and +01:00 handled
    assert second.service == "payment-gateway"
    assert second.severity_hint is Severity.SEV2
    assert second.starts_at == datetime(2026, 11, 20, 1, 14, 37, 1234, tzinfo=UTC)
    assert second.fingerprint == "9a3e5c7b1d2f4a60"
    assert second.group_key == AM_GROUP


def test_alertmanager_resolved_matches_the_firing_alert() -> None:
    firing = parse_fixture("alertmanager/firing_multi.json").alerts[0]
    (resolved,) = parse_fixture("alertmanager/resolved.json").alerts
    assert resolved.status is AlertStatus.RESOLVED
    assert resolved.fingerprint == firing.fingerprint
    assert resolved.group_key == firing.group_key
    assert resolved.starts_at == firing.starts_at
    assert resolved.ends_at == datetime(2026, 11, 20, 2, 41, 52, 118000, tzinfo=UTC)
    assert resolved.dedup_key != firing.dedup_key


def test_alertmanager_truncated_count_and_common_annotations() -> None:
    parsed = parse_fixture("alertmanager/truncated.json")
    assert parsed.truncated == 3
    (alert,) = parsed.alerts
    assert alert.service == "node-exporter"  # from the job label
    assert alert.title == "NodeDiskFull: Root filesystem above 95%"
    assert alert.severity_hint is Severity.SEV1  # severity "page"


def test_grafana_firing() -> None:
    parsed = parse_fixture("grafana/firing.json")
    memory, cpu = parsed.alerts
    assert memory.source == "grafana"
    assert memory.fingerprint == "b2e71c04d95a6f13"
    assert memory.group_key.endswith(':{service="search-api"}')
    assert memory.service == "search-api"
    assert memory.title == "High memory usage: search-api memory above 90% in eu-west-1"
    assert memory.starts_at == datetime(2026, 11, 21, 7, 51, 3, 157076, tzinfo=UTC)
    assert memory.annotations["dashboardURL"] == "https://grafana.example.com/d/search-mem?orgId=1"
    assert "value=93.41870880126953" in memory.annotations["values"]
    assert memory.url == "https://grafana.example.com/alerting/grafana/fe3kq9z/view?orgId=1"
    assert cpu.annotations["values"] == "B=88.2, C=1"  # from "values" when valueString is empty
    assert "dashboardURL" not in cpu.annotations  # empty links are left out
    assert cpu.fingerprint != memory.fingerprint


def test_grafana_resolved() -> None:
    (alert,) = parse_fixture("grafana/resolved.json").alerts
    assert alert.status is AlertStatus.RESOLVED
    assert alert.fingerprint == "b2e71c04d95a6f13"
    assert alert.ends_at == datetime(2026, 11, 21, 8, 20, 3, tzinfo=UTC)


def test_datadog_triggered_custom_template() -> None:
    (alert,) = parse_fixture("datadog/triggered.json").alerts
    assert alert.title == "checkout-api p99 latency above 2s"  # [P1] [Triggered] peeled off
    assert alert.status is AlertStatus.FIRING
    assert alert.service == "checkout-api"  # from the service: tag
    assert alert.labels["env"] == "prod"
    assert alert.labels["team"] == "payments"
    assert alert.labels["monitor_id"] == "98123457"
    assert alert.labels["datadog_transition"] == "Triggered"
    assert alert.severity_hint is Severity.SEV1  # P1
    assert alert.starts_at == datetime(2026, 11, 20, 2, 20, tzinfo=UTC)  # epoch milliseconds
    assert alert.url == "https://app.datadoghq.com/event/event?id=7651297735432908122"
    assert alert.group_key == "datadog:checkout-api:checkout-api-p99-latency-above-2s"


def test_datadog_recovered_resolves_the_same_alert() -> None:
    (triggered,) = parse_fixture("datadog/triggered.json").alerts
    (recovered,) = parse_fixture("datadog/recovered.json").alerts
    assert recovered.status is AlertStatus.RESOLVED
    assert recovered.fingerprint == triggered.fingerprint
    assert recovered.group_key == triggered.group_key
    assert recovered.ends_at == datetime(2026, 11, 20, 2, 50, tzinfo=UTC)


def test_datadog_default_template() -> None:
    (alert,) = parse_fixture("datadog/default.json").alerts
    assert alert.title == "Disk usage high on db-replica-2"
    assert alert.status is AlertStatus.FIRING
    assert alert.labels["host"] == "db-replica-2"  # from "[Triggered on {host:...}]"
    assert alert.labels["datadog_org"] == "Example Shop"
    assert alert.service == "db-replica-2"  # no service tag: the host is the fallback
    assert alert.description.startswith("%%%\nDisk usage on **db-replica-2**")


def test_pagerduty_triggered() -> None:
    (alert,) = parse_fixture("pagerduty/triggered.json").alerts
    assert alert.source == "pagerduty"
    assert alert.title == "Orders API error budget burn rate critical"
    assert alert.fingerprint == "Q1R2S3T4U5V6W7"
    assert alert.service == "orders-api"  # the PagerDuty service summary, canonicalised
    assert alert.service_raw == "Orders API"
    assert alert.status is AlertStatus.FIRING
    assert alert.severity_hint is Severity.SEV1
    assert alert.labels["pagerduty_event"] == "incident.triggered"
    assert alert.labels["incident_number"] == "4821"
    assert alert.annotations["conference_url"] == "https://meet.example.com/orders-4821"
    assert alert.url == "https://example-shop.pagerduty.com/incidents/Q1R2S3T4U5V6W7"
    assert alert.starts_at == datetime(2026, 11, 22, 4, 2, 11, tzinfo=UTC)


def test_pagerduty_acknowledged_stays_firing_but_is_recorded() -> None:
    (alert,) = parse_fixture("pagerduty/acknowledged.json").alerts
    assert alert.status is AlertStatus.FIRING
    assert alert.labels["pagerduty_event"] == "incident.acknowledged"
    assert alert.annotations["agent"] == "Dana Okafor"
    # dated by the acknowledgement, so the store does not drop it as a resend of the trigger
    (triggered,) = parse_fixture("pagerduty/triggered.json").alerts
    assert alert.starts_at == datetime(2026, 11, 22, 4, 5, 40, 19000, tzinfo=UTC)
    assert alert.dedup_key != triggered.dedup_key
    assert alert.fingerprint == triggered.fingerprint


def test_pagerduty_resolved() -> None:
    (triggered,) = parse_fixture("pagerduty/triggered.json").alerts
    (alert,) = parse_fixture("pagerduty/resolved.json").alerts
    assert alert.status is AlertStatus.RESOLVED
    assert alert.ends_at == datetime(2026, 11, 22, 4, 48, 3, 871000, tzinfo=UTC)
    assert (alert.fingerprint, alert.group_key) == (triggered.fingerprint, triggered.group_key)


def test_pagerduty_non_incident_event_is_refused_clearly() -> None:
    with pytest.raises(PayloadError) as caught:
        parse_fixture("pagerduty/annotated.json")
    assert caught.value.status == 422
    assert "incident.annotated" in str(caught.value)
    assert "incident.triggered" in str(caught.value)


def test_generic_single() -> None:
    (alert,) = parse_fixture("generic/single.json").alerts
    assert alert.title == "Queue backlog growing on order-events"
    assert alert.service == "order-worker"
    assert alert.severity_hint is Severity.SEV1  # "high"
    assert alert.labels == {
        "env": "prod",
        "topic": "order-events",
        "partitions": "24",
        "autoscaled": "false",
        "source": "kafka-lag-exporter",
        "severity": "high",
    }
    assert alert.starts_at == RECEIVED  # no time in the body: when we got it


def test_generic_list() -> None:
    cert, backup = parse_fixture("generic/list.json").alerts
    assert cert.severity_hint is Severity.SEV3
    assert backup.service == "billing-db"
    assert backup.service_raw == "Billing DB"
    assert backup.severity_hint is Severity.SEV2
    assert backup.url == "https://ci.example.com/jobs/8812"
    assert cert.fingerprint != backup.fingerprint


def test_slack_alertmanager_receiver() -> None:
    (alert,) = parse_fixture("slack/alertmanager_receiver.json").alerts
    assert alert.source == "slack"
    assert alert.status is AlertStatus.FIRING
    assert alert.title == "HighErrorRate checkout"
    assert alert.service == "checkout"
    assert alert.labels["alertname"] == "HighErrorRate"
    assert alert.labels["instance"] == "checkout-7d9f8c6b5-x2k4p:8080"
    assert alert.severity_hint is Severity.SEV1
    assert "description" in alert.annotations and "description" not in alert.labels
    assert alert.group_key == "slack:checkout:HighErrorRate"
    assert alert.starts_at == datetime(2026, 11, 20, 2, 13, 7, 1900, tzinfo=UTC)


def test_slack_alertmanager_resolved_pairs_with_firing() -> None:
    (firing,) = parse_fixture("slack/alertmanager_receiver.json").alerts
    (resolved,) = parse_fixture("slack/alertmanager_resolved.json").alerts
    assert resolved.status is AlertStatus.RESOLVED
    assert resolved.fingerprint == firing.fingerprint
    assert resolved.group_key == firing.group_key


def test_slack_grafana_contact_point() -> None:
    (alert,) = parse_fixture("slack/grafana_contact_point.json").alerts
    assert alert.status is AlertStatus.FIRING
    assert alert.title == "High memory usage Platform (search-api warning eu-west-1)"
    assert alert.labels["alertname"] == "High memory usage"  # from "- alertname = ..."
    assert alert.service == "search-api"
    assert alert.severity_hint is Severity.SEV2
    assert alert.annotations["summary"] == "search-api memory above 90% in eu-west-1"
    assert "&amp;" not in alert.description and "<https" not in alert.description


def test_slack_datadog_triggered_and_recovered() -> None:
    (alert,) = parse_fixture("slack/datadog.json").alerts
    assert alert.status is AlertStatus.FIRING
    assert alert.title == "checkout-api p99 latency above 2s"
    assert alert.labels["service"] == "checkout-api"
    assert alert.labels["env"] == "prod"
    assert alert.severity_hint is Severity.SEV1
    assert alert.url is not None and "monitors/98123457" in alert.url
    (recovered,) = parse_fixture("slack/datadog_recovered.json").alerts
    assert recovered.status is AlertStatus.RESOLVED
    assert recovered.fingerprint == alert.fingerprint


def test_slack_block_kit_message() -> None:
    (alert,) = parse_fixture("slack/blocks.json").alerts
    assert alert.title == "Kafka consumer lag critical"
    assert alert.service == "order-worker"
    assert alert.labels["environment"] == "prod"
    assert alert.severity_hint is Severity.SEV1
    assert "182k messages behind" in alert.description


@pytest.mark.parametrize(
    "name", sorted(str(p.relative_to(PAYLOADS)) for p in PAYLOADS.glob("*/*.json"))
)
def test_every_fixture_is_accepted_or_deliberately_refused(name: str) -> None:
    if name == "pagerduty/annotated.json":
        return
    parsed = parse_fixture(name)
    assert parsed.alerts
    for alert in parsed.alerts:
        assert alert.title and alert.service and alert.fingerprint and alert.group_key
        assert all(isinstance(v, str) for v in alert.labels.values())
