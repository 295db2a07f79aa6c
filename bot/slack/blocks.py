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
from collections.abc import Callable
from typing import Any

from bot.actions.plans import card_hash
from bot.models import ActionRequest, ActionState, Alert, Incident, Plan, Triage, Verification
from bot.slack.action_ids import ActionId
from bot.slack.markup import LIMITS, code, fit, mention, mrkdwn, plain

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


def _header(incident: Incident, triage: Triage) -> list[Block]:
    title = (
        f"{incident.severity.value} · {plain(incident.service)} · {triage.category.value} "
        f"· confidence {triage.confidence:.2f}"
    )
    header = {"type": "plain_text", "text": fit(title, LIMITS.header_text)}
    return [
        {"type": "header", "text": header},
        context(
            f"`{code(incident.id)}` · triaged by {fit(mrkdwn(triage.provider), 80)} "
            f"({fit(mrkdwn(triage.model or 'n/a'), 120)}), {triage.execution_status.value} "
            f"· triage `{code(triage.id)}`"
        ),
    ]


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


def _params(request: ActionRequest, clean: Clean) -> str:
    if not request.proposal.params:
        return ""
    params = json.dumps(request.proposal.params, sort_keys=True, ensure_ascii=False)
    return f" `{fit(clean.code(params), PARAMS_CHARS)}`"


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
        detail = request.error or json.dumps(request.result or {}, sort_keys=True)
        shown = f"{state.value.capitalize()}: {fit(clean(detail), REASON_CHARS)}"
        return _verified_mark(request) + shown
    if state is ActionState.CANCELLED:
        # Say why on the card itself (e.g. the incident was resolved), not only in the thread.
        why = fit(clean(request.error or ""), REASON_CHARS)
        return f"Cancelled: {why}" if why else "Cancelled"
    if state is ActionState.DENIED:
        by = [a.user_id for a in request.approvals if a.vote.value == "deny"]
        return "Denied" + (f" by {mention(by[-1])}" if by else "")
    if state is ActionState.OUTCOME_UNKNOWN:
        holder = fit(clean.code(request.claimed_by or "unknown"), 120)
        return (
            f"Outcome unknown: `{holder}` claimed it and recorded no result; it may or may "
            "not have run. Check before approving again"
        )
    return state.value.replace("_", " ").capitalize()


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
        f"• `{fit(clean.code(hit.rule_id), 120)}` {fit(clean(hit.reason), REASON_CHARS)}"
        for hit in decision.reasons[:MAX_REASONS]
    )
    if len(decision.reasons) > MAX_REASONS:
        reasons += f"\n_…and {len(decision.reasons) - MAX_REASONS} more reason(s) (cut)_"
    rationale = (
        f"\n_{fit(clean(request.proposal.rationale), RATIONALE_CHARS)}_"
        if request.proposal.rationale
        else ""
    )
    text = (
        f"{icon} *{fit(clean(request.proposal.action), 120)}* on "
        f"*{fit(clean(request.proposal.service), 120)}*{_params(request, clean)}\n"
        f"Decision *{decision.outcome.value}* (`{code(decision.id)}`) · "
        f"request `{code(request.id)}`"
        + (f" (again, after `{code(request.retry_of)}`)" if request.retry_of else "")
        + "\n"
        f"{_outcome_line(request, clean)}{rationale}\n{reasons}"
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
    cited = (
        ", ".join(f"`{fit(clean.code(f'{r.id}@{r.version}'), 120)}`" for r in triage.runbooks)
        or "none"
    )
    blocks: list[Block] = [
        *_header(incident, triage),
        section(
            f"*Summary*\n{fit(clean(triage.summary), SUMMARY_CHARS) or '_none_'}\n"
            f"*Root cause*\n{fit(clean(triage.root_cause), SUMMARY_CHARS) or '_unknown_'}",
            "summary",
        ),
        *evidence_blocks(alerts, clean),
        section(f"*Runbooks*: {cited}", "runbooks"),
        {"type": "divider"},
    ]
    if not requests:
        blocks.append(section("_No remediation proposed: humans take it from here._"))
    asked = {r.retry_of for r in requests if r.retry_of}
    for request in requests[:MAX_PROPOSALS]:
        blocks.extend(proposal_blocks(request, clean, asked_again=request.id in asked))
    if len(requests) > MAX_PROPOSALS:
        hidden = len(requests) - MAX_PROPOSALS
        blocks.append(context(f"_…and {hidden} more proposal(s) (cut): see `/incident status`_"))
    blocks.extend(feedback_blocks(incident, triage))
    return within_block_limit(blocks)


def within_block_limit(blocks: list[Block], limit: int = LIMITS.blocks_per_message) -> list[Block]:
    """At most ``limit`` blocks; when more, the last kept one says how many were cut."""
    if len(blocks) <= limit:
        return blocks
    hidden = len(blocks) - limit + 1
    return [*blocks[: limit - 1], context(f"_…and {hidden} more block(s) (cut)_")]
