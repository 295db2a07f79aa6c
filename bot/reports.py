"""Plain renderings of domain values for terminals, JSON output and Slack's ``text`` (no I/O)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from bot.models import ActionRequest, Alert, Incident, Triage
from bot.slack.markup import LIMITS, fit, mrkdwn

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
    redacted, then escaped for mrkdwn, and the whole fits ``limit`` with a visible cut marker.
    A terminal passes ``escape=str``.
    """

    def r(text: str, chars: int = 300) -> str:
        return fit(escape(redactor.redact(text)), chars)

    lines = [
        f"┃ {incident.severity.value} · {r(incident.service, 80)} · {triage.category.value} "
        f"· confidence {triage.confidence:.2f} · {incident.id}",
        f"┃ triaged by {r(triage.provider, 80)} ({r(triage.model or 'n/a', 120)}), "
        f"{triage.execution_status.value}",
        f"┃ Summary: {r(triage.summary, 600)}",
        f"┃ Root cause: {r(triage.root_cause, 600)}",
        "┃ Evidence:",
    ]
    for alert in alerts[:CARD_ALERTS]:
        labels = ", ".join(f"{k}={v}" for k, v in list(alert.labels.items())[:CARD_LABELS])
        lines.append(f"┃   [{alert.status.value}] {r(alert.title, 200)}")
        if alert.description:
            lines.append(f"┃     {r(alert.description)}")
        lines.append(f"┃     {r(labels)}")
    cited = ", ".join(f"{ref.id}@{ref.version}" for ref in triage.runbooks) or "none"
    lines.append(f"┃ Runbooks: {r(cited)}")
    for request in requests:
        d = request.decision
        buttons = "  [ Approve ]  [ Deny ]" if request.state.value == "pending_approval" else ""
        params = json.dumps(request.proposal.params, sort_keys=True, ensure_ascii=False)
        lines.append(
            f"┃ ▸ {r(request.proposal.action, 120)} {r(params) if request.proposal.params else ''}"
            f" → {d.outcome.value} (decision {d.id}){buttons}"
        )
        for hit in d.reasons[:CARD_REASONS]:
            lines.append(f"┃     {r(hit.rule_id, 120)}: {r(hit.reason)}")
    footer = "┃ [ Helpful ]  [ Not helpful ]"
    body = fit("\n".join(lines), limit - len(footer) - 1)
    return f"{body}\n{footer}"
