"""Plain renderings of domain values for terminals, JSON output and Slack's ``text`` (no I/O)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any, Protocol

from bot.actions.outputs import result_in_words
from bot.models import ActionRequest, ActionState, Alert, Incident, RunbookRef, Triage, Vote
from bot.slack.blocks import CardContext, ago, alerts_fired, source_urls, started_at
from bot.slack.markup import LIMITS, fit, mention, mrkdwn, safe_url, size

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


def _links(alerts: list[Alert], escape: Callable[[str], str]) -> list[str]:
    return [f"{label}: {escape(url)}" for label, url in source_urls(alerts)]


def _first_line(
    incident: Incident, alerts: list[Alert], card: CardContext, escape: Callable[[str], str]
) -> str:
    start = started_at(incident, alerts)
    end = incident.resolved_at or card.now
    parts = [f"started {start:%H:%M} UTC ({start:%b} {start.day})"]
    if end is not None:
        parts.append(f"{ago(start, end)} {'long' if incident.resolved_at else 'ago'}")
    count = alerts_fired(incident, alerts)
    parts.append(f"{count} alert{'s' if count != 1 else ''}")
    return " · ".join([*parts, *_links(alerts, escape)])


def _runbook(ref: RunbookRef, base_url: str, escape: Callable[[str], str]) -> str:
    relative = ref.path.split("/", 1)[1] if "/" in ref.path else ref.path or f"{ref.id}.md"
    safe = safe_url(base_url + relative) if base_url else None
    return f"{ref.title or ref.id} (v{ref.version})" + (f" {escape(safe)}" if safe else "")


def _votes(request: ActionRequest) -> str:
    approved = request.approvers
    denied = list(dict.fromkeys(a.user_id for a in request.approvals if a.vote is Vote.DENY))
    parts = [f"approved by {', '.join(approved)}"] if approved else []
    parts += [f"denied by {', '.join(denied)}"] if denied else []
    if request.state in (ActionState.SUCCEEDED, ActionState.FAILED):
        parts.append(f"ran {request.updated_at:%H:%M} UTC: {request.state.value}")
    return "; ".join(parts)


def _card_lines(
    incident: Incident,
    triage: Triage,
    requests: list[ActionRequest],
    alerts: list[Alert],
    clean: Callable[[str, int], str],
    card: CardContext,
    escape: Callable[[str], str],
) -> Iterator[str]:
    title = alerts[0].title if alerts else incident.title
    yield f"┃ {incident.severity.value} · {clean(incident.service, 80)} · {clean(title, 150)}"
    yield f"┃ {_first_line(incident, alerts, card, escape)}"
    yield f"┃ What we think: {clean(triage.summary, 600)}"
    yield f"┃ Likely cause: {clean(triage.root_cause, 600)}"
    if incident.correction is not None:
        fixed = incident.correction
        severity = f" ({fixed.severity.value})" if fixed.severity is not None else ""
        who = mention(fixed.by) if escape is mrkdwn else fixed.by
        reason = f": {clean(fixed.reason, 300)}" if fixed.reason else ""
        yield f"┃ Corrected to {fixed.category.value}{severity} by {who}{reason}"
    yield "┃ Evidence:"
    for alert in alerts[:CARD_ALERTS]:
        labels = ", ".join(f"{k}={v}" for k, v in islice(alert.labels.items(), CARD_LABELS))
        yield f"┃   [{alert.status.value}] {clean(alert.title, 200)}"
        if alert.description:
            yield f"┃     {clean(alert.description, 300)}"
        yield f"┃     {clean(labels, 300)}"
    cited = ", ".join(_runbook(ref, card.runbook_url, escape) for ref in triage.runbooks)
    yield f"┃ Runbooks: {clean(cited or 'none matched', 300)}"
    for request in requests:
        d = request.decision
        buttons = "  [ Approve ]  [ Deny ]" if request.state.value == "pending_approval" else ""
        action = request.proposal.action.replace("_", " ").capitalize()
        params = ", ".join(f"{k}: {v}" for k, v in sorted(request.proposal.params.items()))
        shown = f" ({clean(params, 300)})" if params else ""
        yield (
            f"┃ ▸ {clean(action, 120)} on {clean(request.proposal.service, 120)}{shown} "
            f"→ {d.outcome.value}, {request.state.value}{buttons}"
        )
        if request.state in (ActionState.SUCCEEDED, ActionState.FAILED):
            yield f"┃     {clean(result_in_words(request), 300)}"
        votes = _votes(request)
        if votes:
            yield f"┃     {clean(votes, 400)}"
        if request.plan is not None:
            plan = request.plan
            yield f"┃     plan: {clean(plan.summary, 200)}: {clean(plan.shown(), 600)}"
        for hit in d.reasons[:CARD_REASONS]:
            yield f"┃     {clean(hit.reason, 300)}"
    ids = [f"incident {incident.id}", f"triage {triage.id} ({triage.provider})"]
    ids += [f"{r.id} {r.proposal.action} decision {r.decision.id}" for r in requests]
    yield f"┃ ids: {clean(' · '.join(ids), 600)}"


def render_card_text(
    incident: Incident,
    triage: Triage,
    requests: list[ActionRequest],
    alerts: list[Alert],
    redactor: _Redacts,
    escape: Callable[[str], str] = mrkdwn,
    limit: int = LIMITS.message_text,
    card: CardContext | None = None,
) -> str:
    """The triage card as text, in the card's order: what and since when, what we think,
    evidence, runbooks, proposals with who approved, ids last.

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
    lines_of = _card_lines(incident, triage, requests, alerts, clean, card or CardContext(), escape)
    for line in lines_of:
        lines.append(line)
        used += size(line) + 1
        if used > budget:
            break
    body = "\n".join(lines)
    return f"{fit(body, budget)}\n{footer}"
