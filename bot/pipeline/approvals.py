"""Stages 5-6: votes on action requests, execution through the one door, expiry and reminders."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from enum import StrEnum

from bot import actions, metrics, timeline
from bot.actions import ExecutionOutcome, VoteResult, VoteStatus
from bot.errors import NotFound
from bot.models import (
    BOT_ACTOR,
    ActionRequest,
    ActionState,
    ConversationRef,
    EventKind,
    IncidentStatus,
    Vote,
)
from bot.pipeline.escalation import people_to_tell
from bot.pipeline.watching import Watching

log = logging.getLogger(__name__)


class Nudge(StrEnum):
    REMIND = "remind"
    ESCALATE = "escalate"


def nudge_due(request: ActionRequest, now: datetime, every_seconds: float) -> Nudge | None:
    """Remind once ``every_seconds`` after the request opened, then escalate each period."""
    if request.state is not ActionState.PENDING_APPROVAL:
        return None
    if request.expires_at is not None and request.expires_at <= now:
        return None
    last = request.reminded_at or request.created_at
    if now - last < timedelta(seconds=every_seconds):
        return None
    return Nudge.REMIND if request.reminded_at is None else Nudge.ESCALATE


class Approvals(Watching):
    """Votes, execution, and the sweeps that keep waiting requests honest."""

    async def vote(
        self,
        request_id: str,
        user_id: str,
        vote: Vote | str,
        now: datetime,
        *,
        card: ConversationRef | None = None,
        card_hash: str | None = None,
    ) -> VoteResult:
        """Record one vote (who may vote is decided here); enough approvals run the action.

        ``card`` is where the click came from: a click can beat the post's own bookkeeping.
        ``card_hash`` is the plan hash the clicked card carried (invariant 8): a vote cast on
        another plan than the request's current one is refused as out of date, the request is
        re-planned when the policy changed meanwhile (``actions.replan``), and the card is
        refreshed so it shows, and carries, the current plan.
        """
        try:
            request = await self.store.get_action_request(request_id)
        except NotFound:
            metrics.APPROVALS.labels("refused").inc()
            return VoteResult(None, VoteStatus.UNKNOWN_REQUEST, False)
        if card is not None and request.card is None:
            request = await self.remember_card(request.id, card)
        groups = await self.directory.members(request.decision.eligible_approvers)
        result = await actions.record_vote(
            request_id,
            user_id,
            vote,
            store=self.store,
            policy=self.policy,
            now=now,
            group_members=groups,
            card_hash=card_hash,
        )
        metrics.APPROVALS.labels("accepted" if result.accepted else "refused").inc()
        current = result.request or request
        if result.status is VoteStatus.CARD_OUT_OF_DATE:
            current, _ = await actions.replan(
                self.store, self.policy, current.id, now, redactor=self.redactor
            )
            result.request = current
        if current.state is ActionState.APPROVED:
            result.execution = await self.execute_request(current.id, now, groups)
            current = result.request = result.execution.request
        incident = await self.store.get_incident(current.incident_id)
        if result.accepted or result.executed:
            await self.notifier.request_updated(incident, current)
            await self.refresh_card(incident, current)
            return result
        await timeline.note(
            self.store,
            current.incident_id,
            at=now,
            actor=user_id,
            kind=EventKind.ACTION_VOTE_REFUSED,
            message=f"{vote} on {current.proposal.action} refused: {result.status.value}",
            request_id=current.id,
            vote=str(vote),
        )
        if (
            current.state is not ActionState.PENDING_APPROVAL
            or result.status is VoteStatus.CARD_OUT_OF_DATE
        ):
            # A click on a card that still shows buttons for a closed request, or another
            # plan than the request's: fix the card.
            await self.refresh_card(incident, current)
        return result

    async def execute_request(
        self, request_id: str, now: datetime, group_members: dict[str, frozenset[str]]
    ) -> ExecutionOutcome:
        """Run an approved request through ``actions.execute`` (which re-checks everything)."""
        outcome = await actions.execute(
            request_id,
            store=self.store,
            policy=self.policy,
            executors=self.executors,
            now=now,
            group_members=group_members,
            claimant=self.options.replica_id,
            terms=actions.ClaimTerms(
                self.options.action_timeout_seconds, self.options.action_claim_margin_seconds
            ),
        )
        metrics.ACTIONS_EXECUTED.labels(
            outcome.request.state.value if outcome.ran else "not_run"
        ).inc()
        if outcome.ran and outcome.request.state is ActionState.SUCCEEDED:
            # Did it work? An action that declares ``verify`` is watched from here.
            outcome.request = await self.start_verification(outcome.request, now)
        return outcome

    async def expire_requests(self, now: datetime) -> list[ActionRequest]:
        """Sweep: expire pending approvals past their deadline (safe on every replica)."""
        expired = await actions.expire_due(self.store, now)
        for request in expired:
            try:
                incident = await self.store.get_incident(request.incident_id)
            except NotFound:
                continue
            await self.notifier.request_updated(incident, request)
            await self.refresh_card(incident, request)
        return expired

    async def remind_waiting(self, now: datetime) -> int:
        """Sweep: nudge approvers of requests nobody acted on; returns how many were nudged."""
        every = self.options.reminder_seconds
        sent = 0
        for candidate in await self.store.list_action_requests(
            states=[ActionState.PENDING_APPROVAL]
        ):
            if nudge_due(candidate, now, every) is None:
                continue
            try:
                sent += await self._nudge(candidate.id, now, every)
            except Exception:
                # One broken request must not stop the others from being nudged.
                log.exception("reminder failed", extra={"request_id": candidate.id})
        return sent

    async def _nudge(self, request_id: str, now: datetime, every: float) -> int:
        chosen: list[Nudge] = []

        def stamp(request: ActionRequest) -> ActionRequest | None:
            chosen.clear()
            nudge = nudge_due(request, now, every)
            if nudge is None:
                return None
            chosen.append(nudge)
            request.reminded_at = now
            return request

        # Only the replica whose stamp wins sends the nudge.
        request, changed = await actions.transition(self.store, request_id, stamp)
        if not changed:
            return 0
        incident = await self.store.get_incident(request.incident_id)
        if incident.status is not IncidentStatus.OPEN:
            return 0
        # Someone acknowledged the incident: its approvers are reminded, nobody is escalated to.
        escalate = chosen[-1] is Nudge.ESCALATE and incident.acknowledged_at is None
        people: tuple[str, ...] = ()
        message = f"{request.proposal.action} still waits for approval"
        if escalate:
            # The first escalation reaches the commander; later ones the on-call list too.
            later = any(
                e.kind == EventKind.ACTION_ESCALATED and e.data.get("request_id") == request.id
                for e in await self.store.list_events(incident.id)
            )
            people = people_to_tell(self.policy, incident, later=later)
            message += f"; escalated to {', '.join(people) or 'nobody on record'}"
        await timeline.note(
            self.store,
            incident.id,
            at=now,
            actor=BOT_ACTOR,
            kind=EventKind.ACTION_ESCALATED if escalate else EventKind.ACTION_REMINDED,
            message=message,
            request_id=request.id,
            **({"people": list(people)} if escalate else {}),
        )
        await self.notifier.reminded(incident, request, escalate=escalate, people=people)
        return 1
