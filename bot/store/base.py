"""The Store port: what the pipeline needs from storage, whatever the backend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from bot.models import (
    ActionRequest,
    ActionState,
    Alert,
    Event,
    Feedback,
    Incident,
    IncidentStatus,
    RawPayload,
    Triage,
)


@runtime_checkable
class Store(Protocol):
    """Persistence for incidents and everything hanging off them.

    Writes that race between replicas are compare-and-swap: ``update_*`` takes the
    version the caller read and raises ``Conflict`` when someone else wrote first.
    """

    async def ping(self) -> None:
        """Raise StoreError when the backend is unreachable."""

    async def close(self) -> None:
        """Release connections."""

    # raw payloads and alerts
    async def add_raw(self, raw: RawPayload) -> None: ...

    async def get_raw(self, raw_id: str) -> RawPayload: ...

    async def add_alert(self, alert: Alert) -> bool:
        """Store an alert; False (and nothing written) when its dedup key is already stored."""

    async def add_alerts(
        self, alerts: Sequence[Alert], counts: Mapping[str, int] | None = None
    ) -> list[bool]:
        """Store one payload's alerts; per alert True when stored, False for a resend.

        In input order; a dedup key repeated within the batch is stored once (its first
        occurrence). With ``counts`` (incident id -> alerts of the batch filed under it) each
        of those incidents gets ``alert_count`` raised by the alerts actually stored for it,
        ``updated_at`` moved forward to their newest ``received_at`` and ``version`` bumped.
        SQLite does all of it in one transaction; Cosmos has no cross-partition transaction
        and stores the alerts first, then counts each incident under etag CAS.
        """

    async def get_alert(self, alert_id: str) -> Alert: ...

    async def list_alerts(self, incident_id: str, limit: int = 100) -> list[Alert]: ...

    # incidents
    async def open_incident_for_group(self, candidate: Incident) -> tuple[Incident, bool]:
        """Return the open incident for ``candidate.group_key``, creating ``candidate`` if none.

        Atomic across replicas: two callers racing on one group key get the same incident.
        The boolean is True when this call created it.
        """

    async def create_incident(self, incident: Incident) -> None: ...

    async def latest_incident_for_group(self, group_key: str) -> Incident | None:
        """The most recently updated incident (any status) with this group key."""

    async def get_incident(self, incident_id: str) -> Incident: ...

    async def update_incident(self, incident: Incident) -> Incident:
        """CAS on ``incident.version``; returns the stored copy with the next version."""

    async def list_incidents(
        self, status: IncidentStatus | None = None, limit: int = 50
    ) -> list[Incident]:
        """Most recently updated first."""

    async def list_untriaged_incidents(
        self, limit: int = 100, after: str | None = None
    ) -> list[Incident]:
        """Open incidents with alerts (stored or counted) and no triage, oldest first.

        Ordered by ``created_at``, then id. ``after`` is the id of the last incident of the
        previous page; NotFound when no incident has that id.
        """

    # triage
    async def add_triage(self, triage: Triage) -> None: ...

    async def list_triages(self, incident_id: str) -> list[Triage]:
        """Oldest first."""

    # action requests
    async def add_action_request(self, request: ActionRequest) -> None: ...

    async def get_action_request(self, request_id: str) -> ActionRequest: ...

    async def update_action_request(self, request: ActionRequest) -> ActionRequest:
        """CAS on ``request.version``; returns the stored copy with the next version."""

    async def list_action_requests(
        self,
        incident_id: str | None = None,
        states: list[ActionState] | None = None,
        limit: int = 500,
    ) -> list[ActionRequest]:
        """Oldest first."""

    # timeline and feedback
    async def append_event(self, event: Event) -> Event:
        """Append to the incident's timeline; returns the event with its sequence number."""

    async def list_events(self, incident_id: str) -> list[Event]:
        """In the order they were appended."""

    async def add_feedback(self, feedback: Feedback) -> None: ...

    async def list_feedback(self, incident_id: str) -> list[Feedback]: ...

    # coordination between replicas
    async def acquire_lease(self, name: str, owner: str, now: datetime, ttl_seconds: float) -> bool:
        """Take or renew a named lease; False while another owner holds an unexpired one."""

    async def add_token_usage(self, day: str, tokens: int) -> int:
        """Add to a day's LLM token counter and return the new total."""

    async def get_token_usage(self, day: str) -> int: ...
