"""The log-only Notifier, used when no chat tool is configured: nothing is posted anywhere."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from bot.models import ActionRequest, Alert, Category, ConversationRef, Incident, Triage

if TYPE_CHECKING:
    from bot.evidence.series import SeriesSummary

log = logging.getLogger(__name__)


class SilentNotifier:
    """Each message is logged once (with its ids) instead of posted."""

    async def incident_triaged(
        self, incident: Incident, triage: Triage, requests: list[ActionRequest], alerts: list[Alert]
    ) -> ConversationRef | None:
        log.info(
            "chat off: triage card not posted",
            extra={"incident_id": incident.id, "triage_id": triage.id},
        )
        return None

    async def card_changed(
        self,
        incident: Incident,
        triage: Triage,
        requests: list[ActionRequest],
        alerts: list[Alert],
        card: ConversationRef,
    ) -> None:
        log.info("chat off: card not updated", extra={"incident_id": incident.id})

    async def request_updated(
        self, incident: Incident, request: ActionRequest, people: Sequence[str] = ()
    ) -> None:
        log.info(
            "chat off: request update not posted",
            extra={"incident_id": incident.id, "request_id": request.id},
        )

    async def reminded(
        self,
        incident: Incident,
        request: ActionRequest,
        escalate: bool,
        people: Sequence[str] = (),
    ) -> None:
        log.info(
            "chat off: reminder not posted",
            extra={"incident_id": incident.id, "request_id": request.id},
        )

    async def incident_resolved(self, incident: Incident, actor: str, note: str) -> None:
        log.info("chat off: resolution not posted", extra={"incident_id": incident.id})

    async def alert_joined(
        self, incident: Incident, where: ConversationRef | None, alerts: Sequence[Alert] = ()
    ) -> None:
        log.info("chat off: repeat alert not answered", extra={"incident_id": incident.id})

    async def incident_declared(
        self,
        incident: Incident,
        declarer: str,
        asked_in: ConversationRef,
        new_channel: bool,
        responders: Sequence[str] = (),
    ) -> tuple[ConversationRef | None, str]:
        log.info("chat off: declaration not announced", extra={"incident_id": incident.id})
        return None, ""

    async def status_update(self, incident: Incident, author: str, text: str) -> None:
        log.info("chat off: status update not posted", extra={"incident_id": incident.id})

    async def update_requested(
        self, incident: Incident, people: Sequence[str], quiet_minutes: int
    ) -> None:
        log.info(
            "chat off: update request not posted",
            extra={"incident_id": incident.id, "quiet_minutes": quiet_minutes},
        )

    async def accuracy_drifted(
        self, category: Category, accuracy: float, judged: int, threshold: float
    ) -> None:
        log.warning(
            "chat off: accuracy drift not posted",
            extra={"category": category.value, "accuracy": accuracy, "judged": judged},
        )

    async def evidence_chart(
        self, incident: Incident, png: bytes, title: str, summary: SeriesSummary
    ) -> bool:
        log.info(
            "chat off: evidence chart not posted",
            extra={"incident_id": incident.id, "summary": summary.text()},
        )
        return False

    async def request_verified(
        self, incident: Incident, request: ActionRequest, people: Sequence[str] = ()
    ) -> None:
        log.info(
            "chat off: verification not posted",
            extra={"incident_id": incident.id, "request_id": request.id},
        )

    async def evidence_gathered(
        self, incident: Incident, request: ActionRequest, output: str
    ) -> None:
        log.info(
            "chat off: evidence not posted",
            extra={"incident_id": incident.id, "request_id": request.id, "chars": len(output)},
        )

    async def glass_broken(self, incident: Incident, request: ActionRequest) -> None:
        log.warning(
            "chat off: break glass not posted",
            extra={"incident_id": incident.id, "request_id": request.id},
        )


class RecordingNotifier(SilentNotifier):
    """The Notifier fake: remembers every call as (method, incident id, detail), posts nothing.

    Ships with the code so tests and tools exercise the real pipeline without a chat tool.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.nudges: list[tuple[str, bool]] = []
        # Whom each escalation, unknown outcome or failed verification was to mention.
        self.pinged: list[tuple[str, str, tuple[str, ...]]] = []
        self.charts: list[bytes] = []

    async def incident_triaged(
        self, incident: Incident, triage: Triage, requests: list[ActionRequest], alerts: list[Alert]
    ) -> ConversationRef | None:
        self.calls.append(("incident_triaged", incident.id, triage.id))
        return None

    async def card_changed(
        self,
        incident: Incident,
        triage: Triage,
        requests: list[ActionRequest],
        alerts: list[Alert],
        card: ConversationRef,
    ) -> None:
        self.calls.append(("card_changed", incident.id, card.channel))

    async def request_updated(
        self, incident: Incident, request: ActionRequest, people: Sequence[str] = ()
    ) -> None:
        self.calls.append(("request_updated", incident.id, f"{request.id}:{request.state.value}"))
        if people:
            self.pinged.append(("request_updated", request.id, tuple(people)))

    async def reminded(
        self,
        incident: Incident,
        request: ActionRequest,
        escalate: bool,
        people: Sequence[str] = (),
    ) -> None:
        self.calls.append(("reminded", incident.id, request.id))
        self.nudges.append((request.id, escalate))
        if escalate:
            self.pinged.append(("reminded", request.id, tuple(people)))

    async def incident_resolved(self, incident: Incident, actor: str, note: str) -> None:
        self.calls.append(("incident_resolved", incident.id, actor))

    async def alert_joined(
        self, incident: Incident, where: ConversationRef | None, alerts: Sequence[Alert] = ()
    ) -> None:
        self.calls.append(("alert_joined", incident.id, where.channel if where else ""))

    async def incident_declared(
        self,
        incident: Incident,
        declarer: str,
        asked_in: ConversationRef,
        new_channel: bool,
        responders: Sequence[str] = (),
    ) -> tuple[ConversationRef | None, str]:
        self.calls.append(("incident_declared", incident.id, declarer))
        return None, ""

    async def evidence_chart(
        self, incident: Incident, png: bytes, title: str, summary: SeriesSummary
    ) -> bool:
        self.calls.append(("evidence_chart", incident.id, summary.text()))
        self.charts.append(png)
        return True

    async def request_verified(
        self, incident: Incident, request: ActionRequest, people: Sequence[str] = ()
    ) -> None:
        self.calls.append(("request_verified", incident.id, f"{request.id}:{request.verification}"))
        if people:
            self.pinged.append(("request_verified", request.id, tuple(people)))

    async def evidence_gathered(
        self, incident: Incident, request: ActionRequest, output: str
    ) -> None:
        self.calls.append(("evidence_gathered", incident.id, f"{request.id}:{output}"))

    async def glass_broken(self, incident: Incident, request: ActionRequest) -> None:
        self.calls.append(("glass_broken", incident.id, request.id))

    async def status_update(self, incident: Incident, author: str, text: str) -> None:
        self.calls.append(("status_update", incident.id, f"{author}:{text}"))

    async def update_requested(
        self, incident: Incident, people: Sequence[str], quiet_minutes: int
    ) -> None:
        self.calls.append(("update_requested", incident.id, ",".join(people)))

    async def accuracy_drifted(
        self, category: Category, accuracy: float, judged: int, threshold: float
    ) -> None:
        self.calls.append(("accuracy_drifted", "", f"{category.value}:{accuracy:.2f}/{judged}"))


class NoPeople:
    """No chat tool to ask: user ids stay ids."""

    async def names(self, user_ids: Iterable[str]) -> dict[str, str]:
        """Nobody has a display name."""
        return {}
