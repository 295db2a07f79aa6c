"""The ports: every capability the pipeline needs, as a Protocol, whatever provides it.

    Store           incidents and what hangs off them (alerts, triages, requests, timeline)
    Coordination    what replicas share besides aggregates: leases, claims, counters
    Deliveries      the durable outbox: every outgoing chat message, written before it is sent
    Backend         Store + Coordination + Deliveries, as both shipped backends provide them
    Courier         sends one delivery to the chat tool and says how it went
    Postbox         writes a delivery and tries it at once (the chat adapter's way out)
    Notifier        telling people what happened (Slack, or a log when chat is off)
    Directory       who belongs to an approver group
    People          display names of chat users
    RunbookSearch   runbook retrieval, refreshed when the files change
    Triager         incident + context -> Triage (rules engine or a model)
    ChatGateway     one model conversation with structured output
    Executor        runs one rendered plan (only ``actions.execute`` calls it)
    Metrics         instant and range queries against a metrics backend (Prometheus)
    Charts          draws a chart of series as PNG bytes
    Clock           the wall clock, so the middle never reads it

Adapters live in ``bot/store``, ``bot/slack``, ``bot/retrieval``, ``bot/triage`` and
``bot/actions/executors.py``; ``bot/compose`` builds them. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from bot.deliveries import Delivery
from bot.models import (
    ActionRequest,
    ActionState,
    Alert,
    Category,
    ConversationRef,
    Event,
    Feedback,
    Incident,
    IncidentStatus,
    RawPayload,
    RunbookChunk,
    Triage,
)

if TYPE_CHECKING:
    # Only for the Executor signature; importing bot.actions here would be circular.
    from bot.actions.plans import ExecutionPlan
    from bot.evidence.series import Chart, Series, SeriesSummary


@runtime_checkable
class Store(Protocol):
    """Persistence for incidents and everything hanging off them.

    Writes that race between replicas are compare-and-swap: ``update_*`` takes the version
    the caller read and raises ``Conflict`` when someone else wrote first (see ``bot.cas``).
    """

    async def ping(self) -> None:
        """Raise StoreError when the backend is unreachable."""

    async def close(self) -> None:
        """Release connections."""

    # raw payloads and alerts
    async def add_raw(self, raw: RawPayload) -> None: ...

    async def get_raw(self, raw_id: str) -> RawPayload: ...

    async def prune_raw(self, before: datetime, limit: int = 1000) -> int:
        """Delete up to ``limit`` raw payloads received before ``before``, oldest first;
        return how many went."""

    async def add_alert(self, alert: Alert) -> bool:
        """Store an alert; False (and nothing written) when its dedup key is already stored."""

    async def add_alerts(
        self,
        alerts: Sequence[Alert],
        counts: Mapping[str, int] | None = None,
        *,
        raw: RawPayload | None = None,
    ) -> list[bool]:
        """Store one payload's alerts (and its raw body); per alert True when stored, False
        for a resend.

        In input order; a dedup key repeated within the batch is stored once (its first
        occurrence). With ``counts`` (incident id -> alerts of the batch filed under it) each
        of those incidents gets ``alert_count`` raised by the firing alerts actually stored for
        it (a resolved notice is the end of an alert already counted, not another alert),
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

    async def get_incident_by_number(self, number: int) -> Incident:
        """The incident numbered ``number`` (``INC-42``); raises NotFound."""

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

    async def list_verifying_requests(self, limit: int = 200) -> list[ActionRequest]:
        """Succeeded requests being watched (``verify_until`` set, no ``verification`` yet),
        oldest first."""

    async def list_action_requests_since(
        self, since: datetime, limit: int = 500, after: str | None = None
    ) -> list[ActionRequest]:
        """Requests of every incident created at or after ``since``, oldest first.

        A page at a time: ``after`` is the id of the last request of the previous page
        (NotFound when no request has that id); the next page starts after it.
        """

    # timeline and feedback
    async def append_event(self, event: Event) -> Event:
        """Append to the incident's timeline; returns the event with its sequence number and
        its links in the incident's hash chain (``bot.audit.chained``). Concurrent appends to
        one incident from any number of replicas leave one linear chain."""

    async def list_events(self, incident_id: str) -> list[Event]:
        """In the order they were appended."""

    async def add_feedback(self, feedback: Feedback) -> None: ...

    async def list_feedback(self, incident_id: str) -> list[Feedback]: ...


@runtime_checkable
class Coordination(Protocol):
    """What replicas coordinate through besides aggregates: leases and shared counters."""

    async def acquire_lease(self, name: str, owner: str, now: datetime, ttl_seconds: float) -> bool:
        """Take or renew a named lease; False while another owner holds an unexpired one."""

    async def release_lease(self, name: str, owner: str, now: datetime) -> None:
        """Let a lease go early (only if ``owner`` still holds it)."""

    async def release_leases_of(
        self, owner_prefix: str, now: datetime, *, keep_prefix: str
    ) -> list[str]:
        """Let go every unexpired lease whose owner starts with ``owner_prefix`` but not with
        ``keep_prefix`` (a restarted replica's earlier boots); return the leases' names."""

    async def add_token_usage(self, day: str, tokens: int) -> int:
        """Add to a day's LLM token counter and return the new total."""

    async def get_token_usage(self, day: str) -> int: ...

    async def join_lease(self, name: str, owner: str, now: datetime, ttl_seconds: float) -> str:
        """Take the lease if it is free or lapsed, else keep its holder; return the holder.

        Either way the holder's lease is extended to ``now + ttl_seconds`` once less than
        half of that remains, so callers agreeing on one value write rarely.
        """

    async def lease_holder(self, name: str, now: datetime) -> str | None:
        """Who holds an unexpired lease, without taking or extending it."""

    async def add_to_window(self, name: str, bucket: int, amount: int, span: int) -> int:
        """Add to counter ``name`` in time bucket ``bucket``; return its total over ``span``
        buckets ending with this one (``amount`` 0 only reads)."""

    async def next_number(self, sequence: str) -> int:
        """The next value of a monotonic sequence (1, 2, …); no two callers on any replica get
        the same value. Incidents are numbered from ``"incident"`` when they are created."""


@runtime_checkable
class Deliveries(Protocol):
    """The durable outbox. Claims and state changes are compare-and-swap on ``version``."""

    async def add_delivery(self, delivery: Delivery) -> None: ...

    async def get_delivery(self, delivery_id: str) -> Delivery: ...

    async def update_delivery(self, delivery: Delivery) -> Delivery:
        """CAS on ``delivery.version``; returns the stored copy with the next version."""

    async def list_due_deliveries(self, now: datetime, limit: int = 100) -> list[Delivery]:
        """Pending, due by ``now``, and unclaimed or with a lapsed claim; soonest due first."""

    async def list_card_deliveries(self, card: str) -> list[Delivery]:
        """Every delivery of one card (any state), in ``seq`` order."""

    async def list_unreported_deliveries(self, limit: int = 100) -> list[Delivery]:
        """Finished deliveries whose outcome the pipeline has not recorded yet, oldest first."""

    async def delivery_backlog(self) -> tuple[int, datetime | None]:
        """How many deliveries are pending, and when the oldest of them was written."""

    async def prune_deliveries(self, before: datetime, limit: int = 1000) -> int:
        """Delete up to ``limit`` deliveries written before ``before`` that are finished
        (delivered or superseded) and recorded, oldest first; return how many went. Failed
        ones stay: they are the record of what never reached the chat tool."""


class Backend(Store, Coordination, Deliveries, Protocol):
    """A store that also coordinates replicas and keeps the outbox: SQLite and Cosmos are."""


@dataclass(frozen=True)
class Sent:
    """One attempt's outcome. ``permanent``: trying again cannot help (a refused channel)."""

    ok: bool
    ts: str | None = None
    error: str = ""
    retry_after: float | None = None
    permanent: bool = False


class Courier(Protocol):
    """Sends one delivery to the chat tool; never raises for what the chat tool answered."""

    async def send(self, delivery: Delivery, thread: str | None) -> Sent:
        """Post or update with ``delivery.payload``; ``thread`` is the resolved message id."""
        ...


class Postbox(Protocol):
    """Where the chat adapter puts what it says: stored first, then tried at once."""

    async def send(self, delivery: Delivery) -> Delivery:
        """Store ``delivery``, try it now if nothing holds it back; its state afterwards."""
        ...


@runtime_checkable
class Notifier(Protocol):
    """Tells people what happened; Slack implements it, Slack-less runs log it.

    It reads nothing from the store and writes nothing to it: where it posted comes back as a
    ``ConversationRef`` and the pipeline records it.
    """

    async def incident_triaged(
        self, incident: Incident, triage: Triage, requests: list[ActionRequest], alerts: list[Alert]
    ) -> ConversationRef | None:
        """Post the triage card; returns where the card is (channel + message), if posted."""

    async def card_changed(
        self,
        incident: Incident,
        triage: Triage,
        requests: list[ActionRequest],
        alerts: list[Alert],
        card: ConversationRef,
    ) -> None:
        """Re-render the card at ``card`` with the current state of every proposal."""

    async def request_updated(
        self, incident: Incident, request: ActionRequest, people: Sequence[str] = ()
    ) -> None:
        """Say in the incident's thread what happened to one request (its state says what); an
        unknown outcome mentions ``people`` (user or group ids the pipeline chose)."""

    async def reminded(
        self,
        incident: Incident,
        request: ActionRequest,
        escalate: bool,
        people: Sequence[str] = (),
    ) -> None:
        """Nudge the approvers of a waiting request; an escalation mentions ``people`` (the
        commander, then the service's escalation list: ``pipeline.escalation``), never the
        whole channel."""

    async def incident_resolved(self, incident: Incident, actor: str, note: str) -> None:
        """Say that the incident is resolved, by whom and why."""

    async def alert_joined(
        self, incident: Incident, where: ConversationRef | None, alerts: Sequence[Alert] = ()
    ) -> None:
        """Follow-up ``alerts`` of an open incident arrived (at ``where``, an alert channel's
        message, if there): one short line in the incident's thread with the new counts."""

    async def incident_declared(
        self,
        incident: Incident,
        declarer: str,
        asked_in: ConversationRef,
        new_channel: bool,
        responders: Sequence[str] = (),
    ) -> tuple[ConversationRef | None, str]:
        """Announce a declared incident (in a new channel if asked, which the commander and the
        service's ``responders`` are invited to, the announcement pinned); (where, problem)."""

    async def evidence_chart(
        self, incident: Incident, png: bytes, title: str, summary: SeriesSummary
    ) -> bool:
        """Share a chart (PNG bytes) with its summary in the incident's thread; True if it did."""

    async def request_verified(
        self, incident: Incident, request: ActionRequest, people: Sequence[str] = ()
    ) -> None:
        """Say in the thread whether a succeeded action held (``request.verification``); on
        ``not_verified`` ``people`` (the commander, else on-call escalation) are pinged."""

    async def evidence_gathered(
        self, incident: Incident, request: ActionRequest, output: str
    ) -> None:
        """Post what an action that ran by itself returned (redacted) in the incident's thread,
        cut to fit with a visible marker."""

    async def glass_broken(self, incident: Incident, request: ActionRequest) -> None:
        """Say in the thread, and in the security channel, who broke the glass of a freeze for
        ``request`` (its ``break_glass``) and why."""

    async def status_update(self, incident: Incident, author: str, text: str) -> None:
        """Post a status update (already redacted) in the incident's conversation and in the
        broadcast channel, if one is configured."""

    async def update_requested(
        self, incident: Incident, people: Sequence[str], quiet_minutes: int
    ) -> None:
        """Ask for a status update in the incident's conversation, mentioning ``people`` (whom
        ``escalation.people_to_tell`` chose; never the whole channel): there has been none for
        ``quiet_minutes``."""

    async def accuracy_drifted(
        self, category: Category, accuracy: float, judged: int, threshold: float
    ) -> None:
        """Say in the drift channel, if one is configured, that triage's accuracy on
        ``category`` over its last ``judged`` judged incidents fell below ``threshold``."""


class Directory(Protocol):
    """Who is in an approver group; a user id stands for itself."""

    async def members(self, approver_ids: Iterable[str]) -> dict[str, frozenset[str]]:
        """For each group id among ``approver_ids``, its members (cached by the adapter)."""


class People(Protocol):
    """Display names of chat users (for files people read outside the chat tool)."""

    async def names(self, user_ids: Iterable[str]) -> dict[str, str]:
        """``{user id: display name}`` for the ids it can resolve (cached by the adapter)."""
        ...


class RunbookSearch(Protocol):
    """Runbook retrieval; blocking, so the pipeline calls it in a worker thread."""

    def search(
        self,
        query: str,
        k: int = 4,
        *,
        service: str | None = None,
        category: str | None = None,
        prefer_category: str | None = None,
    ) -> list[RunbookChunk]:
        """``category`` filters; ``prefer_category`` ranks that category's runbooks first
        without dropping the others."""

    def refresh(self) -> bool:
        """Re-index if the runbook files changed; True when it rebuilt."""

    def warm(self) -> None:
        """Open and index once (idempotent); called off the event loop after start-up."""


class Triager(Protocol):
    """Turns an incident and its context into a Triage; never raises for bad model output."""

    async def triage(
        self,
        incident: Incident,
        alerts: list[Alert],
        runbooks: list[RunbookChunk],
        allowed_actions: list[str],
        now: datetime,
    ) -> Triage: ...


@dataclass(frozen=True)
class ChatMessage:
    """One chat message sent to (or received from) a model."""

    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class Completion:
    """What one successful call returned: the reply text and its checked token counts.

    ``usage_problems`` says what was wrong with the counts the server reported, if anything.
    """

    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    usage_problems: tuple[str, ...] = ()


class ChatGateway(Protocol):
    """Sends a conversation to a model and returns its reply; raises TriageError."""

    provider: str
    model: str

    async def complete(self, messages: list[ChatMessage], schema: dict[str, Any]) -> Completion:
        """One completion (with the gateway's own retries) constrained by ``schema``."""
        ...


class Clock(Protocol):
    """The wall clock; the middle takes ``now`` as a value, the edges ask this."""

    def __call__(self) -> datetime: ...


@dataclass(frozen=True)
class RunReport:
    """What an executor reports: success, details for the timeline, an error message if any."""

    ok: bool
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class Executor(Protocol):
    """Runs one rendered plan. Only ``actions.execute`` calls executors."""

    async def run(self, plan: ExecutionPlan) -> RunReport: ...


Executors = Mapping[str, Executor]


class Metrics(Protocol):
    """Queries a metrics backend; raises EvidenceError when it cannot answer."""

    async def query(self, expr: str, at: datetime | None = None) -> list[Series]:
        """An instant query: one sample per series (at ``at``, or the server's now)."""
        ...

    async def query_range(
        self, expr: str, start: datetime, end: datetime, step_seconds: float
    ) -> list[Series]:
        """A range query: every ``step_seconds`` from ``start`` to ``end``."""
        ...


class Charts(Protocol):
    """Draws charts; blocking (CPU), so the pipeline calls it in a worker thread."""

    def render(self, chart: Chart) -> bytes:
        """The chart as PNG bytes."""
        ...
