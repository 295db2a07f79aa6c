"""A markdown post-incident review built from stored values (pure: no I/O, ``now`` passed in).

Sections: summary, impact, key times (detected, acknowledged, mitigated, resolved, with
time-to-acknowledge and time-to-mitigate), the timeline (what people said and pinned merged
with what the bot did), triage, actions with who approved them, contributing factors and
follow-ups as a checklist with owners; what only people can know is a marked placeholder.
User ids become display names when ``names`` has them (files), else stay ids.

Every stored value is untrusted text (alert titles, model output, notes people typed) and goes
through an ``Escaping`` on its own, one line and cut to a length, before it is placed in the
template. The default only keeps tables intact; the Slack edge passes Slack's rule
(``bot.slack.markup``), so no value can ping, link or format in a markdown block or a file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bot.actions.outputs import result_in_words
from bot.models import (
    OPEN_ACTION_STATES,
    ActionRequest,
    ActionState,
    Alert,
    Event,
    EventKind,
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


PERSON = re.compile(r"^[UW][A-Z0-9]{2,30}$")
# A user id written inside a message ("On-call commander U0CHKONCALL of checkout …"): Slack's
# ids carry a digit, which keeps words like WARNING out.
PERSON_IN_TEXT = re.compile(r"\b[UW](?=[A-Z]*[0-9])[A-Z0-9]{6,30}\b")
TO_FILL = "_To fill in:_"


class _Writer:
    """Puts values into the template: escaped, one line, cut visibly at a length."""

    def __init__(self, escaping: Escaping, names: Mapping[str, str] | None = None) -> None:
        self.escaping = escaping
        self.names = names or {}

    def who(self, actor: str) -> str:
        """A person by display name when known (files), else as recorded."""
        return self.cell(self.names.get(actor) or actor, 80)

    def prose(self, text: str, chars: int = 500) -> str:
        """Free text with the user ids it names replaced by display names when known."""
        named = PERSON_IN_TEXT.sub(lambda m: self.names.get(m.group(0), m.group(0)), text)
        return self.cell(named, chars)

    def cell(self, text: str, chars: int = 500) -> str:
        return self.escaping.value(_one_line(text, chars))

    def id(self, text: str) -> str:
        return f"`{self.escaping.code(_one_line(text, 120))}`"

    def action(self, request: ActionRequest) -> str:
        action, service = request.proposal.action, request.proposal.service
        return f"**{self.cell(action, 120)}** on {self.cell(service, 120)}"


def is_person(actor: str) -> bool:
    """A chat user id (a person), not a source or the bot."""
    return PERSON.match(actor) is not None


@dataclass(frozen=True)
class KeyTimes:
    """When it was detected, acknowledged, mitigated and resolved (each None if unknown)."""

    detected: datetime
    acknowledged: datetime | None
    acknowledged_how: str
    acknowledged_by: str
    mitigated: datetime | None
    mitigated_how: str
    resolved: datetime | None


def key_times(facts: PostmortemFacts) -> KeyTimes:
    """The incident's key times from what was stored; says where each one came from."""
    inc = facts.incident
    starts = [a.starts_at for a in facts.alerts if a.starts_at is not None]
    detected = min([*starts, inc.created_at])
    acknowledged: datetime | None = getattr(inc, "acknowledged_at", None)
    how = "acknowledged"
    by = getattr(inc, "acknowledged_by", None) or ""
    if acknowledged is None:
        first = next((e for e in facts.events if is_person(e.actor)), None)
        if first is not None:
            acknowledged = first.at
            how = f"derived (no acknowledgement recorded): first response, {first.kind}"
            by = first.actor
        else:
            how = "nobody responded"
    # Paging and diagnostics change nothing: mitigation is the first state-changing success.
    ran = sorted(
        r.updated_at
        for r in facts.requests
        if r.state is ActionState.SUCCEEDED and (r.plan is None or not r.plan.read_only)
    )
    mitigated = ran[0] if ran else None
    mitigated_how = "first state-changing action that succeeded" if ran else ""
    if mitigated is None and inc.resolved_at is not None:
        mitigated, mitigated_how = inc.resolved_at, "no state-changing action: the resolution"
    return KeyTimes(detected, acknowledged, how, by, mitigated, mitigated_how, inc.resolved_at)


def _since(start: datetime, end: datetime | None) -> str:
    return _duration(start, end) if end is not None else "—"


def summary_section(
    facts: PostmortemFacts,
    now: datetime,
    escaping: Escaping = PLAIN,
    names: Mapping[str, str] | None = None,
) -> list[str]:
    """Who, what, how bad and how long."""
    w = _Writer(escaping, names)
    inc = facts.incident
    end = inc.resolved_at or now
    state = "" if inc.resolved_at else ", still open at the time of writing"
    latest = facts.triages[-1] if facts.triages else None
    ran = [r for r in facts.requests if r.state is ActionState.SUCCEEDED]
    what = w.cell(latest.summary) if latest and latest.summary else "No triage summary."
    what = what if what.endswith((".", "!", "?")) else f"{what}."
    done = "; ".join(w.action(r) for r in ran) or "no automated action"
    return [
        f"# Post-incident review: {w.cell(inc.title, 200)}",
        "",
        "## Summary",
        "",
        f"{what} Remediation that ran: {done}.",
        "",
        f"- **Incident**: {w.id(inc.id)} ({inc.status.value}{state})",
        f"- **Service**: {w.cell(inc.service, 120)}",
        f"- **Severity**: {inc.severity.value} · **Category**: {inc.category.value}",
        f"- **Commander**: {w.who(inc.commander) if inc.commander else 'none recorded'}",
        f"- **Opened**: {_stamp(inc.created_at)} · **Resolved**: {_stamp(inc.resolved_at)}",
        # the same measure as the impact section: from the first alert, not from filing
        f"- **Duration**: {_duration(key_times(facts).detected, end)} · "
        f"**Alerts**: {inc.alert_count}",
        f"- **Written**: {_stamp(now)}",
    ]


def impact_section(facts: PostmortemFacts, now: datetime, escaping: Escaping = PLAIN) -> list[str]:
    """Which services, for how long, how bad; what customers saw is for people to write."""
    w = _Writer(escaping)
    inc = facts.incident
    services = sorted({inc.service, *(a.service for a in facts.alerts)})
    times = key_times(facts)
    return [
        "",
        "## Impact",
        "",
        f"- **Services**: {', '.join(w.cell(s, 120) for s in services)}",
        f"- **Duration**: {_duration(times.detected, inc.resolved_at or now)} "
        f"(detected to {'resolved' if inc.resolved_at else 'now'})",
        f"- **Severity**: {inc.severity.value}",
        f"- **Alerts**: {inc.alert_count}",
        f"- **Customer impact**: {TO_FILL} who noticed, what they saw, how many were affected.",
    ]


def key_times_section(
    facts: PostmortemFacts, escaping: Escaping = PLAIN, names: Mapping[str, str] | None = None
) -> list[str]:
    """Detected, acknowledged, mitigated, resolved; time to acknowledge and to mitigate."""
    w = _Writer(escaping, names)
    t = key_times(facts)
    ack = w.cell(t.acknowledged_how, 200) + (
        f" by {w.who(t.acknowledged_by)}" if t.acknowledged_by else ""
    )
    return [
        "",
        "## Key times",
        "",
        "| moment | time (UTC) | note |",
        "|---|---|---|",
        f"| Detected | {_stamp(t.detected)} | first alert start, else when the incident opened |",
        f"| Acknowledged | {_stamp(t.acknowledged)} | {ack} |",
        f"| Mitigated | {_stamp(t.mitigated)} | {w.cell(t.mitigated_how or 'not recorded', 200)} |",
        f"| Resolved | {_stamp(t.resolved)} | |",
        "",
        f"- **Time to acknowledge**: {_since(t.detected, t.acknowledged)}",
        f"- **Time to mitigate**: {_since(t.detected, t.mitigated)}",
    ]


# What people did, in words; everything else is the bot's or a source's own record.
HUMAN_KINDS = {
    EventKind.NOTE.value: "note",
    "incident.status_update": "status update",
    EventKind.INCIDENT_DECLARED.value: "declared",
    "incident.acknowledged": "acknowledged",
    "incident.role_assigned": "role",
    "incident.severity_changed": "severity",
    EventKind.ACTION_VOTE.value: "vote",
    EventKind.INCIDENT_RESOLVED.value: "resolved",
    EventKind.TRIAGE_FEEDBACK.value: "feedback",
}


def _what(event: Event) -> str:
    if event.kind == EventKind.NOTE and event.data.get("pinned"):
        return "pinned message"
    if is_person(event.actor):
        return HUMAN_KINDS.get(str(event.kind), str(event.kind))
    return str(event.kind)


def timeline_section(
    events: list[Event], escaping: Escaping = PLAIN, names: Mapping[str, str] | None = None
) -> list[str]:
    """People's notes, updates, pins and votes merged in time with the bot's own events."""
    w = _Writer(escaping, names)
    lines = ["", "## Timeline", ""]
    if not events:
        return [*lines, "_No events recorded._"]
    lines += ["| time (UTC) | who | what | detail |", "|---|---|---|---|"]
    for event in sorted(events, key=lambda e: (e.at, e.seq)):
        person = is_person(event.actor)
        who = f"**{w.who(event.actor)}**" if person else w.cell(event.actor, 80)
        lines.append(
            f"| {event.at.strftime('%H:%M:%S')} | {who} | {w.cell(_what(event), 80)} "
            f"| {w.prose(event.message)} |"
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
        f"{a.vote.value} by {w.who(a.user_id)} at {a.at.strftime('%H:%M:%S')}"
        for a in request.approvals
    ]
    return "; ".join(votes) or "none"


def actions_section(
    requests: list[ActionRequest],
    escaping: Escaping = PLAIN,
    names: Mapping[str, str] | None = None,
) -> list[str]:
    """Every proposed action: decision, who approved or denied it, and what happened."""
    w = _Writer(escaping, names)
    lines = ["", "## Actions and approvals", ""]
    if not requests:
        return [*lines, "_No remediation was proposed._"]
    for n, request in enumerate(requests):
        decision = request.decision
        params = (
            json.dumps(request.proposal.params, sort_keys=True) if request.proposal.params else ""
        )
        # a blank line between one action's list and the next heading
        lines += [""] if n else []
        lines += [
            f"### {w.action(request)} {w.cell(params, 300)}".rstrip(),
            f"- Request {w.id(request.id)}, requested by {w.who(request.requested_by)}: "
            f"**{request.state.value}**",
            f"- Decision {w.id(decision.id)}: {decision.outcome.value}, "
            f"{decision.approvals_required} approval(s) required "
            f"(policy {w.cell(decision.policy_revision[:12] or 'n/a')})",
            f"- Votes: {_approvals(request, w)}",
        ]
        lines += _recovery_lines(request, w)
        for hit in decision.reasons:
            lines.append(f"  - {w.id(hit.rule_id)} ({w.cell(hit.effect)}): {w.cell(hit.reason)}")
        if request.error:
            lines.append(f"- Error: {w.cell(request.error)}")
        elif request.result:
            # In words; the whole result is in the audit export (``incident-bot audit export``).
            lines.append(f"- Result: {w.cell(result_in_words(request), 300)}")
    return lines


def _recovery_lines(request: ActionRequest, w: _Writer) -> list[str]:
    """Break-glass (who, when, why), undo links and the values captured for undo."""
    lines: list[str] = []
    glass = request.break_glass
    if glass is not None:
        lines.append(
            f"- **Break glass** by {w.cell(glass.by, 80)} at {_stamp(glass.at)} on "
            f"{w.id(glass.of_request)}: {w.cell(glass.justification, 1000)}"
        )
    if request.undo_of:
        lines.append(f"- Undoes {w.id(request.undo_of)}")
    if request.captures:
        shown = ", ".join(
            w.cell(f"{c.name}: would read (dry run)" if c.simulated else f"{c.name}={c.value}", 120)
            for c in request.captures
        )
        lines.append(f"- Captured before running: {shown}")
    return lines


def factors_section(facts: PostmortemFacts, escaping: Escaping = PLAIN) -> list[str]:
    """Contributing factors: the triage's hypothesis as a starting point, the rest for people."""
    w = _Writer(escaping)
    latest = facts.triages[-1] if facts.triages else None
    hypothesis = w.cell(latest.root_cause) if latest and latest.root_cause else ""
    lines = ["", "## Contributing factors", ""]
    if hypothesis:
        lines.append(f"- Triage hypothesis (check it): {hypothesis}")
    return [
        *lines,
        f"- {TO_FILL} what made this possible (change, load, dependency, missing guard).",
        f"- {TO_FILL} what made it worse or slower to fix (detection, access, runbooks).",
        f"- {TO_FILL} what went well.",
    ]


OWNER = "owner: _to assign_"


def follow_ups(
    facts: PostmortemFacts, escaping: Escaping = PLAIN, names: Mapping[str, str] | None = None
) -> list[str]:
    """Follow-ups as a checklist with owners: derived from the record, then placeholders."""
    w = _Writer(escaping, names)
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
    owner = f"owner: {w.who(facts.incident.commander)}" if facts.incident.commander else OWNER
    checklist = [f"- [ ] {item} — {owner}" for item in items]
    checklist += [
        f"- [ ] {TO_FILL} the fix that prevents a recurrence — {OWNER}",
        f"- [ ] {TO_FILL} the fix that detects it sooner — {OWNER}",
    ]
    return ["", "## Follow-ups", "", *checklist]


def build_postmortem(
    facts: PostmortemFacts,
    now: datetime,
    escaping: Escaping = PLAIN,
    names: Mapping[str, str] | None = None,
) -> str:
    """The whole review as markdown, every stored value escaped with ``escaping``; user ids
    shown as the display names in ``names`` where it has them."""
    helpful = sum(1 for f in facts.feedback if f.helpful)
    lines = [
        *summary_section(facts, now, escaping, names),
        *impact_section(facts, now, escaping),
        *key_times_section(facts, escaping, names),
        *timeline_section(facts.events, escaping, names),
        *triage_section(facts.triages, escaping),
        *actions_section(facts.requests, escaping, names),
        *factors_section(facts, escaping),
        *follow_ups(facts, escaping, names),
        "",
        f"_Triage feedback: {helpful} helpful, {len(facts.feedback) - helpful} not helpful._",
    ]
    return "\n".join(lines) + "\n"


def people_in(facts: PostmortemFacts) -> set[str]:
    """Every chat user id the review names (to look their display names up)."""
    ids = {e.actor for e in facts.events}
    ids |= {m.group(0) for e in facts.events for m in PERSON_IN_TEXT.finditer(e.message)}
    ids |= {a.user_id for r in facts.requests for a in r.approvals}
    ids |= {r.requested_by for r in facts.requests}
    if facts.incident.commander:
        ids.add(facts.incident.commander)
    return {i for i in ids if is_person(i)}
