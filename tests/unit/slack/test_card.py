"""The card built for 2 AM: header, first line with source links, runbook links, approvers
kept after execution, ids and JSON in one context line at the end; the same order as text."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.models import (
    ActionRequest,
    ActionState,
    Alert,
    Approval,
    Category,
    Decision,
    DecisionOutcome,
    Incident,
    Proposal,
    RuleHit,
    RunbookRef,
    Severity,
    Triage,
    Vote,
)
from bot.redaction import Redactor
from bot.reports import render_card_text
from bot.slack.blocks import CardContext, make_clean, triage_card
from bot.slack.markup import LIMITS, link, safe_url, size

T0 = datetime(2026, 11, 24, 2, 14, tzinfo=UTC)
NOW = T0 + timedelta(minutes=23)
REDACTOR = Redactor()
CLEAN = make_clean(REDACTOR.redact)
REPO = "https://github.com/org/repo/blob/main/runbooks/"


def incident() -> Incident:
    return Incident(
        title="checkout 5xx",
        service="checkout",
        severity=Severity.SEV1,
        alert_count=3,
        created_at=T0,
        updated_at=T0,
    )


def alert(source: str = "alertmanager", url: str | None = None, **annotations: str) -> Alert:
    return Alert(
        source=source,
        fingerprint="f",
        group_key="g",
        service="checkout",
        title="Checkout 5xx ratio above 5%",
        starts_at=T0,
        received_at=T0,
        url=url,
        annotations=annotations,
    )


def triage(inc: Incident) -> Triage:
    return Triage(
        incident_id=inc.id,
        category=Category.ERROR_RATE,
        summary="5xx spike after the 02:10 deploy",
        root_cause="a bad pod",
        confidence=0.9,
        runbooks=[
            RunbookRef(
                id="deploy-5xx-spike",
                version="2.1.0",
                title="5xx error spike right after a deployment",
                path="runbooks/deploy-5xx-spike.md",
            )
        ],
        created_at=T0,
    )


def executed(inc: Incident) -> ActionRequest:
    return ActionRequest(
        incident_id=inc.id,
        proposal=Proposal(
            action="restart_deployment", service="checkout", params={"deployment": "checkout-api"}
        ),
        decision=Decision(
            outcome=DecisionOutcome.REQUIRE_APPROVAL,
            action="restart_deployment",
            service="checkout",
            approvals_required=2,
            eligible_approvers=["S0CHECKOUT"],
            reasons=[RuleHit(rule_id="svc.standard", effect="require_approval", reason="two ok")],
        ),
        state=ActionState.SUCCEEDED,
        requested_by="incident-bot",
        approvals=[
            Approval(request_id="act-1", user_id="U0ALICE001", vote=Vote.APPROVE, at=T0),
            Approval(request_id="act-1", user_id="U0CAROL001", vote=Vote.DENY, at=T0),
            Approval(request_id="act-1", user_id="U0BOB00001", vote=Vote.APPROVE, at=T0),
        ],
        result={"mode": "dry_run"},
        created_at=T0,
        updated_at=T0 + timedelta(minutes=9),
    )


def card(alerts: list[Alert], requests: list[ActionRequest] | None = None) -> list[dict[str, Any]]:
    inc = incident()
    return triage_card(
        inc, triage(inc), requests or [], alerts, CLEAN, CardContext(now=NOW, runbook_url=REPO)
    )


def text_of(block: dict[str, Any]) -> str:
    if block["type"] == "context":
        return str(block["elements"][0]["text"])
    return str(block.get("text", {}).get("text", ""))


def test_header_is_severity_service_and_alert_title() -> None:
    header = card([alert()])[0]
    assert header["type"] == "header"
    assert header["text"]["text"] == "SEV1 · checkout · Checkout 5xx ratio above 5%"


def test_header_title_is_plain_and_fitted() -> None:
    hostile = alert()
    hostile.title = "<!channel> " + "x" * 400
    header = card([hostile])[0]["text"]["text"]
    assert size(header) <= LIMITS.header_text and header.endswith("(cut)")
    assert "<!channel>" not in header


def test_first_line_says_when_how_long_how_many_and_links_every_source() -> None:
    alerts = [
        alert(url="http://am.example:9093/graph?g0.expr=rate(x)&g0.tab=1"),
        alert(
            "grafana",
            url="https://grafana.example/alerting/grafana/abc/view",
            panelURL="https://grafana.example/d/x?viewPanel=2",
            dashboardURL="https://grafana.example/d/x",
        ),
        alert("datadog", url="https://app.datadoghq.com/monitors/42"),
        alert("pagerduty", url="https://acme.pagerduty.com/incidents/PABC"),
    ]
    first = card(alerts)[1]
    assert first["block_id"] == "first"
    line = text_of(first)
    assert line.startswith("Started *02:14 UTC* (Nov 24) · 23m ago · *4 alerts*")
    assert "<http://am.example:9093/graph?g0.expr=rate(x)&amp;g0.tab=1|Alertmanager>" in line
    for label in ("Grafana alert", "Grafana panel", "Grafana dashboard", "Datadog monitor"):
        assert f"|{label}>" in line
    assert "<https://acme.pagerduty.com/incidents/PABC|PagerDuty incident>" in line


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "slack://open",
        "file:///etc/passwd",
        "/relative/path",
        "https://",
        "https://evil.example/\u202ecod.exe",
        "https://evil.example/a\nb",
        "https://" + "a" * 3000 + ".example",
    ],
)
def test_a_link_that_is_not_plain_http_is_refused(url: str) -> None:
    assert safe_url(url) is None and link(url, "x") is None
    line = text_of(card([alert(url=url)])[1])
    assert "<" not in line.replace("&lt;", "")


def test_a_hostile_url_cannot_end_the_link_or_forge_a_label() -> None:
    url = "https://ok.example/a|Approve me><!channel> b`c"
    made = link(url, "Alertmanager")
    assert made == "<https://ok.example/a%7CApprove%20me%3E%3C!channel%3E%20b%60c|Alertmanager>"
    assert link("https://ok.example/", "<!here> | *x*") == (
        "<https://ok.example/|&lt;!here&gt; \u2223 \u2217x\u2217>"
    )


def test_runbooks_link_to_their_file_in_the_repo() -> None:
    runbooks = next(b for b in card([alert()]) if b.get("block_id") == "runbooks")
    assert (
        f"<{REPO}deploy-5xx-spike.md|5xx error spike right after a deployment> (v2.1.0)"
        in text_of(runbooks)
    )
    inc = incident()
    unlinked = triage_card(inc, triage(inc), [], [alert()], CLEAN, CardContext(now=NOW))
    shown = text_of(next(b for b in unlinked if b.get("block_id") == "runbooks"))
    assert "<" not in shown and "*5xx error spike right after a deployment*" in shown


def test_order_is_first_line_evidence_runbooks_proposals_then_ids_last() -> None:
    blocks = card([alert()], [executed(incident())])
    ids = [b.get("block_id", b["type"]) for b in blocks]
    assert ids.index("first") < ids.index("evidence") < ids.index("runbooks")
    proposal = next(i for i, b in enumerate(ids) if str(b).startswith("proposal:"))
    assert ids.index("runbooks") < proposal
    last = blocks[-1]
    assert last["type"] == "context"
    tail = text_of(last)
    request = executed(incident())
    assert "restart_deployment" in tail and '{"deployment": "checkout-api"}' in tail
    assert "svc.standard" in tail and "incident `inc-" in tail
    body = json.dumps(blocks[:-1])
    assert "svc.standard" not in body and request.decision.id not in body


def test_proposal_reads_in_plain_words() -> None:
    blocks = card([alert()], [executed(incident())])
    proposal = text_of(next(b for b in blocks if str(b.get("block_id")).startswith("proposal:")))
    assert proposal.startswith(
        ":white_check_mark: *Restart deployment* on *checkout* (deployment: checkout-api)"
    )


def test_who_approved_denied_and_when_it_ran_stays_after_execution() -> None:
    blocks = card([alert()], [executed(incident())])
    proposal = text_of(next(b for b in blocks if str(b.get("block_id")).startswith("proposal:")))
    assert "Approved by <@U0ALICE001>, <@U0BOB00001>" in proposal
    assert "Denied by <@U0CAROL001>" in proposal
    assert "Ran by incident-bot at 02:23 UTC (after approval)" in proposal
    # what it did in words, never the executor's JSON
    assert "Succeeded: dry run: recorded, nothing ran" in proposal
    assert "{" not in proposal.split("Succeeded:", 1)[1].split("\n", 1)[0]


def test_text_fallback_follows_the_same_order_within_the_limit() -> None:
    inc = incident()
    alerts = [alert(url="https://am.example/graph?x=1&y=2")]
    text = render_card_text(
        inc,
        triage(inc),
        [executed(inc)],
        alerts,
        REDACTOR,
        card=CardContext(now=NOW, runbook_url=REPO),
    )
    lines = text.splitlines()
    assert lines[0] == "┃ SEV1 · checkout · Checkout 5xx ratio above 5%"
    assert lines[1].startswith("┃ started 02:14 UTC (Nov 24) · 23m ago · 3 alerts")
    assert "Alertmanager: https://am.example/graph?x=1&amp;y=2" in lines[1]
    order = [
        "What we think",
        "Evidence:",
        "Runbooks: 5xx error spike",
        "Restart deployment on checkout",
        "approved by U0ALICE001, U0BOB00001; denied by U0CAROL001",
        "ids: incident",
    ]
    at = [next(i for i, line in enumerate(lines) if key in line) for key in order]
    assert at == sorted(at)
    assert size(text) <= LIMITS.message_text
