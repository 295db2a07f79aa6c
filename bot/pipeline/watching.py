"""Opening a verification window when a request succeeds, and one look at its condition.

Kept apart from the sweep (``verification.py``) because approvals open windows and the sweep
re-triages: the sweep builds on triaging, which builds on approvals, which build on this.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot import actions, incidents, timeline
from bot.errors import ActionError, EvidenceError
from bot.evidence.templates import render_query
from bot.evidence.verdicts import Check, expression_holds
from bot.models import BOT_ACTOR, ActionRequest, ActionState, EventKind
from bot.pipeline.stage import Stage
from bot.policy.documents import VerifySpec


class Watching(Stage):
    """Start watching a succeeded request whose action declares ``verify``."""

    async def start_verification(self, request: ActionRequest, now: datetime) -> ActionRequest:
        """Open the window when the succeeded request's action declares ``verify``."""
        spec = self.policy.actions.get(request.proposal.action)
        verify = spec.verify if spec is not None else None
        if verify is None or request.state is not ActionState.SUCCEEDED:
            return request
        if verify.expr and self.metrics is None:
            # Nothing could ever check it: watching would only end in a false alarm.
            return request
        until = now + timedelta(seconds=verify.within_seconds)

        def watch(current: ActionRequest) -> ActionRequest | None:
            if current.verify_until is not None or current.verification is not None:
                return None
            current.verify_until = until
            return current

        stored, changed = await actions.transition(self.store, request.id, watch)
        if changed:
            await timeline.note(
                self.store,
                stored.incident_id,
                at=now,
                actor=BOT_ACTOR,
                kind=EventKind.ACTION_VERIFYING,
                message=f"{request.proposal.action}: watching {condition(verify)} "
                f"for {verify.within_seconds:g} s",
                request_id=stored.id,
                verify_until=until.isoformat(),
            )
        return stored

    async def check_verification(
        self, request: ActionRequest, verify: VerifySpec, now: datetime
    ) -> Check:
        """One look at the condition (never raises for an unreachable backend)."""
        if verify.alerts_resolve:
            firing = await incidents.still_firing(self.store, request.incident_id)
            if firing:
                return Check(False, f"{len(firing)} alert(s) still firing")
            return Check(True, "every alert of the incident has resolved")
        if self.metrics is None:
            return Check(None, "no Prometheus is configured")
        target = self.policy.resolve_service(request.proposal.service)
        values = {
            **request.proposal.params,
            "service": target.name,
            "namespace": target.spec.namespace if target.spec else target.name,
        }
        try:
            expr = render_query(verify.expr, values)
            series = await self.metrics.query(expr, now)
        except (ActionError, EvidenceError) as exc:
            return Check(None, str(exc))
        if expression_holds(series):
            return Check(True, f"`{expr}` holds")
        latest = [s.points[-1][1] for s in series if s.points]
        seen = f"returned {latest[:3]}" if latest else "returned no data"
        return Check(False, f"`{expr}` {seen}")


def condition(verify: VerifySpec) -> str:
    """The condition in words, for the timeline and the thread."""
    if verify.alerts_resolve:
        return "the incident's alerts resolving"
    return f"`{verify.expr}`"
