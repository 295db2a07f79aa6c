"""Stage 6, afterwards: executions that outlived their executor, and asking for one again.

A claim on an execution has an owner (the replica) and a deadline. When the deadline passes
with the request still ``executing`` — the process died, the host vanished — nobody knows
whether the side effect happened, so the sweep records ``outcome_unknown`` (terminal), names
the replica on the timeline, updates the card and tells the commander. It never runs anything
again; a person may ask for the action again, which files a new request through policy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from bot import actions, metrics
from bot.errors import NotFound
from bot.models import (
    OPEN_ACTION_STATES,
    ActionRequest,
    ActionState,
    BreakGlass,
    Decision,
    DecisionOutcome,
    Incident,
    IncidentStatus,
    Proposal,
)
from bot.pipeline.diagnostics import Diagnostics
from bot.pipeline.escalation import people_to_tell

log = logging.getLogger(__name__)

# States after which a person may ask for the same proposal again.
RETRYABLE_STATES = (ActionState.OUTCOME_UNKNOWN, ActionState.FAILED)
# Held while one click files the new request, so two clicks on two replicas file one.
AGAIN_LEASE_SECONDS = 60.0


class AgainStatus(StrEnum):
    FILED = "filed"
    UNKNOWN_REQUEST = "unknown_request"
    NOT_RETRYABLE = "not_retryable"
    INCIDENT_CLOSED = "incident_closed"
    ALREADY_ASKED = "already_asked"
    BUSY = "busy"


@dataclass
class AgainResult:
    """What ``request_again`` did: the new request (or the one already filed) and why."""

    status: AgainStatus
    request: ActionRequest | None = None
    previous: ActionRequest | None = None


class Executions(Diagnostics):
    """The lapsed-claim sweep and ``request_again``."""

    async def settle_lapsed_executions(self, now: datetime) -> list[ActionRequest]:
        """Sweep: ``executing`` past its claim -> ``outcome_unknown``; tell people, run nothing.

        Safe on every replica at once: one CAS wins each request, and only the winner writes
        the timeline entry, updates the card and pings the commander.
        """
        settled = await actions.settle_lapsed(self.store, now)
        for request in settled:
            metrics.ACTIONS_EXECUTED.labels(ActionState.OUTCOME_UNKNOWN.value).inc()
            try:
                incident = await self.store.get_incident(request.incident_id)
                people = people_to_tell(self.policy, incident)
                await self.notifier.request_updated(incident, request, people=people)
                await self.refresh_card(incident, request)
            except Exception:
                # The state and the timeline are written; one failed message must not stop
                # the others from being told.
                log.exception(
                    "telling about a lapsed execution failed", extra={"request_id": request.id}
                )
        return settled

    async def request_again(self, request_id: str, user_id: str, now: datetime) -> AgainResult:
        """File a new request for the proposal of a failed or outcome-unknown one.

        The new request is judged by policy afresh (new decision, new approvals, ``user_id``
        as its requester) and links to the old one (``retry_of``). One new request per old
        one: a second click gets the first click's request back.
        """
        try:
            previous = await self.store.get_action_request(request_id)
        except NotFound:
            return AgainResult(AgainStatus.UNKNOWN_REQUEST)
        if previous.state not in RETRYABLE_STATES:
            return AgainResult(AgainStatus.NOT_RETRYABLE, previous=previous)
        async with self.exclusively(f"again:{request_id}", now, AGAIN_LEASE_SECONDS) as held:
            if not held:
                return AgainResult(AgainStatus.BUSY, previous=previous)
            return await self._file_again(previous, user_id, now)

    async def _file_again(
        self, previous: ActionRequest, user_id: str, now: datetime
    ) -> AgainResult:
        incident = await self.store.get_incident(previous.incident_id)
        if incident.status is not IncidentStatus.OPEN:
            return AgainResult(AgainStatus.INCIDENT_CLOSED, previous=previous)
        siblings = await self.store.list_action_requests(incident.id)
        earlier = next((r for r in siblings if r.retry_of == previous.id), None)
        if earlier is not None:
            return AgainResult(AgainStatus.ALREADY_ASKED, earlier, previous)
        decision = await self.judge_follow_up(previous, previous.proposal, siblings, user_id, now)
        request = await self.file_follow_up(
            previous, previous.proposal, decision, user_id, now, retry_of=previous.id
        )
        request = await self.show_follow_up(incident, request, now)
        return AgainResult(AgainStatus.FILED, request, previous)

    # a follow-up request: asked again, an undo, a break-glass ------------------------------
    async def judge_follow_up(
        self,
        source: ActionRequest,
        proposal: Proposal,
        siblings: list[ActionRequest],
        user_id: str,
        now: datetime,
        *,
        break_glass: BreakGlass | None = None,
    ) -> Decision:
        """Policy's decision on a request filed from ``source`` by a person.

        Judged afresh: the incident's triage (or correction), severity and look-alike flags as
        ``source`` was judged with, ``user_id`` as requester, no votes yet, the open requests
        counted, and the break-glass record only when this request carries one.
        """
        base = await actions.evaluation_context(self.store, source, now, {})
        context = replace(
            base,
            requester=user_id,
            approvals=(),
            pending_actions=sum(1 for r in siblings if r.state in OPEN_ACTION_STATES),
            break_glass=break_glass,
        )
        return self.policy.evaluate(proposal, context)

    async def file_follow_up(
        self,
        source: ActionRequest,
        proposal: Proposal,
        decision: Decision,
        user_id: str,
        now: datetime,
        *,
        retry_of: str | None = None,
        undo_of: str | None = None,
        break_glass: BreakGlass | None = None,
    ) -> ActionRequest:
        """Store the judged follow-up of ``source`` on its triage and card, linked to it as
        asked again (``retry_of``), undone (``undo_of``) or filed past a freeze."""
        metrics.POLICY_DECISIONS.labels(decision.outcome.value).inc()
        request = await actions.open_request(
            self.store,
            incident_id=source.incident_id,
            triage_id=source.triage_id,
            proposal=proposal,
            decision=decision,
            policy=self.policy,
            requested_by=user_id,
            now=now,
            ttl_seconds=self.options.approval_ttl_seconds,
            redactor=self.redactor,
            retry_of=retry_of,
            undo_of=undo_of,
            break_glass=break_glass,
        )
        if source.card is not None:
            request = await self.remember_card(request.id, source.card)
        return request

    async def show_follow_up(
        self, incident: Incident, request: ActionRequest, now: datetime
    ) -> ActionRequest:
        """Run a follow-up policy allows outright (read-only), as a triage's would; then tell
        the thread and refresh the card."""
        if request.decision.outcome is DecisionOutcome.ALLOW:
            groups = await self.directory.members(request.decision.eligible_approvers)
            request = (await self.execute_request(request.id, now, groups)).request
        await self.notifier.request_updated(incident, request)
        await self.refresh_card(incident, request)
        return request
