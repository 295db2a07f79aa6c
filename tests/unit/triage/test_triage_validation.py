"""Invariant 1: model output is untrusted data, parsed against the schema, never trusted."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import PROJECT_ROOT
from bot.models import Alert, Category, ExecutionStatus, Incident, RunbookChunk
from bot.triage.context import TriageContext
from bot.triage.prompts import PromptSet
from bot.triage.validation import check_reply, parse_reply

NOW = datetime(2026, 11, 24, tzinfo=UTC)
PROMPTS = PromptSet.load(PROJECT_ROOT / "prompts")
ALLOWED = ["notify_oncall", "collect_diagnostics", "rollback_deployment"]
INCIDENT = Incident(title="t", service="checkout", created_at=NOW, updated_at=NOW)
ALERT = Alert(
    source="generic", fingerprint="f", group_key="g", service="payments", title="t", received_at=NOW
)
CHUNK = RunbookChunk(chunk_id="rb#1", runbook_id="rb", version="2", title="Runbook", text="x")
CTX = TriageContext(INCIDENT, [ALERT], [CHUNK], ALLOWED, NOW)
SCHEMA = PROMPTS.reply_schema(ALLOWED, CTX.allowed_services)


def reply(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "category": "latency",
        "severity": "SEV2",
        "summary": "slow",
        "root_cause": "db",
        "reasoning": "p99 up",
        "confidence": 0.5,
        "runbook_ids": [],
        "proposals": [],
    }
    body.update(overrides)
    return body


def proposal(action: str = "collect_diagnostics", service: str = "checkout", **extra: Any) -> Any:
    return {"action": action, "service": service, "params": [], "rationale": "r", **extra}


def check(body: Any) -> Any:
    return check_reply(json.dumps(body), SCHEMA, CTX)


def test_invariant_1_valid_reply_becomes_a_completed_triage() -> None:
    verdict = check(reply(proposals=[proposal()], runbook_ids=["rb#1"]))
    assert verdict.ok and verdict.triage is not None
    assert verdict.triage.execution_status is ExecutionStatus.COMPLETED
    assert [r.id for r in verdict.triage.runbooks] == ["rb"]
    assert verdict.triage.created_at == NOW and verdict.triage.incident_id == INCIDENT.id


def test_invariant_1_missing_optional_keys_default_to_the_safe_state() -> None:
    verdict = check({"category": "error_rate", "severity": "SEV1", "summary": "5xx"})
    assert verdict.triage is not None
    assert verdict.triage.proposals == [] and verdict.triage.confidence == 0.0
    assert check({"category": "error_rate", "severity": "SEV1"}).errors


def test_invariant_1_actions_outside_the_allowlist_are_rejected() -> None:
    verdict = check(reply(proposals=[proposal("failover_region")]))
    assert not verdict.ok and "failover_region" in verdict.errors[0]


def test_invariant_1_other_services_are_rejected_unless_allowed() -> None:
    assert not check(reply(proposals=[proposal(service="payments")])).ok
    # Look-alike names are different strings: Cyrillic "с" is not the Latin "c".
    assert not check(reply(proposals=[proposal(service="\u0441heckout")])).ok
    cross = TriageContext(INCIDENT, [ALERT], [], ALLOWED, NOW, allow_cross_service=True)
    schema = PROMPTS.reply_schema(ALLOWED, cross.allowed_services)
    body = json.dumps(reply(proposals=[proposal(service="payments")]))
    assert check_reply(body, schema, cross).ok


def test_invariant_1_extra_fields_and_wrong_types_are_rejected() -> None:
    assert not check(reply(extra="x")).ok
    assert not check(reply(proposals=[proposal(extra="x")])).ok
    assert not check(reply(confidence=1.5)).ok
    assert not check(reply(confidence=True)).ok
    assert not check(reply(summary=3)).ok


def test_invariant_1_non_json_and_non_finite_numbers_are_rejected() -> None:
    assert not check_reply("Sure, here you go", SCHEMA, CTX).ok
    assert not check_reply('{"confidence": NaN}', SCHEMA, CTX).ok
    assert not check_reply("[" * 100_000, SCHEMA, CTX).ok
    assert parse_reply('```json\n{"a": 1}\n```') == ({"a": 1}, None)


def test_duplicate_param_names_are_rejected() -> None:
    pairs = [{"name": "deployment", "value": "a"}, {"name": "deployment", "value": "b"}]
    assert not check(reply(proposals=[proposal(params=pairs)])).ok


def test_cited_runbooks_not_in_context_are_dropped_and_noted() -> None:
    verdict = check(reply(runbook_ids=["rb#1", "made-up"]))
    assert verdict.triage is not None
    assert [r.id for r in verdict.triage.runbooks] == ["rb"]
    assert any("made-up" in note for note in verdict.triage.errors)


def test_security_and_unknown_keep_only_notifications() -> None:
    body = reply(category="security", proposals=[proposal(), proposal("notify_oncall")])
    verdict = check(body)
    assert verdict.triage is not None and verdict.triage.category is Category.SECURITY
    assert [p.action for p in verdict.triage.proposals] == ["notify_oncall"]


def test_no_allowed_actions_means_no_proposals() -> None:
    schema = PROMPTS.reply_schema([], ["checkout"])
    assert not check_reply(json.dumps(reply(proposals=[proposal()])), schema, CTX).ok
    assert check_reply(json.dumps(reply()), schema, CTX).ok


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
actions = st.sampled_from([*ALLOWED, "failover_region", "drop_database", "", "NOTIFY_ONCALL"])
shaped_proposals = st.fixed_dictionaries(
    {"action": actions, "service": st.sampled_from(["checkout", "payments", "", "ch\u0435ckout"])},
    optional={
        "params": st.lists(
            st.fixed_dictionaries({"name": st.text(max_size=5), "value": json_values}), max_size=3
        ),
        "rationale": json_values,
        "extra": json_values,
    },
)
shaped_replies = st.fixed_dictionaries(
    {
        "category": st.sampled_from([c.value for c in Category] + ["network", ""]),
        "severity": st.sampled_from(["SEV0", "SEV1", "SEV2", "SEV3", "SEV9"]),
    },
    optional={
        "summary": json_values,
        "confidence": json_values,
        "runbook_ids": st.lists(st.sampled_from(["rb#1", "rb", "ghost"]), max_size=3),
        "proposals": st.lists(shaped_proposals, max_size=4) | json_values,
    },
)
model_output = st.one_of(
    st.text(max_size=200),
    json_values.map(json.dumps),
    shaped_replies.map(json.dumps),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model_output)
def test_invariant_1_property_any_output_validates_and_stays_in_the_allowlist(raw: str) -> None:
    verdict = check_reply(raw, SCHEMA, CTX)
    if verdict.triage is None:
        assert verdict.errors
        return
    triage = verdict.triage
    assert triage.execution_status is ExecutionStatus.COMPLETED
    assert all(p.action in ALLOWED for p in triage.proposals)
    assert all(p.service == "checkout" for p in triage.proposals)
    assert 0.0 <= triage.confidence <= 1.0
    type(triage).model_validate(triage.model_dump())
