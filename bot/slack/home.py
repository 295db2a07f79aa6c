"""The App Home tab: what waits for the person looking at it, published on ``app_home_opened``.

Approve / Deny here carry the same action ids and values as the card's buttons
(``"<request id>:<plan hash prefix>"``), so the one vote listener, the authorisation and the
card-hash check (invariant 8) treat a click here exactly like a click on the card.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.clock import utcnow
from bot.models import ActionRequest, ActionState, Incident
from bot.pipeline import Awaiting
from bot.slack import messages
from bot.slack.action_ids import ActionId
from bot.slack.blocks import (
    Block,
    Clean,
    button,
    confirm_dialog,
    context,
    section,
    vote_value,
    within_block_limit,
)
from bot.slack.markup import LIMITS, fit, mention
from bot.slack.runtime import SlackRuntime

log = logging.getLogger(__name__)

USER_SHAPE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
MAX_APPROVALS = 20
MAX_INCIDENTS = 15


def _header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": fit(text, LIMITS.header_text)}}


def _vote_buttons(request: ActionRequest, clean: Clean) -> Block:
    value = vote_value(request)
    confirm = (
        confirm_dialog(request, request.plan, clean)
        if request.plan is not None and not request.plan.read_only
        else None
    )
    return {
        "type": "actions",
        "block_id": f"vote:{request.id}",
        "elements": [
            button("Approve", ActionId.APPROVE, value, "primary", confirm),
            button("Deny", ActionId.DENY, value, "danger"),
        ],
    }


def _incidents(kind: str, incidents: list[Incident]) -> list[Block]:
    blocks = [_header(messages.HOME_HEADINGS[kind])]
    if not incidents:
        return [*blocks, section(messages.HOME_EMPTY[kind])]
    lines = [messages.incident_line(i) for i in incidents[:MAX_INCIDENTS]]
    blocks.append(section("\n".join(lines)))
    if len(incidents) > MAX_INCIDENTS:
        blocks.append(context(f"_…and {len(incidents) - MAX_INCIDENTS} more (cut)_"))
    return blocks


def home_view(awaiting: Awaiting, clean: Clean) -> dict[str, Any]:
    """The Home tab view: approvals (with buttons), incidents commanded, SEV0/SEV1 ones."""
    blocks: list[Block] = [_header(messages.HOME_HEADINGS["approvals"])]
    pending = [(i, r) for i, r in awaiting.approvals if r.state is ActionState.PENDING_APPROVAL]
    if not pending:
        blocks.append(section(messages.HOME_EMPTY["approvals"]))
    for incident, request in pending[:MAX_APPROVALS]:
        blocks.append(section(messages.home_approval(incident, request), f"home:{request.id}"))
        blocks.append(_vote_buttons(request, clean))
    if len(pending) > MAX_APPROVALS:
        blocks.append(context(f"_…and {len(pending) - MAX_APPROVALS} more waiting (cut)_"))
    blocks += [{"type": "divider"}, *_incidents("commanded", awaiting.commanded)]
    blocks += [{"type": "divider"}, *_incidents("severe", awaiting.severe)]
    blocks.append(context(f"For {mention(awaiting.user_id)} · updated {utcnow():%H:%M} UTC"))
    return {"type": "home", "blocks": within_block_limit(blocks, LIMITS.home_blocks)}


class HomeTab:
    """Publishes the viewer's Home tab whenever they open it."""

    def __init__(self, runtime: SlackRuntime, clean: Clean) -> None:
        self.runtime = runtime
        self.clean = clean

    async def on_opened(self, ack: AsyncAck, event: dict[str, Any]) -> None:
        """Ack, then read and publish in the background (only the Home tab, only a user)."""
        await ack()
        user = str(event.get("user", ""))
        if event.get("tab", "home") != "home" or not user or not set(user) <= USER_SHAPE:
            return
        self.runtime.after_ack(self.publish(user), f"home:{user}", self._log_only)

    async def publish(self, user_id: str) -> None:
        """views.publish the Home view of ``user_id``."""
        awaiting = await self.runtime.pipeline.waiting_for(user_id, utcnow())
        await self.runtime.outbox.publish_home(user_id, home_view(awaiting, self.clean))

    async def _log_only(self, text: str) -> None:
        log.warning("home tab not published", extra={"reason": text})


def attach(app: AsyncApp, runtime: SlackRuntime, clean: Clean) -> None:
    """Attach the app_home_opened listener to the Bolt app."""
    app.event("app_home_opened")(HomeTab(runtime, clean).on_opened)
