"""A markdown post-incident review built from stored values (pure: no I/O, ``now`` passed in).

Every stored value is untrusted text (alert titles, model output, notes people typed): each one
goes through ``markdown`` (one line, ``& < >`` as entities, markdown punctuation escaped) so it
cannot ping, link, format or break a table, in a Slack markdown block or an uploaded ``.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from bot.models import (
    ActionRequest,
    ActionState,
    Alert,
    Event,
    Feedback,
    Incident,
    Triage,
)
from bot.slack.markup import code, fit, markdown

OPEN_STATES = frozenset({ActionState.PROPOSED, ActionState.PENDING_APPROVAL, ActionState.APPROVED})


@dataclass
class PostmortemFacts:
    """Everything stored about one incident that the review draws on."""

    incident: Incident
    events: list[Event] = field(default_factory=list)
    triages: list[Triage] = field(default_factory=list)
    requests: list[ActionRequest] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    feedback: list[Feedback] = field(default_factory=list)


def _stamp(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC") if at else "—"


def _duration(start: datetime, end: datetime) -> str:
    minutes = max(0, int((end - start).total_seconds() // 60))
    return f"{minutes // 60}h {minutes % 60:02d}m"


def _cell(text: str, chars: int = 500) -> str:
    """An untrusted value: one line, escaped, at most ``chars`` long before escaping."""
    return markdown(fit(" ".join(text.split()), chars))


def _id(text: str) -> str:
    """An id we generated, in a code span (escaped all the same)."""
    return f"`{code(text)}`"


def summary_section(facts: PostmortemFacts, now: datetime) -> list[str]:
    """Who, what, how bad and how long."""
    inc = facts.incident
    end = inc.resolved_at or now
    state = "resolved" if inc.resolved_at else "still open at the time of writing"
    return [
        f"# Post-incident review: {_cell(inc.title, 200)}",
        "",
        f"- **Incident**: {_id(inc.id)} ({inc.status.value}, {state})",
        f"- **Service**: {_cell(inc.service, 120)}",
        f"- **Severity**: {inc.severity.value} · **Category**: {inc.category.value}",
        f"- **Commander**: {_cell(inc.commander or 'none recorded', 80)}",
        f"- **Opened**: {_stamp(inc.created_at)} · **Resolved**: {_stamp(inc.resolved_at)}",
        f"- **Duration**: {_duration(inc.created_at, end)} · **Alerts**: {inc.alert_count}",
        f"- **Written**: {_stamp(now)}",
    ]


def timeline_section(events: list[Event]) -> list[str]:
    """Every timeline entry in order."""
    lines = ["", "## Timeline", ""]
    if not events:
        return [*lines, "_No events recorded._"]
    lines += ["| time (UTC) | actor | what | detail |", "|---|---|---|---|"]
    for event in events:
        lines.append(
            f"| {event.at.strftime('%H:%M:%S')} | {_cell(event.actor, 80)} | {_cell(event.kind)} "
            f"| {_cell(event.message)} |"
        )
    return lines


def triage_section(triages: list[Triage]) -> list[str]:
    """The latest triage in full, earlier ones counted."""
    lines = ["", "## Triage", ""]
    if not triages:
        return [*lines, "_The incident was never triaged._"]
    latest = triages[-1]
    cited = ", ".join(_id(f"{r.id}@{r.version}") for r in latest.runbooks) or "none"
    lines += [
        f"- **Category**: {latest.category.value} · **Severity**: {latest.severity.value} "
        f"· **Confidence**: {latest.confidence:.2f}",
        f"- **Produced by**: {_cell(latest.provider, 80)} ({_cell(latest.model or 'n/a', 120)}), "
        f"{latest.execution_status.value}, prompt {_cell(latest.prompt_version or 'n/a', 80)}",
        f"- **Summary**: {_cell(latest.summary) or '—'}",
        f"- **Root-cause hypothesis**: {_cell(latest.root_cause) or '—'}",
        f"- **Runbooks cited**: {cited}",
    ]
    if len(triages) > 1:
        lines.append(f"- Earlier triages: {len(triages) - 1}")
    return lines


def _approvals(request: ActionRequest) -> str:
    votes = [
        f"{a.vote.value} by {_cell(a.user_id, 80)} at {a.at.strftime('%H:%M:%S')}"
        for a in request.approvals
    ]
    return "; ".join(votes) or "none"


def _action(request: ActionRequest) -> str:
    """An action and its target as escaped text (the action name came from the model)."""
    return f"**{_cell(request.proposal.action, 120)}** on {_cell(request.proposal.service, 120)}"


def actions_section(requests: list[ActionRequest]) -> list[str]:
    """Every proposed action: decision, approvals, and what happened."""
    lines = ["", "## Actions and approvals", ""]
    if not requests:
        return [*lines, "_No remediation was proposed._"]
    for request in requests:
        decision = request.decision
        params = (
            json.dumps(request.proposal.params, sort_keys=True) if request.proposal.params else ""
        )
        lines += [
            f"### {_action(request)} {_cell(params, 300)}".rstrip(),
            f"- Request {_id(request.id)}, requested by {_cell(request.requested_by, 80)}: "
            f"**{request.state.value}**",
            f"- Decision {_id(decision.id)}: {decision.outcome.value}, "
            f"{decision.approvals_required} approval(s) required "
            f"(policy {_cell(decision.policy_revision[:12] or 'n/a')})",
            f"- Votes: {_approvals(request)}",
        ]
        for hit in decision.reasons:
            lines.append(f"  - {_id(hit.rule_id)} ({_cell(hit.effect)}): {_cell(hit.reason)}")
        if request.error:
            lines.append(f"- Error: {_cell(request.error)}")
        elif request.result:
            lines.append(f"- Result: {_cell(json.dumps(request.result, sort_keys=True), 300)}")
    return lines


def follow_ups(facts: PostmortemFacts) -> list[str]:
    """Open questions the review should settle, derived from what was recorded."""
    items: list[str] = []
    for request in facts.requests:
        if request.state is ActionState.FAILED:
            items.append(f"Find out why {_action(request)} failed ({_id(request.id)}).")
        elif request.state is ActionState.EXPIRED:
            items.append(
                f"{_action(request)} expired unapproved ({_id(request.id)}): "
                "was it needed, and were approvers reachable?"
            )
        elif request.state in OPEN_STATES:
            items.append(f"Close out open request {_id(request.id)} ({request.state.value}).")
    unhelpful = [f for f in facts.feedback if not f.helpful]
    if unhelpful:
        items.append(
            f"Triage was marked not helpful {len(unhelpful)} time(s): review the prompt, "
            "rules and runbooks it cited."
        )
    if facts.triages and not facts.triages[-1].runbooks:
        items.append("No runbook matched: write or tag one for this failure mode.")
    if facts.incident.resolved_at is None:
        resolve = code(f"/incident resolve {facts.incident.id}")
        items.append(f"Resolve the incident (`{resolve}`) once it is over.")
    items.append("Add the contributing factors and the fixes that prevent a recurrence.")
    return ["", "## Follow-ups", "", *[f"- [ ] {item}" for item in items]]


def build_postmortem(facts: PostmortemFacts, now: datetime) -> str:
    """The whole review as markdown."""
    helpful = sum(1 for f in facts.feedback if f.helpful)
    lines = [
        *summary_section(facts, now),
        *timeline_section(facts.events),
        *triage_section(facts.triages),
        *actions_section(facts.requests),
        *follow_ups(facts),
        "",
        f"_Triage feedback: {helpful} helpful, {len(facts.feedback) - helpful} not helpful._",
    ]
    return "\n".join(lines) + "\n"
