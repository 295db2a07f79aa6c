"""Stage 4, continued: requests policy allows outright run at once, and what they return is
evidence.

A request filed ``approved`` (read-only diagnostics on a standard service, say) runs through
``actions.execute`` as soon as its triage's card is posted: the same door as an approved vote,
with every re-check. Its output is redacted, posted in the incident's thread (cut to fit, with a
visible marker) and recorded whole on the timeline (``action.evidence``).

When the evidence changes the picture, the incident is triaged again, once. The rule, kept
simple on purpose (``actions.outputs``): output has *signal* when the action really ran (live,
not a dry run), succeeded, and returned non-blank text. Signal from the requests of one triage
triggers one forced re-triage; the evidence of that re-triage never triggers another. Every
triage reads the incident's newest evidence with signal next to its alerts.
"""

from __future__ import annotations

import logging
from datetime import datetime

from bot import timeline
from bot.actions.outputs import Evidence, evidence_of
from bot.models import BOT_ACTOR, ActionRequest, ActionState, EventKind, Incident
from bot.pipeline.approvals import Approvals
from bot.pipeline.triaging import TriageResult, Triaging

log = logging.getLogger(__name__)


class Diagnostics(Triaging, Approvals):
    """Runs what policy allows outright after each triage, and re-triages once on its signal.

    Every way into a triage (the queue, ``/incident triage``, the sweep, a re-triage after a
    failed verification) calls ``triage_incident``, so this stage extends it there.
    """

    async def triage_incident(
        self,
        incident_id: str,
        now: datetime,
        *,
        requester: str = BOT_ACTOR,
        force: bool = False,
        on_evidence: bool = False,
    ) -> TriageResult | None:
        """Triage (see ``Triaging.triage_incident``), then run the requests policy allowed
        outright; when their evidence has signal, triage once more (``on_evidence``)."""
        result = await super().triage_incident(incident_id, now, requester=requester, force=force)
        if result is None:
            return None
        result.requests, signal = await self.run_allowed(result.incident, result.requests, now)
        if signal and not on_evidence:
            await self.triage_incident(incident_id, now, force=True, on_evidence=True)
        return result

    async def run_allowed(
        self, incident: Incident, requests: list[ActionRequest], now: datetime
    ) -> tuple[list[ActionRequest], bool]:
        """Execute every ``approved`` one of ``requests`` through ``execute``; post what each
        returned. Returns the requests as stored afterwards, and whether any output had signal."""
        current: list[ActionRequest] = []
        signal = False
        for request in requests:
            if request.state is not ActionState.APPROVED:
                current.append(request)
                continue
            groups = await self.directory.members(request.decision.eligible_approvers)
            outcome = await self.execute_request(request.id, now, groups)
            current.append(outcome.request)
            if outcome.ran:
                evidence = evidence_of(outcome.request, self.redactor)
                await self._record_evidence(incident, evidence, now)
                signal = signal or evidence.signal
        if current != requests:
            await self.refresh_card(incident, current[0])
        return current, signal

    async def _record_evidence(self, incident: Incident, evidence: Evidence, now: datetime) -> None:
        request = evidence.request
        await timeline.note(
            self.store,
            incident.id,
            at=now,
            actor=BOT_ACTOR,
            kind=EventKind.ACTION_EVIDENCE,
            message=f"{request.proposal.action} on {request.proposal.service} returned "
            f"{len(evidence.text):,} characters"
            + (" with signal: the incident is triaged again" if evidence.signal else ""),
            request_id=request.id,
            action=request.proposal.action,
            output=evidence.text,
            signal=evidence.signal,
        )
        try:
            latest = await self.store.get_incident(incident.id)
            await self.notifier.evidence_gathered(latest, request, evidence.text)
        except Exception:
            # The evidence is on the timeline; a message that failed must not stop the flow.
            log.exception("posting evidence failed", extra={"request_id": request.id})
