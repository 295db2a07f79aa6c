"""Each class of bad input gets the right HTTP status and a message naming the problem."""

from __future__ import annotations

import json

import pytest

from bot.errors import PayloadError
from bot.ingest import SOURCES, IngestOptions

from .payloads import fixture_bytes, parse


def refusal(
    source: str,
    body: bytes,
    content_type: str | None = "application/json",
    options: IngestOptions | None = None,
) -> PayloadError:
    with pytest.raises(PayloadError) as caught:
        parse(source, body, content_type, options)
    return caught.value


def am_with(alert_changes: dict[str, object], index: int = 0) -> bytes:
    document = json.loads(fixture_bytes("alertmanager/firing_multi.json"))
    document["alerts"][index].update(alert_changes)
    return json.dumps(document).encode()


def test_unknown_source_is_404_and_lists_known_sources() -> None:
    error = refusal("nagios", b"{}")
    assert error.status == 404
    assert "'nagios'" in str(error)
    for source in SOURCES:
        assert source in str(error)


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/xml", "multipart/form-data"],
)
def test_non_json_content_type_is_415(content_type: str) -> None:
    error = refusal("generic", b'{"title": "t", "service": "s"}', content_type)
    assert error.status == 415
    assert content_type in str(error)


def test_non_utf8_charset_is_415() -> None:
    error = refusal(
        "generic", b'{"title": "t", "service": "s"}', "application/json; charset=latin-1"
    )
    assert error.status == 415
    assert "latin-1" in str(error)


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "",
        "application/json",
        "application/json; charset=utf-8",
        'Application/JSON; Charset="UTF-8"',
        "application/vnd.alert+json",
    ],
)
def test_json_content_types_are_accepted(content_type: str | None) -> None:
    parsed = parse("generic", b'{"title": "t", "service": "s"}', content_type)
    assert parsed.alerts[0].title == "t"


def test_body_over_limit_is_413() -> None:
    body = fixture_bytes("alertmanager/firing_multi.json")
    error = refusal("alertmanager", body, options=IngestOptions(max_body_bytes=100))
    assert error.status == 413
    assert f"{len(body)} bytes" in str(error) and "100 bytes" in str(error)


def test_invalid_utf8_is_400_naming_the_offset() -> None:
    error = refusal("generic", b'{"title": "caf\xe9", "service": "s"}')
    assert error.status == 400
    assert "UTF-8" in str(error) and "offset 14" in str(error)


def test_truncated_json_is_400_with_line_and_column() -> None:
    body = fixture_bytes("alertmanager/firing_multi.json")[:-40]
    error = refusal("alertmanager", body)
    assert error.status == 400
    assert "invalid JSON at line" in str(error) and "column" in str(error)


def test_syntax_error_position_is_exact() -> None:
    error = refusal("generic", b'{"title": "t",\n  "service": }')
    assert error.status == 400
    assert "line 2, column 14" in str(error)


@pytest.mark.parametrize("body", [b"", b"   \n"])
def test_empty_body_is_400(body: bytes) -> None:
    error = refusal("generic", body)
    assert error.status == 400
    assert "empty" in str(error)


def test_nan_literal_is_400() -> None:
    error = refusal("generic", b'{"title": "t", "service": "s", "labels": {"v": NaN}}')
    assert error.status == 400
    assert "NaN" in str(error)


def test_lone_surrogate_is_400() -> None:
    error = refusal("generic", b'{"title": "\\ud800", "service": "s"}')
    assert error.status == 400
    assert "surrogate" in str(error)


def test_deep_nesting_is_422_without_recursion() -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    error = refusal("alertmanager", body)
    assert error.status == 422
    assert "deeper than 32 levels" in str(error)


def test_deep_nesting_inside_strings_does_not_count() -> None:
    title = "[" * 200 + '\\"{' * 50
    body = json.dumps({"title": title, "service": "s"}).encode()
    assert parse("generic", body).alerts[0].title.startswith("[[[")


def test_depth_limit_is_configurable() -> None:
    body = fixture_bytes("alertmanager/firing_multi.json")
    error = refusal("alertmanager", body, options=IngestOptions(max_json_depth=2))
    assert error.status == 422
    assert "deeper than 2 levels" in str(error)


def test_labels_of_wrong_type_name_the_path() -> None:
    error = refusal("alertmanager", am_with({"labels": ["service", "checkout"]}, index=1))
    assert error.status == 422
    assert str(error) == "alerts[1].labels: expected an object, got an array"


def test_nested_label_value_is_422_naming_the_label() -> None:
    error = refusal("alertmanager", am_with({"labels": {"service": {"name": "checkout"}}}))
    assert error.status == 422
    assert "alerts[0].labels.service: expected a string, number or boolean" in str(error)


def test_missing_labels_is_422() -> None:
    document = json.loads(fixture_bytes("alertmanager/firing_multi.json"))
    del document["alerts"][0]["labels"]
    error = refusal("alertmanager", json.dumps(document).encode())
    assert str(error) == "alerts[0].labels: required field is missing"


def test_bad_time_is_422_naming_the_field() -> None:
    error = refusal("alertmanager", am_with({"startsAt": "yesterday"}))
    assert error.status == 422
    assert "alerts[0].startsAt: expected an RFC 3339 time" in str(error)


def test_impossible_date_is_422() -> None:
    error = refusal("alertmanager", am_with({"startsAt": "2026-02-30T00:00:00Z"}))
    assert error.status == 422
    assert "alerts[0].startsAt" in str(error)


def test_unknown_status_is_422() -> None:
    error = refusal("alertmanager", am_with({"status": "pending"}))
    assert error.status == 422
    assert 'alerts[0].status: expected "firing" or "resolved"' in str(error)


@pytest.mark.parametrize("source", ["alertmanager", "grafana"])
def test_zero_alerts_is_422(source: str) -> None:
    error = refusal(source, b'{"version": "4", "status": "firing", "alerts": []}')
    assert error.status == 422
    assert "no alerts" in str(error)


@pytest.mark.parametrize("source", ["alertmanager", "grafana", "datadog", "pagerduty", "slack"])
def test_top_level_array_is_422_for_object_sources(source: str) -> None:
    error = refusal(source, b"[1, 2]")
    assert error.status == 422
    assert "expected an object, got an array" in str(error)


def test_generic_requires_title_and_service() -> None:
    assert str(refusal("generic", b'{"service": "s"}')) == "title: required field is missing"
    error = refusal("generic", b'[{"title": "a", "service": "s"}, {"title": "b"}]')
    assert str(error) == "[1].service: required field is missing"
    assert refusal("generic", b"[]").status == 422
    assert "no alerts" in str(refusal("generic", b"[]"))


def test_generic_unknown_severity_is_422() -> None:
    error = refusal("generic", b'{"title": "t", "service": "s", "severity": "spicy"}')
    assert error.status == 422
    assert "severity: unknown severity 'spicy'" in str(error)


def test_datadog_without_title_is_422() -> None:
    error = refusal("datadog", b'{"id": "1", "body": "x"}')
    assert error.status == 422
    assert "title: required field is missing" in str(error)


def test_pagerduty_without_event_is_422() -> None:
    assert str(refusal("pagerduty", b'{"messages": []}')) == "event: required field is missing"


def test_slack_human_message_is_422() -> None:
    error = refusal("slack", b'{"type": "message", "user": "U1", "text": "is prod down?"}')
    assert error.status == 422
    assert "not a bot message" in str(error)


def test_slack_url_verification_is_422() -> None:
    error = refusal("slack", b'{"type": "url_verification", "challenge": "abc", "token": "t"}')
    assert error.status == 422
    assert "URL verification" in str(error)


def test_slack_message_without_content_is_422() -> None:
    error = refusal("slack", b'{"type": "message", "subtype": "bot_message", "text": ""}')
    assert error.status == 422
    assert "no text, attachments or blocks" in str(error)


def test_legacy_grafana_payload_is_explained() -> None:
    body = b'{"ruleName": "cpu", "state": "alerting", "evalMatches": [], "title": "[Alerting] cpu"}'
    error = refusal("grafana", body)
    assert error.status == 422
    assert "legacy Grafana" in str(error)


@pytest.mark.parametrize(
    "body",
    [
        b'["' + b'\\"' * 300_000,  # unterminated string full of escaped quotes
        b"[" * 20 + b'"' + b'\\"[{' * 150_000,  # brackets hidden in an unterminated string
    ],
)
def test_unterminated_string_attacks_are_refused_quickly(body: bytes) -> None:
    # A scan that retried every escaped quote as a string start would take minutes here.
    error = refusal("generic", body)
    assert error.status == 400
    assert "Unterminated string" in str(error)


def test_deep_nesting_after_a_long_flat_prefix_is_found() -> None:
    body = b"[" + b'"x",' * 2000 + b"[" * 40 + b"]" * 40 + b"]"
    error = refusal("generic", body)
    assert error.status == 422
    assert "line 1, column" in str(error)
