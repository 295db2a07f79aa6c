"""Break-glass during freezes: a freeze that allows it (rules.yaml ``break_glass: true``) still
blocks, but a person may file the blocked request again with a written justification.

The new request carries the ``BreakGlass`` record (who, when, why, which request it files
again); the blocked one stays blocked, as it was. Policy judges the new one with that record in
its ``EvaluationContext``: the freeze yields, and one more approval than usual is required, from
``break_glass_approvers`` (rules.yaml). Votes and execution re-check through the same
``policy.evaluate``, so the freeze is never skipped, only answered. Who broke the glass and why
lands on the card, the timeline (``action.break_glass``), ``/metrics`` and the postmortem, and
the security channel is told (``Notifier.glass_broken``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot import metrics, timeline
from bot.errors import NotFound
from bot.models import (
    ActionRequest,
    ActionState,
    BreakGlass,
    DecisionOutcome,
    EventKind,
    IncidentStatus,
)
from bot.pipeline.executions import Executions

# A justification is a sentence someone will read in the review, not a click-through.
MIN_JUSTIFICATION_CHARS = 10
MAX_JUSTIFICATION_CHARS = 3000
GLASS_LEASE_SECONDS = 60.0
GLASS_RULE = "freeze.break_glass"


class GlassStatus(StrEnum):
    FILED = "filed"
    UNKNOWN_REQUEST = "unknown_request"
    NOT_BLOCKED = "not_blocked"
    NOT_ALLOWED = "not_allowed"
    JUSTIFICATION = "justification"
    INCIDENT_CLOSED = "incident_closed"
    ALREADY_BROKEN = "already_broken"
    BUSY = "busy"


@dataclass
class GlassResult:
    """What ``break_glass`` did: the new request (or the one filed before), and why not."""

    status: GlassStatus
    request: ActionRequest | None = None
    blocked: ActionRequest | None = None
    problem: str = ""


class BreakingGlass(Executions):
    """``break_glass``: file a freeze-blocked request again, with a justification."""

    async def break_glass(
        self, request_id: str, user_id: str, justification: str, now: datetime
    ) -> GlassResult:
        """File ``request_id`` again past its freeze; ``user_id`` requests, and explains why."""
        text = " ".join(justification.split())
        if not MIN_JUSTIFICATION_CHARS <= len(text) <= MAX_JUSTIFICATION_CHARS:
            return GlassResult(GlassStatus.JUSTIFICATION)
        try:
            blocked = await self.store.get_action_request(request_id)
        except NotFound:
            return GlassResult(GlassStatus.UNKNOWN_REQUEST)
        if blocked.state is not ActionState.BLOCKED:
            return GlassResult(GlassStatus.NOT_BLOCKED, blocked=blocked)
        async with self.exclusively(f"glass:{request_id}", now, GLASS_LEASE_SECONDS) as held:
            if not held:
                return GlassResult(GlassStatus.BUSY, blocked=blocked)
            return await self._file_glass(blocked, user_id, text, now)

    async def _file_glass(
        self, blocked: ActionRequest, user_id: str, text: str, now: datetime
    ) -> GlassResult:
        incident = await self.store.get_incident(blocked.incident_id)
        if incident.status is not IncidentStatus.OPEN:
            return GlassResult(GlassStatus.INCIDENT_CLOSED, blocked=blocked)
        siblings = await self.store.list_action_requests(incident.id)
        earlier = next(
            (
                r
                for r in siblings
                if r.break_glass is not None and r.break_glass.of_request == blocked.id
            ),
            None,
        )
        if earlier is not None:
            return GlassResult(GlassStatus.ALREADY_BROKEN, earlier, blocked)
        glass = BreakGlass(by=user_id, at=now, justification=text, of_request=blocked.id)
        decision = await self.judge_follow_up(
            blocked, blocked.proposal, siblings, user_id, now, break_glass=glass
        )
        broken = [hit.reason for hit in decision.reasons if hit.rule_id == GLASS_RULE]
        if decision.outcome is DecisionOutcome.DENY or not broken:
            why = "; ".join(decision.denials) or "no freeze that allows break glass blocks it now"
            return GlassResult(GlassStatus.NOT_ALLOWED, blocked=blocked, problem=why)
        glass.freezes = broken
        request = await self.file_follow_up(
            blocked, blocked.proposal, decision, user_id, now, break_glass=glass
        )
        metrics.BREAK_GLASS.labels(blocked.proposal.action).inc()
        await timeline.note(
            self.store,
            incident.id,
            at=now,
            actor=user_id,
            kind=EventKind.ACTION_BREAK_GLASS,
            message=f"break glass on {blocked.proposal.action} ({blocked.id}) by {user_id}: "
            f"{text[:300]}; needs {decision.approvals_required} approvals, one from the "
            "break-glass group",
            request_id=request.id,
            break_glass_of=blocked.id,
            justification=text,
            freezes=broken,
        )
        await self.notifier.glass_broken(incident, request)
        await self.refresh_card(incident, request)
        return GlassResult(GlassStatus.FILED, request, blocked)
