"""Block Kit builders for the triage card: pure functions from domain values to blocks.

Evidence comes first, then proposals; buttons only where a decision awaits approval, and a
button's value is only an ActionRequest id (or a triage id for feedback). Every untrusted
string passes through ``clean`` (redact, then escape) before it is placed in mrkdwn.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from bot.models import ActionRequest, ActionState, Alert, Incident, Triage
from bot.slack.action_ids import ActionId
from bot.slack.messages import escape, mention

Block = dict[str, Any]
Clean = Callable[[str], str]

MAX_ALERTS = 3
MAX_LABELS = 8
MAX_PROPOSALS = 10
MAX_SECTION_CHARS = 2900
HEADER_CHARS = 150

STATE_ICONS = {
    ActionState.PENDING_APPROVAL: ":large_yellow_circle:",
    ActionState.APPROVED: ":large_green_circle:",
    ActionState.EXECUTING: ":gear:",
    ActionState.SUCCEEDED: ":white_check_mark:",
    ActionState.FAILED: ":x:",
    ActionState.DENIED: ":no_entry_sign:",
    ActionState.EXPIRED: ":hourglass:",
    ActionState.BLOCKED: ":no_entry:",
}


def _clip(text: str, limit: int = MAX_SECTION_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def section(text: str, block_id: str | None = None) -> Block:
    """A mrkdwn section (text clipped to Slack's limit)."""
    block: Block = {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text)}}
    if block_id:
        block["block_id"] = block_id
    return block


def context(text: str) -> Block:
    """A small grey context line."""
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(text)}]}


def button(text: str, action_id: ActionId, value: str, style: str | None = None) -> Block:
    """A button carrying only an id as its value."""
    element: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id.value,
        "value": value,
    }
    if style:
        element["style"] = style
    return element


def make_clean(redact: Callable[[str], str]) -> Clean:
    """Redact first (so patterns see the original text), then escape for mrkdwn."""
    return lambda text: escape(redact(text))


def _header(incident: Incident, triage: Triage) -> list[Block]:
    title = (
        f"{incident.severity.value} · {incident.service} · {triage.category.value} "
        f"· confidence {triage.confidence:.2f}"
    )
    return [
        {"type": "header", "text": {"type": "plain_text", "text": title[:HEADER_CHARS]}},
        context(
            f"`{incident.id}` · triaged by {escape(triage.provider)} "
            f"({escape(triage.model or 'n/a')}), {triage.execution_status.value} "
            f"· triage `{triage.id}`"
        ),
    ]


def _alert_text(alert: Alert, clean: Clean) -> str:
    lines = [f"*[{alert.status.value}]* {clean(alert.title)}"]
    if alert.description:
        lines.append(clean(alert.description)[:300])
    labels = list(alert.labels.items())[:MAX_LABELS]
    if labels:
        lines.append(" ".join(f"`{clean(k)}={clean(v)}`" for k, v in labels))
    return "\n".join(lines)


def evidence_blocks(alerts: list[Alert], clean: Clean) -> list[Block]:
    """The raw evidence: key alert fields and labels, redacted."""
    if not alerts:
        return [section("*Evidence*\n_no alerts recorded (declared by hand)_", "evidence")]
    text = "*Evidence*\n" + "\n\n".join(_alert_text(a, clean) for a in alerts[:MAX_ALERTS])
    if len(alerts) > MAX_ALERTS:
        text += f"\n_…and {len(alerts) - MAX_ALERTS} more alert(s)_"
    return [section(text, "evidence")]


def _params(request: ActionRequest, clean: Clean) -> str:
    if not request.proposal.params:
        return ""
    return " " + clean(json.dumps(request.proposal.params, sort_keys=True, ensure_ascii=False))


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
        return "Blocked: " + (clean(request.error or "") or _first_reason(request, clean))
    if state in (ActionState.SUCCEEDED, ActionState.FAILED):
        detail = request.error or json.dumps(request.result or {}, sort_keys=True)[:300]
        return f"{state.value.capitalize()}: {clean(detail)}"
    if state is ActionState.DENIED:
        by = [a.user_id for a in request.approvals if a.vote.value == "deny"]
        return "Denied" + (f" by {mention(by[-1])}" if by else "")
    return state.value.replace("_", " ").capitalize()


def mention_list(ids: list[str]) -> str:
    """Mentions of approvers (users or groups)."""
    return ", ".join(mention(i) for i in ids) or "nobody"


def _first_reason(request: ActionRequest, clean: Clean) -> str:
    denials = [hit for hit in request.decision.reasons if hit.effect == "deny"]
    hits = denials or request.decision.reasons
    return clean(hits[0].reason) if hits else "policy denied it"


def proposal_blocks(request: ActionRequest, clean: Clean) -> list[Block]:
    """One proposal: action, decision (with its id), reasons, state, and buttons if pending."""
    decision = request.decision
    icon = STATE_ICONS.get(request.state, ":white_circle:")
    reasons = "\n".join(
        f"• `{clean(hit.rule_id)}` {clean(hit.reason)}" for hit in decision.reasons[:8]
    )
    rationale = (
        f"\n_{clean(request.proposal.rationale)[:300]}_" if request.proposal.rationale else ""
    )
    text = (
        f"{icon} *{clean(request.proposal.action)}* on *{clean(request.proposal.service)}*"
        f"{_params(request, clean)}\n"
        f"Decision *{decision.outcome.value}* (`{decision.id}`) · request `{request.id}`\n"
        f"{_outcome_line(request, clean)}{rationale}\n{reasons}"
    )
    blocks = [section(text, f"proposal:{request.id}")]
    if request.state is ActionState.PENDING_APPROVAL:
        blocks.append(
            {
                "type": "actions",
                "block_id": f"vote:{request.id}",
                "elements": [
                    button("Approve", ActionId.APPROVE, request.id, "primary"),
                    button("Deny", ActionId.DENY, request.id, "danger"),
                ],
            }
        )
    return blocks


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
) -> list[Block]:
    """The whole triage card: header, summary, evidence, runbooks, proposals, feedback."""
    cited = ", ".join(f"`{clean(r.id)}@{clean(r.version)}`" for r in triage.runbooks) or "none"
    blocks: list[Block] = [
        *_header(incident, triage),
        section(
            f"*Summary*\n{clean(triage.summary) or '_none_'}\n"
            f"*Root cause*\n{clean(triage.root_cause) or '_unknown_'}",
            "summary",
        ),
        *evidence_blocks(alerts, clean),
        section(f"*Runbooks*: {cited}", "runbooks"),
        {"type": "divider"},
    ]
    if not requests:
        blocks.append(section("_No remediation proposed: humans take it from here._"))
    for request in requests[:MAX_PROPOSALS]:
        blocks.extend(proposal_blocks(request, clean))
    blocks.extend(feedback_blocks(incident, triage))
    return blocks
