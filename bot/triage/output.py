"""Final shaping of a Triage: redaction of its text and the safe fallback forms."""

from __future__ import annotations

from datetime import datetime

from bot.models import Category, ExecutionStatus, Incident, Severity, Triage
from bot.redaction import Redactor

# Free text a model wrote is shown in Slack; long essays help nobody at 2 AM.
TEXT_LIMIT = 2000


def scrub(triage: Triage, redactor: Redactor) -> Triage:
    """Redact and bound every free-text field that may reach Slack, logs or a model."""
    update = {
        "summary": redactor.redact(triage.summary)[:TEXT_LIMIT],
        "root_cause": redactor.redact(triage.root_cause)[:TEXT_LIMIT],
        "reasoning": redactor.redact(triage.reasoning)[:TEXT_LIMIT],
        "errors": [redactor.redact(error)[:TEXT_LIMIT] for error in triage.errors],
        "proposals": [
            proposal.model_copy(
                update={
                    "rationale": redactor.redact(proposal.rationale)[:TEXT_LIMIT],
                    "params": redactor.redact_obj(proposal.params),
                }
            )
            for proposal in triage.proposals
        ],
    }
    return triage.model_copy(update=update)


def as_fallback(rules_triage: Triage, errors: list[str], note: str) -> Triage:
    """The rules engine's triage, marked RECOVERED_FALLBACK; a fallback proposes no action."""
    dropped = [p.action for p in rules_triage.proposals]
    extra = [note]
    if dropped:
        extra.append(f"fallback proposes no action (rules suggested: {', '.join(dropped)})")
    return rules_triage.model_copy(
        update={
            "execution_status": ExecutionStatus.RECOVERED_FALLBACK,
            "proposals": [],
            "errors": [*errors, *extra],
        }
    )


def failed(incident: Incident, errors: list[str], now: datetime) -> Triage:
    """The last resort: category unknown, notify-only, no proposals."""
    return Triage(
        incident_id=incident.id,
        category=Category.UNKNOWN,
        severity=incident.severity if incident.severity else Severity.SEV3,
        summary=f"Automatic triage failed for {incident.service}; a human must triage.",
        root_cause="",
        reasoning="Neither the language model nor the rules engine produced a triage.",
        confidence=0.0,
        proposals=[],
        execution_status=ExecutionStatus.FAILED,
        provider="none",
        model="",
        errors=errors,
        created_at=now,
    )
