"""Plain renderings of domain values for terminals and JSON output (no I/O)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from bot.models import ActionRequest, Alert, Incident, Triage

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


def render_card_text(
    incident: Incident,
    triage: Triage,
    requests: list[ActionRequest],
    alerts: list[Alert],
    redactor: _Redacts,
) -> str:
    """The triage card as plain text: evidence first, then proposals and their decisions."""
    r = redactor.redact
    lines = [
        f"┃ {incident.severity.value} · {incident.service} · {triage.category.value} "
        f"· confidence {triage.confidence:.2f} · {incident.id}",
        f"┃ triaged by {triage.provider} ({triage.model or 'n/a'}), "
        f"{triage.execution_status.value}",
        f"┃ Summary: {r(triage.summary)}",
        f"┃ Root cause: {r(triage.root_cause)}",
        "┃ Evidence:",
    ]
    for alert in alerts[:3]:
        labels = ", ".join(f"{k}={v}" for k, v in list(alert.labels.items())[:6])
        lines.append(f"┃   [{alert.status.value}] {r(alert.title)}")
        if alert.description:
            lines.append(f"┃     {r(alert.description)[:300]}")
        lines.append(f"┃     {r(labels)}")
    cited = ", ".join(f"{ref.id}@{ref.version}" for ref in triage.runbooks) or "none"
    lines.append(f"┃ Runbooks: {cited}")
    for request in requests:
        d = request.decision
        buttons = "  [ Approve ]  [ Deny ]" if request.state.value == "pending_approval" else ""
        lines.append(
            f"┃ ▸ {request.proposal.action} {request.proposal.params or ''} → "
            f"{d.outcome.value} (decision {d.id}){buttons}"
        )
        for hit in d.reasons:
            lines.append(f"┃     {hit.rule_id}: {r(hit.reason)}")
    lines.append("┃ [ Helpful ]  [ Not helpful ]")
    return "\n".join(lines)
