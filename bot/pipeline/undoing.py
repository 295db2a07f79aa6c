"""One-click undo: a succeeded request whose action declares an inverse, and whose pre-checks
captured the values it changed, may be undone by filing the inverse as a NEW request.

The inverse goes through policy and approvals like any other request (never a shortcut): the
person who clicked Undo is its requester, so they cannot approve it themselves. It is linked to
the original by ``undo_of`` and on the timeline (``action.undo_requested``). Undo is refused
when nothing usable was captured (a dry run reads nothing), the incident is resolved, or an undo
was already filed for the request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot import metrics, timeline
from bot.actions.captures import inverse_proposal, undo_problem
from bot.errors import NotFound
from bot.models import (
    ActionRequest,
    EventKind,
    IncidentStatus,
)
from bot.pipeline.executions import Executions

log = logging.getLogger(__name__)

# Held while one click files the inverse, so two clicks on two replicas file one.
UNDO_LEASE_SECONDS = 60.0


class UndoStatus(StrEnum):
    FILED = "filed"
    UNKNOWN_REQUEST = "unknown_request"
    NOT_UNDOABLE = "not_undoable"
    INCIDENT_CLOSED = "incident_closed"
    ALREADY_UNDONE = "already_undone"
    BUSY = "busy"


@dataclass
class UndoResult:
    """What ``request_undo`` did: the inverse request (or the one filed before), and why not."""

    status: UndoStatus
    request: ActionRequest | None = None
    original: ActionRequest | None = None
    problem: str = ""


class Undoing(Executions):
    """``request_undo``: file the inverse of a succeeded request through policy."""

    async def request_undo(self, request_id: str, user_id: str, now: datetime) -> UndoResult:
        """File the inverse of ``request_id`` with its captured values, ``user_id`` requesting."""
        try:
            original = await self.store.get_action_request(request_id)
        except NotFound:
            return UndoResult(UndoStatus.UNKNOWN_REQUEST)
        problem = undo_problem(self.policy, original)
        if problem is not None:
            return UndoResult(UndoStatus.NOT_UNDOABLE, original=original, problem=problem)
        async with self.exclusively(f"undo:{request_id}", now, UNDO_LEASE_SECONDS) as held:
            if not held:
                return UndoResult(UndoStatus.BUSY, original=original)
            return await self._file_undo(original, user_id, now)

    async def _file_undo(self, original: ActionRequest, user_id: str, now: datetime) -> UndoResult:
        incident = await self.store.get_incident(original.incident_id)
        if incident.status is not IncidentStatus.OPEN:
            return UndoResult(UndoStatus.INCIDENT_CLOSED, original=original)
        siblings = await self.store.list_action_requests(incident.id)
        earlier = next((r for r in siblings if r.undo_of == original.id), None)
        if earlier is not None:
            return UndoResult(UndoStatus.ALREADY_UNDONE, earlier, original)
        proposal = inverse_proposal(self.policy, original)
        decision = await self.judge_follow_up(original, proposal, siblings, user_id, now)
        request = await self.file_follow_up(
            original, proposal, decision, user_id, now, undo_of=original.id
        )
        metrics.UNDO_REQUESTS.labels(original.proposal.action).inc()
        captured = ", ".join(f"{c.name}={c.value}" for c in original.captures)
        await timeline.note(
            self.store,
            incident.id,
            at=now,
            actor=user_id,
            kind=EventKind.ACTION_UNDO_REQUESTED,
            message=f"undo of {original.proposal.action} ({original.id}) asked for: "
            f"{proposal.action} with {captured}; state {request.state.value}",
            request_id=request.id,
            undo_of=original.id,
        )
        request = await self.show_follow_up(incident, request, now)
        return UndoResult(UndoStatus.FILED, request, original)
