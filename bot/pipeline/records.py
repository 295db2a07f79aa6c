"""Reading the record back for audits: decision history for policy replay, the timeline's hash
chains, and an incident's evidence bundle. Reads only; nothing here writes to the store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from typing import Any

from bot import actions, audit
from bot.models import OPEN_ACTION_STATES, ActionRequest, ActionState, IncidentStatus
from bot.pipeline.stage import Stage
from bot.policy.replay import Filed

HISTORY_PAGE = 200


class Records(Stage):
    """Audit reads over the store."""

    async def decision_history(self, since: datetime) -> AsyncIterator[Filed]:
        """Every request filed since ``since``, oldest first, with the context it was judged
        in as far as the store still knows it (the incident's severity and flags as stored
        now, the triage's category and confidence, the open requests before it)."""
        after: str | None = None
        siblings: dict[str, list[ActionRequest]] = {}
        while True:
            page = await self.store.list_action_requests_since(since, HISTORY_PAGE, after)
            for request in page:
                if request.incident_id not in siblings:
                    siblings[request.incident_id] = await self.store.list_action_requests(
                        request.incident_id, limit=10_000
                    )
                context = await actions.evaluation_context(
                    self.store, request, request.created_at, {}
                )
                context = replace(
                    context,
                    approvals=(),
                    pending_actions=_open_before(request, siblings[request.incident_id]),
                    now=request.decision.decided_at or request.created_at,
                )
                yield Filed(
                    request_id=request.id,
                    incident_id=request.incident_id,
                    proposal=request.proposal,
                    context=context,
                    decision=request.decision,
                )
            if len(page) < HISTORY_PAGE:
                return
            after = page[-1].id

    async def audit_chain(self, incident_id: str) -> audit.ChainReport:
        """Verify one incident's timeline chain (NotFound for an unknown incident)."""
        await self.store.get_incident(incident_id)
        return audit.verify_chain(incident_id, await self.store.list_events(incident_id))

    async def audit_chains(self, limit: int) -> list[audit.ChainReport]:
        """Verify the chains of up to ``limit`` incidents, most recently updated first."""
        found = await self.store.list_incidents(None, limit=limit)
        open_first = sorted(found, key=lambda i: i.status is not IncidentStatus.OPEN)
        return [audit.verify_chain(i.id, await self.store.list_events(i.id)) for i in open_first]

    async def evidence(self, incident_id: str, now: datetime) -> dict[str, Any]:
        """An incident's evidence bundle (``bot.audit.build_bundle``)."""
        incident = await self.store.get_incident(incident_id)
        return audit.build_bundle(
            incident.model_dump(mode="json"),
            [a.model_dump(mode="json") for a in await self.store.list_alerts(incident_id, 10_000)],
            [t.model_dump(mode="json") for t in await self.store.list_triages(incident_id)],
            [
                r.model_dump(mode="json")
                for r in await self.store.list_action_requests(incident_id, limit=10_000)
            ],
            await self.store.list_events(incident_id),
            exported_at=now.isoformat(),
        )


def _open_before(request: ActionRequest, siblings: list[ActionRequest]) -> int:
    """How many of the incident's earlier requests were still open when ``request`` was filed:
    open now, or changed after it (filed blocked, a request was never open)."""
    count = 0
    for sibling in siblings:
        if sibling.id == request.id:
            break
        filed_blocked = (
            sibling.state is ActionState.BLOCKED and sibling.updated_at == sibling.created_at
        )
        if filed_blocked:
            continue
        if sibling.state in OPEN_ACTION_STATES or sibling.updated_at > request.created_at:
            count += 1
    return count
