"""Plain renderings of domain values for terminals, JSON output and Slack's ``text`` (no I/O)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any, Protocol

from bot.models import ActionRequest, Alert, Incident, Triage
from bot.slack.markup import LIMITS, fit, mrkdwn, size

if TYPE_CHECKING:
    from bot.pipeline import TriageResult


def incident_summary(incident: Incident) -> str:
    """One line per incident: id, status, severity, service, category, count, title."""
    return (
        f"{incident.id}  {incident.status.value:<8} {incident.severity.value}  "
        f"{incident.service:<20} {incident.category.value:<19} x{incident.alert_count:<5} "
        f"{incident.title}"
    )


def triage_json(triage: Triage) -> dict[str, Any]:
    """The triage fields the CLI prints."""
    return {
        "id": triage.id,
        "category": triage.category.value,
        "severity": triage.severity.value,
        "summary": triage.summary,
        "root_cause": triage.root_cause,
        "confidence": triage.confidence,
        "execution_status": triage.execution_status.value,
        "provider": triage.provider,
        "model": triage.model,
        "prompt_version": triage.prompt_version,
        "runbooks": [r.model_dump(mode="json") for r in triage.runbooks],
        "usage": triage.usage.model_dump(mode="json"),
        "errors": triage.errors,
    }


def proposal_json(request: ActionRequest) -> dict[str, Any]:
    """A proposal with the policy decision that judged it."""
    decision = request.decision
    return {
        "request_id": request.id,
        "action": request.proposal.action,
        "service": request.proposal.service,
        "params": request.proposal.params,
        "rationale": request.proposal.rationale,
        "state": request.state.value,
        "decision": {
            "id": decision.id,
            "outcome": decision.outcome.value,
            "approvals_required": decision.approvals_required,
            "eligible_approvers": decision.eligible_approvers,
            "reasons": [r.model_dump(mode="json") for r in decision.reasons],
            "policy_revision": decision.policy_revision,
        },
    }


def triage_report(result: TriageResult) -> dict[str, Any]:
    """The JSON object ``incident-bot triage`` prints for one input."""
    return {
        "incident": result.incident.model_dump(mode="json"),
        "triage": triage_json(result.triage),
        "proposals": [proposal_json(r) for r in result.requests],
    }


class _Redacts(Protocol):
    def redact(self, text: str) -> str: ...


CARD_ALERTS = 3
CARD_LABELS = 6
CARD_REASONS = 8


def _card_lines(
    incident: Incident,
    triage: Triage,
    requests: list[ActionRequest],
    alerts: list[Alert],
    clean: Callable[[str, int], str],
) -> Iterator[str]:
    yield (
        f"┃ {incident.severity.value} · {clean(incident.service, 80)} · {triage.category.value} "
        f"· confidence {triage.confidence:.2f} · {incident.id}"
    )
    yield (
        f"┃ triaged by {clean(triage.provider, 80)} ({clean(triage.model or 'n/a', 120)}), "
        f"{triage.execution_status.value}"
    )
    yield f"┃ Summary: {clean(triage.summary, 600)}"
    yield f"┃ Root cause: {clean(triage.root_cause, 600)}"
    yield "┃ Evidence:"
    for alert in alerts[:CARD_ALERTS]:
        labels = ", ".join(f"{k}={v}" for k, v in islice(alert.labels.items(), CARD_LABELS))
        yield f"┃   [{alert.status.value}] {clean(alert.title, 200)}"
        if alert.description:
            yield f"┃     {clean(alert.description, 300)}"
        yield f"┃     {clean(labels, 300)}"
    cited = ", ".join(f"{ref.id}@{ref.version}" for ref in triage.runbooks) or "none"
    yield f"┃ Runbooks: {clean(cited, 300)}"
    for request in requests:
        d = request.decision
        buttons = "  [ Approve ]  [ Deny ]" if request.state.value == "pending_approval" else ""
        params = json.dumps(request.proposal.params, sort_keys=True, ensure_ascii=False)
        shown = clean(params, 300) if request.proposal.params else ""
        yield (
            f"┃ ▸ {clean(request.proposal.action, 120)} {shown} → {d.outcome.value} "
            f"(decision {d.id}){buttons}"
        )
        if request.plan is not None:
            plan = request.plan
            yield f"┃     plan: {clean(plan.summary, 200)}: {clean(plan.shown(), 600)}"
        for hit in d.reasons[:CARD_REASONS]:
            yield f"┃     {clean(hit.rule_id, 120)}: {clean(hit.reason, 300)}"


def render_card_text(
    incident: Incident,
    triage: Triage,
    requests: list[ActionRequest],
    alerts: list[Alert],
    redactor: _Redacts,
    escape: Callable[[str], str] = mrkdwn,
    limit: int = LIMITS.message_text,
) -> str:
    """The triage card as text: evidence first, then proposals and their decisions.

    It is the ``text`` of the Slack card (notifications, screen readers), so every value is
    redacted, then escaped for mrkdwn, and the whole fits ``limit`` with a visible cut marker
    (lines past the limit are not rendered at all). A terminal passes ``escape=str``.
    """

    def clean(text: str, chars: int) -> str:
        return fit(escape(redactor.redact(text)), chars)

    footer = "┃ [ Helpful ]  [ Not helpful ]"
    budget = limit - len(footer) - 1
    lines: list[str] = []
    used = 0
    for line in _card_lines(incident, triage, requests, alerts, clean):
        lines.append(line)
        used += size(line) + 1
        if used > budget:
            break
    body = "\n".join(lines)
    return f"{fit(body, budget)}\n{footer}"
