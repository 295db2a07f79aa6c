"""Block Kit builders for the triage card: pure functions from domain values to blocks.

Evidence comes first, then proposals, each with the exact plan it would run; buttons only
where a decision awaits approval. A button's value is an id: an ActionRequest id (or a triage id
for feedback), and on Approve / Deny the id plus the prefix of the plan hash the card shows,
``"<request id>:<hash prefix>"`` (safety invariant 8), so a vote names the plan it was cast on.
Approve on an action that changes state opens Slack's confirmation dialog showing the plan.
Every untrusted string passes through a ``Clean`` (redact, then escape with
``bot.slack.markup``) before it is placed in mrkdwn, and every text is fitted to Slack's limits
with a visible cut marker.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.actions.outputs import result_in_words
from bot.actions.plans import card_hash
from bot.models import (
    ActionRequest,
    ActionState,
    Alert,
    AlertStatus,
    Category,
    Correction,
    Incident,
    IncidentStatus,
    Plan,
    Role,
    RunbookRef,
    Severity,
    Triage,
    Verification,
    Vote,
)
from bot.slack.action_ids import ActionId
from bot.slack.markup import LIMITS, code, fit, link, mention, mrkdwn, plain, safe_url, size
from bot.slack.recovery_blocks import recovery_blocks

Block = dict[str, Any]

MAX_ALERTS = 3
MAX_LABELS = 8
MAX_PROPOSALS = 10
MAX_REASONS = 8
DESCRIPTION_CHARS = 300
RATIONALE_CHARS = 300
REASON_CHARS = 300
PARAMS_CHARS = 500
SUMMARY_CHARS = 1_200
LABEL_CHARS = 120
PLAN_CHARS = 2_500  # the plan's code block; the section around it stays under its limit


class Clean:
    """Redact first (so patterns see the original text), then escape for mrkdwn or code."""

    def __init__(self, redact: Callable[[str], str]) -> None:
        self._redact = redact

    def __call__(self, text: str) -> str:
        """An untrusted value for mrkdwn prose."""
        return mrkdwn(self._redact(text))

    def code(self, text: str) -> str:
        """An untrusted value for a code span."""
        return code(self._redact(text))

    def block(self, text: str) -> str:
        """An untrusted value for a code block (lines kept)."""
        return code(self._redact(text), block=True)

    def plain(self, text: str) -> str:
        """An untrusted value for a plain_text object."""
        return plain(self._redact(text))


STATE_ICONS = {
    ActionState.PENDING_APPROVAL: ":large_yellow_circle:",
    ActionState.APPROVED: ":large_green_circle:",
    ActionState.EXECUTING: ":gear:",
    ActionState.SUCCEEDED: ":white_check_mark:",
    ActionState.FAILED: ":x:",
    ActionState.DENIED: ":no_entry_sign:",
    ActionState.EXPIRED: ":hourglass:",
    ActionState.BLOCKED: ":no_entry:",
    ActionState.OUTCOME_UNKNOWN: ":grey_question:",
}
# A failed request, or one whose outcome nobody knows, offers to file it again (via policy).
AGAIN_STATES = (ActionState.FAILED, ActionState.OUTCOME_UNKNOWN)


def section(text: str, block_id: str | None = None) -> Block:
    """A mrkdwn section (text fitted to Slack's limit, with a visible cut marker)."""
    body = fit(text, LIMITS.section_text)
    block: Block = {"type": "section", "text": {"type": "mrkdwn", "text": body}}
    if block_id:
        block["block_id"] = block_id
    return block


def context(text: str) -> Block:
    """A small grey context line."""
    body = fit(text, LIMITS.context_text)
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": body}]}


def button(
    text: str,
    action_id: ActionId,
    value: str,
    style: str | None = None,
    confirm: Block | None = None,
) -> Block:
    """A button carrying an id (and for votes a plan hash) as its value."""
    element: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": fit(plain(text), LIMITS.button_text)},
        "action_id": action_id.value,
        "value": value,
    }
    if style:
        element["style"] = style
    if confirm:
        element["confirm"] = confirm
    return element


def vote_value(request: ActionRequest) -> str:
    """An Approve / Deny button's value: the request id and the card's plan hash prefix."""
    return f"{request.id}:{card_hash(request.plan_hash)}"


def _plain(text: str) -> Block:
    return {"type": "plain_text", "text": text}


def confirm_dialog(request: ActionRequest, plan: Plan, clean: Clean) -> Block:
    """Slack's confirmation dialog for Approve on a state-changing action: the plan again."""
    action, service = clean.plain(request.proposal.action), clean.plain(request.proposal.service)
    title = f"Approve {fit(action, 40)} on {fit(service, 40)}?"
    text = f"{clean.plain(plan.summary)}: {clean.plain(plan.shown())}"
    return {
        "title": _plain(fit(title, LIMITS.confirm_title)),
        "text": _plain(fit(text, LIMITS.confirm_text)),
        "confirm": _plain(fit("Approve this plan", LIMITS.confirm_button)),
        "deny": _plain(fit("Cancel", LIMITS.confirm_button)),
        "style": "primary",
    }


def plan_block(request: ActionRequest, clean: Clean) -> Block | None:
    """The plan under its proposal: a plain-words line and the exact command or request."""
    plan = request.plan
    if plan is None:
        return None
    effect = "read-only" if plan.read_only else "changes state"
    body = fit(clean.block(plan.shown()), PLAN_CHARS)
    text = f"*Plan* ({effect}): {fit(clean(plan.summary), 300)}:\n```{body}```"
    return section(text, f"plan:{request.id}")


def make_clean(redact: Callable[[str], str]) -> Clean:
    """Redact first (so patterns see the original text), then escape for mrkdwn."""
    return Clean(redact)


@dataclass(frozen=True)
class CardContext:
    """What the card needs besides domain values: the time it is drawn at (for "how long
    ago") and the base URL runbook files are linked under (empty: runbooks are not linked)."""

    now: datetime | None = None
    runbook_url: str = ""


def correction_line(correction: Correction, clean: Clean) -> str:
    """Who corrected triage's category (and severity), when, from what to what, and why."""
    severity = f" ({correction.severity.value})" if correction.severity is not None else ""
    reason = f": {fit(clean(correction.reason), SUMMARY_CHARS)}" if correction.reason else ""
    was = f"*{correction.from_category.value}*, {correction.from_severity.value}"
    return (
        f":pencil2: Corrected to *{correction.category.value}*{severity} "
        f"by {mention(correction.by)} at {correction.at:%H:%M} UTC "
        f"(triage said {was}){reason}"
    )


def _header(incident: Incident, triage: Triage, alerts: list[Alert], clean: Clean) -> Block:
    """Severity, service and what is wrong, as the alert (or the declarer) put it."""
    title = alerts[0].title if alerts else incident.title
    text = f"{incident.severity.value} · {clean.plain(incident.service)} · {clean.plain(title)}"
    return {"type": "header", "text": {"type": "plain_text", "text": fit(text, LIMITS.header_text)}}


def ago(start: datetime, now: datetime) -> str:
    """A short duration for people: ``45s``, ``12m``, ``3h 05m``, ``2d 4h``."""
    seconds = max(0, int((now - start).total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 48:
        return f"{hours}h {minutes % 60:02d}m"
    return f"{hours // 24}d {hours % 24}h"


# What each source's link is called on the card; annotations a source keeps as extra links.
SOURCE_LINKS = {
    "alertmanager": "Alertmanager",
    "grafana": "Grafana alert",
    "datadog": "Datadog monitor",
    "pagerduty": "PagerDuty incident",
    "slack": "alert message",
    "generic": "source",
}
EXTRA_LINKS = {"panelURL": "Grafana panel", "dashboardURL": "Grafana dashboard"}
MAX_LINKS = 6


def source_urls(alerts: Sequence[Alert]) -> list[tuple[str, str]]:
    """(label, safe URL) of where the alerts came from: one link per kind (the first alert's
    Alertmanager graph, Grafana panel, …), http(s) only, at most ``MAX_LINKS``."""
    found: dict[str, str] = {}
    for alert in alerts:
        candidates = [(SOURCE_LINKS.get(alert.source, alert.source), alert.url or "")]
        candidates += [(label, alert.annotations.get(k, "")) for k, label in EXTRA_LINKS.items()]
        for label, url in candidates:
            safe = safe_url(url) if url and label not in found else None
            if safe is not None:
                found[label] = safe
    return list(found.items())[:MAX_LINKS]


def source_links(alerts: Sequence[Alert]) -> list[str]:
    """``<url|label>`` links to where the alerts came from (see ``source_urls``)."""
    return [made for label, url in source_urls(alerts) if (made := link(url, label))]


def alerts_fired(incident: Incident, alerts: Sequence[Alert]) -> int:
    """How many alerts fired: the incident's count, or the firing ones shown if more (a resolved
    notice ends an alert already counted)."""
    firing = sum(1 for alert in alerts if alert.status is AlertStatus.FIRING)
    return max(incident.alert_count, firing)


def started_at(incident: Incident, alerts: Sequence[Alert]) -> datetime:
    """When it began: the earliest alert start the sources reported, else when it was opened."""
    starts = [a.starts_at for a in alerts if a.starts_at is not None]
    return min([*starts, incident.created_at])


def first_line(incident: Incident, alerts: Sequence[Alert], now: datetime | None) -> str:
    """Started when, how long ago, how many alerts, and links to the source (mrkdwn)."""
    start = started_at(incident, alerts)
    end = incident.resolved_at or now
    parts = [f"Started *{start:%H:%M} UTC* ({start:%b} {start.day})"]
    if end is not None:
        parts.append(f"{ago(start, end)} {'long' if incident.resolved_at else 'ago'}")
    count = alerts_fired(incident, alerts)
    parts.append(f"*{count} alert{'s' if count != 1 else ''}*")
    if incident.status.value != "open":
        parts.append(f"*{incident.status.value}*")
    parts += source_links(alerts)
    return " · ".join(parts)


def roles_line(incident: Incident) -> list[Block]:
    """Who commands, scribes and talks (``/incident assign``), when anyone does: one line."""
    held = [(Role.COMMANDER, incident.commander)]
    held += [(role, incident.roles.get(role)) for role in (Role.SCRIBE, Role.COMMS)]
    parts = [f"{role.value.capitalize()} {mention(who)}" for role, who in held if who]
    return [context(" · ".join(parts))] if parts else []


def runbook_link(ref: RunbookRef, base_url: str, clean: Clean) -> str:
    """A cited runbook: its title linked to its file under ``base_url`` when one is set."""
    label = ref.title or ref.id
    relative = ref.path.split("/", 1)[1] if "/" in ref.path else ref.path or f"{ref.id}.md"
    made = link(base_url + relative, clean.plain(label)) if base_url else None
    shown = made or f"*{fit(clean(label), 200)}*"
    return f"{shown} (v{fit(clean(ref.version), 40)})"


def ids_context(
    incident: Incident, triage: Triage, requests: Sequence[ActionRequest], clean: Clean
) -> Block:
    """The ids and JSON people rarely need, in one small line at the very end of the card."""
    parts = [
        f"incident `{code(incident.id)}`",
        f"triage `{code(triage.id)}` by {fit(mrkdwn(triage.provider), 80)} "
        f"({fit(mrkdwn(triage.model or 'n/a'), 120)}), {triage.execution_status.value}, "
        f"{triage.category.value}, confidence {triage.confidence:.2f}",
    ]
    budget = LIMITS.context_text - 60
    shown = 0
    for request in requests[:MAX_PROPOSALS]:
        params = json.dumps(request.proposal.params, sort_keys=True, ensure_ascii=False)
        rules = ", ".join(h.rule_id for h in request.decision.reasons[:4])
        part = (
            f"`{code(request.id)}` `{fit(clean.code(request.proposal.action), 80)}` "
            f"decision `{code(request.decision.id)}`"
            + (f" rules `{fit(clean.code(rules), 160)}`" if rules else "")
            + (f" `{fit(clean.code(params), 300)}`" if request.proposal.params else "")
            + (f" (again, after `{code(request.retry_of)}`)" if request.retry_of else "")
        )
        if size(" · ".join([*parts, part])) > budget:
            break
        parts.append(part)
        shown += 1
    if shown < len(requests):
        parts.append(f"_…and {len(requests) - shown} more request(s) (cut)_")
    return context(" · ".join(parts))


def _alert_text(alert: Alert, clean: Clean) -> str:
    lines = [f"*[{alert.status.value}]* {fit(clean(alert.title), 250)}"]
    if alert.description:
        lines.append(fit(clean(alert.description), DESCRIPTION_CHARS))
    labels = list(alert.labels.items())
    if labels:
        shown = " ".join(
            f"`{fit(clean.code(f'{k}={v}'), LABEL_CHARS)}`" for k, v in labels[:MAX_LABELS]
        )
        more = len(labels) - MAX_LABELS
        lines.append(shown + (f" _…and {more} more label(s) (cut)_" if more > 0 else ""))
    return "\n".join(lines)


def evidence_blocks(alerts: list[Alert], clean: Clean) -> list[Block]:
    """The raw evidence: key alert fields and labels, redacted."""
    if not alerts:
        return [section("*Evidence*\n_no alerts recorded (declared by hand)_", "evidence")]
    text = "*Evidence*\n" + "\n\n".join(_alert_text(a, clean) for a in alerts[:MAX_ALERTS])
    if len(alerts) > MAX_ALERTS:
        text += f"\n_…and {len(alerts) - MAX_ALERTS} more alert(s)_"
    return [section(text, "evidence")]


def _outcome_line(request: ActionRequest, clean: Clean) -> str:
    state = request.state
    if state is ActionState.PENDING_APPROVAL:
        who = mention_list(request.decision.eligible_approvers)
        return (
            f"Needs {request.decision.approvals_required} approval(s) from {who}; "
            f"{len(request.approvers)} so far"
            + (
                f" ({', '.join(mention(u) for u in request.approvers)})"
                if request.approvers
                else ""
            )
        )
    if state is ActionState.BLOCKED:
        error = fit(clean(request.error or ""), REASON_CHARS)
        return "Blocked: " + (error or _first_reason(request, clean))
    if state in (ActionState.SUCCEEDED, ActionState.FAILED):
        shown = f"{state.value.capitalize()}: {fit(clean(result_in_words(request)), REASON_CHARS)}"
        return _verified_mark(request) + shown
    if state is ActionState.CANCELLED:
        # Say why on the card itself (e.g. the incident was resolved), not only in the thread.
        why = fit(clean(request.error or ""), REASON_CHARS)
        return f"Cancelled: {why}" if why else "Cancelled"
    if state is ActionState.DENIED:
        return "Denied"
    if state is ActionState.OUTCOME_UNKNOWN:
        holder = fit(clean.code(request.claimed_by or "unknown"), 120)
        return (
            f"Outcome unknown: `{holder}` claimed it and recorded no result; it may or may "
            "not have run. Check before approving again"
        )
    return state.value.replace("_", " ").capitalize()


def votes_line(request: ActionRequest) -> str:
    """Who approved and who denied, kept on the card for good (after it ran, too)."""
    approved = request.approvers
    denied: list[str] = []
    for approval in request.approvals:
        if approval.vote is Vote.DENY and approval.user_id not in denied:
            denied.append(approval.user_id)
    parts = []
    if approved:
        parts.append("Approved by " + ", ".join(mention(u) for u in approved))
    if denied:
        parts.append("Denied by " + ", ".join(mention(u) for u in denied))
    if request.state in (ActionState.SUCCEEDED, ActionState.FAILED):
        who = "policy allowed it, no approval needed" if not approved else "after approval"
        parts.append(f"Ran by incident-bot at {request.updated_at:%H:%M} UTC ({who})")
    return " · ".join(parts)


def plain_action(request: ActionRequest, clean: Clean) -> str:
    """The proposal in plain words: ``Restart deployment on *checkout* (deployment: api)``."""
    action = request.proposal.action.replace("_", " ").strip().capitalize()
    params = ", ".join(
        f"{k}: {v}" for k, v in sorted(request.proposal.params.items()) if not isinstance(v, dict)
    )
    return f"*{fit(clean(action), 120)}* on *{fit(clean(request.proposal.service), 120)}*" + (
        f" ({fit(clean(params), PARAMS_CHARS)})" if params else ""
    )


def _verified_mark(request: ActionRequest) -> str:
    """Did it work? Shown first on a succeeded request that declares ``verify``."""
    if request.verification is Verification.VERIFIED:
        return ":white_check_mark: Verified. "
    if request.verification is Verification.NOT_VERIFIED:
        return ":warning: Not verified: its check did not hold in time. "
    if request.verify_until is not None:
        return f"Verifying until {request.verify_until:%H:%M:%S} UTC. "
    return ""


def mention_list(ids: list[str]) -> str:
    """Mentions of approvers (users or groups)."""
    return ", ".join(mention(i) for i in ids) or "nobody"


def _first_reason(request: ActionRequest, clean: Clean) -> str:
    denials = [hit for hit in request.decision.reasons if hit.effect == "deny"]
    hits = denials or request.decision.reasons
    return fit(clean(hits[0].reason), REASON_CHARS) if hits else "policy denied it"


def proposal_blocks(
    request: ActionRequest, clean: Clean, *, asked_again: bool = False
) -> list[Block]:
    """One proposal: action, decision (with its id), reasons, state, and buttons if pending;
    a failed or outcome-unknown one not yet ``asked_again`` offers Request again."""
    decision = request.decision
    icon = STATE_ICONS.get(request.state, ":white_circle:")
    reasons = "\n".join(
        f"• {fit(clean(hit.reason), REASON_CHARS)}" for hit in decision.reasons[:MAX_REASONS]
    )
    if len(decision.reasons) > MAX_REASONS:
        reasons += f"\n_…and {len(decision.reasons) - MAX_REASONS} more reason(s) (cut)_"
    rationale = (
        f"\n_{fit(clean(request.proposal.rationale), RATIONALE_CHARS)}_"
        if request.proposal.rationale
        else ""
    )
    votes = votes_line(request)
    text = (
        f"{icon} {plain_action(request, clean)}\n"
        f"Decision *{decision.outcome.value}* · {_outcome_line(request, clean)}"
        + (f"\n{votes}" if votes and request.state is not ActionState.PENDING_APPROVAL else "")
        + f"{rationale}\n{reasons}"
    )
    blocks = [section(text, f"proposal:{request.id}")]
    plan = plan_block(request, clean)
    if plan is not None:
        blocks.append(plan)
    if request.state is ActionState.PENDING_APPROVAL:
        value = vote_value(request)
        confirm = (
            confirm_dialog(request, request.plan, clean)
            if request.plan is not None and not request.plan.read_only
            else None
        )
        blocks.append(
            {
                "type": "actions",
                "block_id": f"vote:{request.id}",
                "elements": [
                    button("Approve", ActionId.APPROVE, value, "primary", confirm),
                    button("Deny", ActionId.DENY, value, "danger"),
                ],
            }
        )
    if request.state in AGAIN_STATES and not asked_again:
        blocks.append(
            {
                "type": "actions",
                "block_id": f"again:{request.id}",
                "elements": [button("Request again", ActionId.REQUEST_AGAIN, request.id)],
            }
        )
    return blocks


def acknowledge_blocks(incident: Incident) -> list[Block]:
    """Acknowledge, while the incident is open and nobody has acknowledged it (value: its id)."""
    if incident.status is not IncidentStatus.OPEN or incident.acknowledged_at is not None:
        return []
    return [
        {
            "type": "actions",
            "block_id": f"ack:{incident.id}",
            "elements": [button("Acknowledge", ActionId.ACKNOWLEDGE, incident.id, "primary")],
        }
    ]


def _option(label: str, value: str) -> Block:
    return {
        "text": {"type": "plain_text", "text": fit(plain(label), LIMITS.option_text)},
        "value": value,
    }


def select_menu(
    placeholder: str, action_id: ActionId, options: Sequence[tuple[str, str]], chosen: str
) -> Block:
    """A static_select of ``(label, value)`` options; ``chosen`` (a value) is shown selected."""
    made = [_option(label, value) for label, value in options[: LIMITS.select_options]]
    element: Block = {
        "type": "static_select",
        "action_id": action_id.value,
        "placeholder": {
            "type": "plain_text",
            "text": fit(plain(placeholder), LIMITS.placeholder_text),
        },
        "options": made,
    }
    initial = next((o for o in made if o["value"] == chosen), None)
    if initial is not None:
        element["initial_option"] = initial
    return element


def correction_blocks(incident: Incident) -> list[Block]:
    """Recategorize / severity menus while the incident is open. An option's value is only the
    category or severity; the block id names the incident and, so that Slack redraws the
    menus after a correction, what they show."""
    if incident.status is not IncidentStatus.OPEN:
        return []
    categories = [(c.value.replace("_", " ").capitalize(), c.value) for c in Category]
    severities = [(s.value, s.value) for s in Severity]
    shown = f"{incident.category.value}:{incident.severity.value}:{incident.commander or '-'}"
    hand_over: Block = {
        "type": "users_select",
        "action_id": ActionId.HAND_OVER.value,
        "placeholder": {"type": "plain_text", "text": "Hand command to…"},
    }
    if incident.commander is not None and incident.commander[:1] in "UW":
        hand_over["initial_user"] = incident.commander
    return [
        {
            "type": "actions",
            "block_id": f"correct:{incident.id}:{shown}"[: LIMITS.block_id],
            "elements": [
                select_menu(
                    "Recategorize…", ActionId.RECATEGORIZE, categories, incident.category.value
                ),
                select_menu(
                    "Severity…", ActionId.SET_SEVERITY, severities, incident.severity.value
                ),
                hand_over,
            ],
        }
    ]


def feedback_blocks(incident: Incident, triage: Triage) -> list[Block]:
    """Helpful / not helpful buttons: value is the triage id, the block id names the incident."""
    return [
        {
            "type": "actions",
            "block_id": f"feedback:{incident.id}:{triage.id}",
            "elements": [
                button("Helpful", ActionId.HELPFUL, triage.id),
                button("Not helpful", ActionId.NOT_HELPFUL, triage.id),
            ],
        }
    ]


def triage_card(
    incident: Incident,
    triage: Triage,
    requests: list[ActionRequest],
    alerts: list[Alert],
    clean: Clean,
    card: CardContext | None = None,
) -> list[Block]:
    """The whole triage card, in the order people read it at 2 AM: what and since when (with
    links to the source), what we think, the evidence, runbooks, proposals with their plans and
    buttons, feedback; the ids and JSON last, in one small context line."""
    card = card or CardContext()
    cited = ", ".join(runbook_link(r, card.runbook_url, clean) for r in triage.runbooks)
    blocks: list[Block] = [
        _header(incident, triage, alerts, clean),
        section(first_line(incident, alerts, card.now), "first"),
        *roles_line(incident),
        section(
            f"*What we think*: {fit(clean(triage.summary), SUMMARY_CHARS) or '_no summary_'}\n"
            f"*Likely cause*: {fit(clean(triage.root_cause), SUMMARY_CHARS) or '_unknown_'}",
            "summary",
        ),
        *(
            [section(correction_line(incident.correction, clean), "correction")]
            if incident.correction is not None
            else []
        ),
        *evidence_blocks(alerts, clean),
        section(f"*Runbooks*: {cited or '_none matched_'}", "runbooks"),
        {"type": "divider"},
    ]
    if not requests:
        blocks.append(section("_No remediation proposed: humans take it from here._"))
    asked = {r.retry_of for r in requests if r.retry_of}
    is_open = incident.status is IncidentStatus.OPEN
    for request in requests[:MAX_PROPOSALS]:
        blocks.extend(proposal_blocks(request, clean, asked_again=request.id in asked))
        blocks.extend(recovery_blocks(request, requests, clean, incident_open=is_open))
    if len(requests) > MAX_PROPOSALS:
        hidden = len(requests) - MAX_PROPOSALS
        blocks.append(context(f"_…and {hidden} more proposal(s) (cut): see `/incident status`_"))
    blocks.extend(acknowledge_blocks(incident))
    blocks.extend(correction_blocks(incident))
    blocks.extend(feedback_blocks(incident, triage))
    kept = within_block_limit(blocks, LIMITS.blocks_per_message - 1)
    return [*kept, ids_context(incident, triage, requests, clean)]


def within_block_limit(blocks: list[Block], limit: int = LIMITS.blocks_per_message) -> list[Block]:
    """At most ``limit`` blocks; when more, the last kept one says how many were cut."""
    if len(blocks) <= limit:
        return blocks
    hidden = len(blocks) - limit + 1
    return [*blocks[: limit - 1], context(f"_…and {hidden} more block(s) (cut)_")]
