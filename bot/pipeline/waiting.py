"""Reading back what waits for one person: the requests they may approve, the incidents they
command, and the open SEV0/SEV1 incidents everyone should know about (the App Home tab)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.models import ActionRequest, ActionState, Incident, IncidentStatus, Severity
from bot.pipeline.stage import Stage
from bot.policy.approvers import is_eligible

# How far the read looks: the Home tab shows a page, not an archive.
PENDING_LIMIT = 200
OPEN_LIMIT = 200
SEVERE = (Severity.SEV0, Severity.SEV1)


@dataclass
class Awaiting:
    """What waits for one person, each list most urgent first."""

    user_id: str
    # (incident, request) pairs the person may still vote on
    approvals: list[tuple[Incident, ActionRequest]] = field(default_factory=list)
    commanded: list[Incident] = field(default_factory=list)
    severe: list[Incident] = field(default_factory=list)


class Waiting(Stage):
    """The read step behind the Home tab."""

    async def waiting_for(self, user_id: str, now: datetime) -> Awaiting:
        """Pending requests ``user_id`` is an eligible approver of (groups resolved through the
        Directory; not their own request, not voted yet, not expired), the open incidents they
        command, and every open SEV0/SEV1 incident."""
        pending = await self.store.list_action_requests(
            states=[ActionState.PENDING_APPROVAL], limit=PENDING_LIMIT
        )
        named = {a for r in pending for a in r.decision.eligible_approvers}
        groups = await self.directory.members(named)
        mine = [
            r
            for r in pending
            if is_eligible(user_id, r.decision.eligible_approvers, groups)
            and r.requested_by != user_id
            and all(a.user_id != user_id for a in r.approvals)
            and (r.expires_at is None or r.expires_at > now)
        ]
        open_incidents = await self.store.list_incidents(IncidentStatus.OPEN, limit=OPEN_LIMIT)
        by_id = {i.id: i for i in open_incidents}
        awaiting = Awaiting(user_id=user_id)
        for request in mine:
            incident = by_id.get(request.incident_id)
            if incident is not None:
                awaiting.approvals.append((incident, request))
        awaiting.approvals.sort(key=lambda pair: (pair[0].severity.rank, pair[1].created_at))
        awaiting.commanded = [i for i in open_incidents if i.commander == user_id]
        awaiting.severe = sorted(
            (i for i in open_incidents if i.severity in SEVERE),
            key=lambda i: (i.severity.rank, i.created_at),
        )
        return awaiting
