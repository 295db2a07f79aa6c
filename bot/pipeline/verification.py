"""Did it work? Post-action verification of succeeded actions that declare ``verify``.

After a request succeeds, an action with a ``verify`` block in actions.yaml is watched until
``verify_until`` (its ``within_seconds`` after success). The sweep ``verify_due`` checks each
watched request: the expression through the ``Metrics`` port (true when it returns a non-empty,
non-zero result), or whether every alert of the incident has resolved. The first check that
holds marks it ``verified``; a window that ends first marks it ``not_verified``, records what the
check saw as evidence, pings the commander and triages the incident again.

Safe on every replica: the verdict is written by compare-and-swap only while none is recorded,
and only the replica whose write wins tells people.
"""

from __future__ import annotations

import logging
from datetime import datetime

from bot import actions, incidents, metrics, timeline
from bot.evidence.verdicts import Check, decide
from bot.models import (
    BOT_ACTOR,
    ActionRequest,
    EventKind,
    EvidenceNote,
    IncidentStatus,
    Verification,
)
from bot.pipeline.escalation import people_to_tell
from bot.pipeline.evidence import KEEP_NOTES
from bot.pipeline.triaging import Triaging
from bot.pipeline.watching import Watching, condition
from bot.policy.documents import VerifySpec

log = logging.getLogger(__name__)

VERIFY_PAGE = 200


class Verifying(Triaging, Watching):
    """The sweep that closes verification windows with a verdict (``Watching`` opens them)."""

    async def verify_due(self, now: datetime) -> list[ActionRequest]:
        """Sweep: check every watched request; return those that got a verdict now."""
        decided: list[ActionRequest] = []
        for request in await self.store.list_verifying_requests(limit=VERIFY_PAGE):
            try:
                verdict = await self._verify_one(request, now)
            except Exception:
                # One request that cannot be checked must not stop the others.
                log.exception("verification failed", extra={"request_id": request.id})
                continue
            if verdict is not None:
                decided.append(verdict)
        return decided

    async def _verify_one(self, request: ActionRequest, now: datetime) -> ActionRequest | None:
        if request.verify_until is None:
            return None
        spec = self.policy.actions.get(request.proposal.action)
        verify = spec.verify if spec is not None else None
        if verify is None:
            # The policy no longer asks for it: nothing to judge the action by.
            check = Check(None, "the action no longer declares verify")
        else:
            check = await self.check_verification(request, verify, now)
        verdict = decide(check, now, request.verify_until)
        if verdict is None:
            return None

        def judge(current: ActionRequest) -> ActionRequest | None:
            if current.verification is not None:
                return None
            current.verification = verdict
            return current

        stored, changed = await actions.transition(self.store, request.id, judge)
        if not changed:
            return None
        await self._tell_verdict(stored, verify, check, now)
        return stored

    async def _tell_verdict(
        self, request: ActionRequest, verify: VerifySpec | None, check: Check, now: datetime
    ) -> None:
        verdict = request.verification
        action = request.proposal.action
        metrics.ACTIONS_VERIFIED.labels(action, str(verdict)).inc()
        verified = verdict is Verification.VERIFIED
        what = condition(verify) if verify else "its check"
        message = (
            f"{action} verified: {check.detail or what}"
            if verified
            else f"{action} not verified: {what} did not hold in time ({check.detail})"
        )
        await timeline.note(
            self.store,
            request.incident_id,
            at=now,
            actor=BOT_ACTOR,
            kind=EventKind.ACTION_VERIFIED if verified else EventKind.ACTION_NOT_VERIFIED,
            message=message,
            request_id=request.id,
            check=check.detail,
        )
        incident = await self.store.get_incident(request.incident_id)
        if not verified:
            note = EvidenceNote(at=now, source="verification", text=message, data={
                "request_id": request.id, "action": action, "check": check.detail,
            })
            incident = await incidents.add_evidence(self.store, incident.id, note, keep=KEEP_NOTES)
        people = () if verified else people_to_tell(self.policy, incident)
        await self.notifier.request_verified(incident, request, people=people)
        await self.refresh_card(incident, request)
        if not verified and incident.status is IncidentStatus.OPEN:
            # The fix did not hold: ask again with what the check saw among the evidence.
            await self.triage_incident(incident.id, now, force=True)
