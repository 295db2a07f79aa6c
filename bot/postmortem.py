"""A markdown post-incident review built from stored values (pure: no I/O, ``now`` passed in).

Every stored value is untrusted text (alert titles, model output, notes people typed) and goes
through an ``Escaping`` on its own, one line and cut to a length, before it is placed in the
template. The default only keeps tables intact; the Slack edge passes Slack's rule
(``bot.slack.markup``), so no value can ping, link or format in a markdown block or a file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from bot.models import (
    OPEN_ACTION_STATES,
    ActionRequest,
    ActionState,
    Alert,
    Event,
    Feedback,
    Incident,
    Triage,
)


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


def _table_safe(text: str) -> str:
    return text.replace("|", "\\|")


def _no_backticks(text: str) -> str:
    return text.replace("`", "'")


@dataclass(frozen=True)
class Escaping:
    """How one value is escaped: as text in the review, and inside a code span."""

    value: Callable[[str], str] = _table_safe
    code: Callable[[str], str] = _no_backticks


PLAIN = Escaping()


def _one_line(text: str, chars: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= chars else flat[: chars - 7].rstrip() + "… (cut)"


class _Writer:
    """Puts values into the template: escaped, one line, cut visibly at a length."""

    def __init__(self, escaping: Escaping) -> None:
        self.escaping = escaping

    def cell(self, text: str, chars: int = 500) -> str:
        return self.escaping.value(_one_line(text, chars))

    def id(self, text: str) -> str:
        return f"`{self.escaping.code(_one_line(text, 120))}`"

    def action(self, request: ActionRequest) -> str:
        action, service = request.proposal.action, request.proposal.service
        return f"**{self.cell(action, 120)}** on {self.cell(service, 120)}"


def summary_section(facts: PostmortemFacts, now: datetime, escaping: Escaping = PLAIN) -> list[str]:
    """Who, what, how bad and how long."""
    w = _Writer(escaping)
    inc = facts.incident
    end = inc.resolved_at or now
    state = "resolved" if inc.resolved_at else "still open at the time of writing"
    return [
        f"# Post-incident review: {w.cell(inc.title, 200)}",
        "",
        f"- **Incident**: {w.id(inc.id)} ({inc.status.value}, {state})",
        f"- **Service**: {w.cell(inc.service, 120)}",
        f"- **Severity**: {inc.severity.value} · **Category**: {inc.category.value}",
        f"- **Commander**: {w.cell(inc.commander or 'none recorded', 80)}",
        f"- **Opened**: {_stamp(inc.created_at)} · **Resolved**: {_stamp(inc.resolved_at)}",
        f"- **Duration**: {_duration(inc.created_at, end)} · **Alerts**: {inc.alert_count}",
        f"- **Written**: {_stamp(now)}",
    ]


def timeline_section(events: list[Event], escaping: Escaping = PLAIN) -> list[str]:
    """Every timeline entry in order."""
    w = _Writer(escaping)
    lines = ["", "## Timeline", ""]
    if not events:
        return [*lines, "_No events recorded._"]
    lines += ["| time (UTC) | actor | what | detail |", "|---|---|---|---|"]
    for event in events:
        lines.append(
            f"| {event.at.strftime('%H:%M:%S')} | {w.cell(event.actor, 80)} | {w.cell(event.kind)} "
            f"| {w.cell(event.message)} |"
        )
    return lines


def triage_section(triages: list[Triage], escaping: Escaping = PLAIN) -> list[str]:
    """The latest triage in full, earlier ones counted."""
    w = _Writer(escaping)
    lines = ["", "## Triage", ""]
    if not triages:
        return [*lines, "_The incident was never triaged._"]
    latest = triages[-1]
    cited = ", ".join(w.id(f"{r.id}@{r.version}") for r in latest.runbooks) or "none"
    lines += [
        f"- **Category**: {latest.category.value} · **Severity**: {latest.severity.value} "
        f"· **Confidence**: {latest.confidence:.2f}",
        f"- **Produced by**: {w.cell(latest.provider, 80)} ({w.cell(latest.model or 'n/a', 120)}), "
        f"{latest.execution_status.value}, prompt {w.cell(latest.prompt_version or 'n/a', 80)}",
        f"- **Summary**: {w.cell(latest.summary) or '—'}",
        f"- **Root-cause hypothesis**: {w.cell(latest.root_cause) or '—'}",
        f"- **Runbooks cited**: {cited}",
    ]
    if len(triages) > 1:
        lines.append(f"- Earlier triages: {len(triages) - 1}")
    return lines


def _approvals(request: ActionRequest, w: _Writer) -> str:
    votes = [
        f"{a.vote.value} by {w.cell(a.user_id, 80)} at {a.at.strftime('%H:%M:%S')}"
        for a in request.approvals
    ]
    return "; ".join(votes) or "none"


def actions_section(requests: list[ActionRequest], escaping: Escaping = PLAIN) -> list[str]:
    """Every proposed action: decision, approvals, and what happened."""
    w = _Writer(escaping)
    lines = ["", "## Actions and approvals", ""]
    if not requests:
        return [*lines, "_No remediation was proposed._"]
    for request in requests:
        decision = request.decision
        params = (
            json.dumps(request.proposal.params, sort_keys=True) if request.proposal.params else ""
        )
        lines += [
            f"### {w.action(request)} {w.cell(params, 300)}".rstrip(),
            f"- Request {w.id(request.id)}, requested by {w.cell(request.requested_by, 80)}: "
            f"**{request.state.value}**",
            f"- Decision {w.id(decision.id)}: {decision.outcome.value}, "
            f"{decision.approvals_required} approval(s) required "
            f"(policy {w.cell(decision.policy_revision[:12] or 'n/a')})",
            f"- Votes: {_approvals(request, w)}",
        ]
        for hit in decision.reasons:
            lines.append(f"  - {w.id(hit.rule_id)} ({w.cell(hit.effect)}): {w.cell(hit.reason)}")
        if request.error:
            lines.append(f"- Error: {w.cell(request.error)}")
        elif request.result:
            lines.append(f"- Result: {w.cell(json.dumps(request.result, sort_keys=True), 300)}")
    return lines


def follow_ups(facts: PostmortemFacts, escaping: Escaping = PLAIN) -> list[str]:
    """Open questions the review should settle, derived from what was recorded."""
    w = _Writer(escaping)
    items: list[str] = []
    for request in facts.requests:
        if request.state is ActionState.FAILED:
            items.append(f"Find out why {w.action(request)} failed ({w.id(request.id)}).")
        elif request.state is ActionState.EXPIRED:
            items.append(
                f"{w.action(request)} expired unapproved ({w.id(request.id)}): "
                "was it needed, and were approvers reachable?"
            )
        elif request.state in OPEN_ACTION_STATES:
            items.append(f"Close out open request {w.id(request.id)} ({request.state.value}).")
    unhelpful = [f for f in facts.feedback if not f.helpful]
    if unhelpful:
        items.append(
            f"Triage was marked not helpful {len(unhelpful)} time(s): review the prompt, "
            "rules and runbooks it cited."
        )
    if facts.triages and not facts.triages[-1].runbooks:
        items.append("No runbook matched: write or tag one for this failure mode.")
    if facts.incident.resolved_at is None:
        resolve = w.id(f"/incident resolve {facts.incident.id}")
        items.append(f"Resolve the incident ({resolve}) once it is over.")
    items.append("Add the contributing factors and the fixes that prevent a recurrence.")
    return ["", "## Follow-ups", "", *[f"- [ ] {item}" for item in items]]


def build_postmortem(facts: PostmortemFacts, now: datetime, escaping: Escaping = PLAIN) -> str:
    """The whole review as markdown, every stored value escaped with ``escaping``."""
    helpful = sum(1 for f in facts.feedback if f.helpful)
    lines = [
        *summary_section(facts, now, escaping),
        *timeline_section(facts.events, escaping),
        *triage_section(facts.triages, escaping),
        *actions_section(facts.requests, escaping),
        *follow_ups(facts, escaping),
        "",
        f"_Triage feedback: {helpful} helpful, {len(facts.feedback) - helpful} not helpful._",
    ]
    return "\n".join(lines) + "\n"
