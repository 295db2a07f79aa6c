"""Plain renderings of domain values for terminals and JSON output (no I/O)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.models import ActionRequest, Incident, Triage

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
