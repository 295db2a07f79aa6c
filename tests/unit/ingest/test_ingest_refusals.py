"""Each class of bad input gets the right HTTP status and a message naming the problem."""

from __future__ import annotations

import json

import pytest

from bot.errors import PayloadError
from bot.ingest import SOURCES, IngestOptions

from .payloads import PAYLOADS, fixture_bytes, parse

FIXTURE_NAMES = sorted(str(p.relative_to(PAYLOADS)) for p in PAYLOADS.glob("*/*.json"))


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
    assert str(error) == "alerts[0].labels.service: expected a string, got an object"


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


# --- duplicate keys: one reader keeps the first value, another the last ---------------------


@pytest.mark.parametrize(
    ("source", "body", "path", "key"),
    [
        ("generic", b'{"title": "t", "service": "checkout", "service": "payment-gateway"}',
         "service", "service"),
        ("generic", b'[{"title": "t", "service": "s"}, {"title": "t", "title": "u"}]',
         "[1].title", "title"),
        ("generic", b'{"title": "t", "service": "s", "labels": {"team": "a", "\\u0074eam": "b"}}',
         "labels.team", "team"),
        ("alertmanager", b'{"alerts": [{"labels": {"a": "1"}, "status": "firing", "status": "x"}]}',
         "alerts[0].status", "status"),
        ("pagerduty", b'{"event": {"data": {"id": "P1", "id": "P2"}}}', "event.data.id", "id"),
    ],
)
def test_duplicate_key_is_422_naming_key_and_path(
    source: str, body: bytes, path: str, key: str
) -> None:
    error = refusal(source, body)
    assert error.status == 422
    assert str(error).startswith(f"{path}: duplicate key {key!r}")


def test_repeated_key_in_a_fixture_is_found_at_depth() -> None:
    text = fixture_bytes("alertmanager/firing_multi.json").decode()
    body = text.replace('"labels": {', '"labels": {"service": "payment-gateway", ', 1).encode()
    assert json.loads(body)  # the stock parser would take it, last value winning
    error = refusal("alertmanager", body)
    assert error.status == 422
    assert str(error).startswith("alerts[0].labels.service: duplicate key 'service'")


def test_same_key_in_sibling_objects_is_fine() -> None:
    body = b'[{"title": "a", "service": "s"}, {"title": "b", "service": "s"}]'
    assert len(parse("generic", body).alerts) == 2


# --- values whose type contradicts the source's schema --------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"labels": {"service": "checkout", "replicas": 3}},
         "alerts[0].labels.replicas: expected a string, got a number"),
        ({"labels": {"service": "checkout", "canary": True}},
         "alerts[0].labels.canary: expected a string, got a boolean"),
        ({"labels": {"service": None}}, "alerts[0].labels.service: expected a string, got null"),
        ({"annotations": {"summary": ["a", "b"]}},
         "alerts[0].annotations.summary: expected a string, got an array"),
        ({"status": 1}, "alerts[0].status: expected a string, got a number"),
        ({"fingerprint": 12345}, "alerts[0].fingerprint: expected a string, got a number"),
        ({"generatorURL": {"href": "x"}},
         "alerts[0].generatorURL: expected a string, got an object"),
        ({"startsAt": 1700000000}, "alerts[0].startsAt: expected an RFC 3339 time string"),
    ],
)
def test_alertmanager_type_contradictions_are_422(changes: dict[str, object], message: str) -> None:
    error = refusal("alertmanager", am_with(changes))
    assert error.status == 422
    assert str(error).startswith(message)


@pytest.mark.parametrize(
    ("root_changes", "message"),
    [
        ({"alerts": {"0": {}}}, "alerts: expected an array, got an object"),
        ({"commonLabels": {"severity": 2}},
         "commonLabels.severity: expected a string, got a number"),
        ({"groupLabels": ["alertname"]}, "groupLabels: expected an object, got an array"),
        ({"commonAnnotations": "none"}, "commonAnnotations: expected an object, got a string"),
        ({"groupKey": 7}, "groupKey: expected a string, got a number"),
        ({"truncatedAlerts": "2"}, "truncatedAlerts: expected a non-negative integer"),
    ],
)
def test_alertmanager_group_type_contradictions_are_422(
    root_changes: dict[str, object], message: str
) -> None:
    document = json.loads(fixture_bytes("alertmanager/firing_multi.json"))
    document.update(root_changes)
    error = refusal("alertmanager", json.dumps(document).encode())
    assert error.status == 422
    assert str(error).startswith(message)


def grafana_with(alert_changes: dict[str, object]) -> bytes:
    name = next(p for p in FIXTURE_NAMES if p.startswith("grafana/"))
    document = json.loads(fixture_bytes(name))
    document["alerts"][0].update(alert_changes)
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"values": [44.2]}, "alerts[0].values: expected an object, got an array"),
        ({"values": {"B": "44.2"}}, "alerts[0].values.B: expected a number, got a string"),
        ({"values": {"B": True}}, "alerts[0].values.B: expected a number, got a boolean"),
        ({"valueString": 3}, "alerts[0].valueString: expected a string, got a number"),
        ({"dashboardURL": ["x"]}, "alerts[0].dashboardURL: expected a string, got an array"),
    ],
)
def test_grafana_type_contradictions_are_422(changes: dict[str, object], message: str) -> None:
    error = refusal("grafana", grafana_with({"valueString": "", **changes}))
    assert error.status == 422
    assert str(error).startswith(message)


def test_grafana_numeric_values_are_shown() -> None:
    body = grafana_with({"valueString": "", "values": {"C": 1, "B": 44.2, "D": None}})
    alert = parse("grafana", body).alerts[0]
    assert alert.annotations["values"] == "B=44.2, C=1"


def pagerduty_with(data_changes: dict[str, object]) -> bytes:
    name = next(p for p in FIXTURE_NAMES if p.startswith("pagerduty/"))
    document = json.loads(fixture_bytes(name))
    document["event"]["data"].update(data_changes)
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"event": "incident.triggered"}', "event: expected an object, got a string"),
        (b'{"event": [1]}', "event: expected an object, got an array"),
        (pagerduty_with({"title": 42}), "event.data.title: expected a string, got a number"),
        (pagerduty_with({"status": True}), "event.data.status: expected a string, got a boolean"),
        (pagerduty_with({"service": "checkout"}),
         "event.data.service: expected an object, got a string"),
        (pagerduty_with({"assignees": {"summary": "x"}}),
         "event.data.assignees: expected an array, got an object"),
        (pagerduty_with({"id": 5}), "event.data.id: expected a string, got a number"),
    ],
)
def test_pagerduty_type_contradictions_are_422(body: bytes, message: str) -> None:
    error = refusal("pagerduty", body)
    assert error.status == 422
    assert str(error).startswith(message)


def test_pagerduty_incident_number_may_be_a_number() -> None:
    alert = parse("pagerduty", pagerduty_with({"number": 4821})).alerts[0]
    assert alert.labels["incident_number"] == "4821"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"title": "t", "service": 5}', "service: expected a string, got a number"),
        (b'{"title": ["t"], "service": "s"}', "title: expected a string, got an array"),
        (b'{"title": "t", "service": "s", "labels": {"team": {"name": "a"}}}',
         "labels.team: expected a string, number or boolean, got an object"),
        (b'{"title": "t", "service": "s", "labels": "team=a"}',
         "labels: expected an object, got a string"),
        (b'{"title": "t", "service": "s", "severity": 1}',
         "severity: expected a string, got a number"),
    ],
)
def test_generic_type_contradictions_are_422(body: bytes, message: str) -> None:
    error = refusal("generic", body)
    assert error.status == 422
    assert str(error).startswith(message)


def test_datadog_template_numbers_still_read_as_text() -> None:
    # A template may leave a variable unquoted: "alert_id": $ALERT_ID.
    body = b'{"title": "[Triggered] cpu", "alert_id": 98123457, "date": 1700000000}'
    alert = parse("datadog", body).alerts[0]
    assert alert.labels["monitor_id"] == "98123457"
