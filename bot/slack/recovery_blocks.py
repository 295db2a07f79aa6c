"""Block Kit for undo and break-glass: what the card adds under a proposal, and the modal that
asks for a break-glass justification. Pure functions from domain values to blocks.

Undo is offered on a succeeded request whose pre-checks really read every captured value (a
dry run reads nothing, so it says what it would have read and offers no Undo), while the
incident is open and no undo was filed yet. Break glass is offered on a request blocked only by
freezes that allow it (``Decision.break_glass_possible``), once.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from bot.models import ActionRequest, ActionState
from bot.slack.action_ids import BREAK_GLASS_VIEW, JUSTIFICATION_INPUT, ActionId
from bot.slack.markup import LIMITS, code, fit, mention

if TYPE_CHECKING:
    from bot.slack.blocks import Clean

Block = dict[str, Any]
VALUE_CHARS = 64
JUSTIFICATION_MIN = 10
JUSTIFICATION_MAX = 3000


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": fit(text, 3000)}]}


def _button(text: str, action_id: ActionId, value: str, style: str | None = None) -> Block:
    element: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id.value,
        "value": value,
    }
    if style:
        element["style"] = style
    return element


def _captured(request: ActionRequest, clean: Clean) -> str:
    return ", ".join(
        f"`{fit(clean.code(f'{c.name}={json.dumps(c.value)}'), VALUE_CHARS)}`"
        for c in request.captures
    )


def undoable(request: ActionRequest) -> bool:
    """Every captured value was really read: an inverse can be filed with them."""
    return (
        request.state is ActionState.SUCCEEDED
        and bool(request.captures)
        and all(c.usable for c in request.captures)
    )


def recovery_blocks(
    request: ActionRequest, requests: list[ActionRequest], clean: Clean, *, incident_open: bool
) -> list[Block]:
    """What the card adds under ``request``: links, captures, Undo or Break glass."""
    blocks: list[Block] = []
    if request.undo_of:
        blocks.append(_context(f":leftwards_arrow_with_hook: Undoes `{code(request.undo_of)}`"))
    glass = request.break_glass
    if glass is not None:
        why = fit(clean(glass.justification), 1_000)
        blocks.append(
            {
                "type": "section",
                "block_id": f"glass-note:{request.id}",
                "text": {
                    "type": "mrkdwn",
                    "text": f":rotating_light: *Break glass* by {mention(glass.by)} on "
                    f"`{code(glass.of_request)}` — one more approval than usual, from the "
                    f"break-glass group.\n*Why:* {why}",
                },
            }
        )
    blocks += _undo_blocks(request, requests, clean, incident_open)
    blocks += _glass_blocks(request, requests, incident_open)
    return blocks


def _undo_blocks(
    request: ActionRequest, requests: list[ActionRequest], clean: Clean, incident_open: bool
) -> list[Block]:
    if request.state is not ActionState.SUCCEEDED or not request.captures:
        return []
    simulated = [c for c in request.captures if c.simulated]
    if simulated:
        would = "; ".join(
            f"`{fit(clean.code(c.name), VALUE_CHARS)}` via `{fit(clean.code(c.read), 300)}`"
            for c in simulated
        )
        return [_context(f"Dry run: would have read {would}. Nothing was read, so no Undo.")]
    if not undoable(request):
        failed = ", ".join(
            f"`{fit(clean.code(c.name), VALUE_CHARS)}`" for c in request.captures if not c.usable
        )
        return [_context(f"Undo not offered: {failed} could not be read before it ran.")]
    line = _context(f"Captured before running: {_captured(request, clean)}")
    undone = next((r for r in requests if r.undo_of == request.id), None)
    if undone is not None:
        return [line, _context(f"Undo filed: `{code(undone.id)}`")]
    if not incident_open:
        return [line]
    button = _button("Undo", ActionId.UNDO, request.id)
    button["confirm"] = {
        "title": {"type": "plain_text", "text": "File the undo?"},
        "text": {
            "type": "plain_text",
            "text": fit(
                "A new request for the inverse, with the values read before it ran. It goes "
                "through policy and approvals like any other; you cannot approve it yourself.",
                LIMITS.confirm_text,
            ),
        },
        "confirm": {"type": "plain_text", "text": "File undo"},
        "deny": {"type": "plain_text", "text": "Cancel"},
    }
    return [line, {"type": "actions", "block_id": f"undo:{request.id}", "elements": [button]}]


def _glass_blocks(
    request: ActionRequest, requests: list[ActionRequest], incident_open: bool
) -> list[Block]:
    if request.state is not ActionState.BLOCKED or not request.decision.break_glass_possible:
        return []
    broken = next(
        (r for r in requests if r.break_glass and r.break_glass.of_request == request.id), None
    )
    if broken is not None:
        return [_context(f":rotating_light: Glass broken: filed again as `{code(broken.id)}`")]
    if not incident_open:
        return []
    return [
        {
            "type": "actions",
            "block_id": f"glass:{request.id}",
            "elements": [_button("Break glass", ActionId.BREAK_GLASS, request.id, "danger")],
        }
    ]


def glass_modal(request: ActionRequest, metadata: str) -> Block:
    """The modal asking who breaks the glass why; ``metadata`` names the request and card."""
    action = fit(request.proposal.action, 60)
    service = fit(request.proposal.service, 60)
    return {
        "type": "modal",
        "callback_id": BREAK_GLASS_VIEW,
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": "Break glass"},
        "submit": {"type": "plain_text", "text": "Break glass"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"`{code(action)}` on `{code(service)}` is blocked by a change "
                    "freeze. Breaking the glass files it again; it then needs one more "
                    "approval than usual, from the break-glass group. Your name and words go "
                    "on the card, the timeline, the postmortem and to the security channel.",
                },
            },
            {
                "type": "input",
                "block_id": JUSTIFICATION_INPUT,
                "label": {"type": "plain_text", "text": "Why can this not wait?"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": JUSTIFICATION_INPUT,
                    "multiline": True,
                    "min_length": JUSTIFICATION_MIN,
                    "max_length": JUSTIFICATION_MAX,
                },
            },
        ],
    }
