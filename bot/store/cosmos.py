"""The scale-out store: Azure Cosmos DB (NoSQL API) through ``azure.cosmos.aio``.

Same contract as the SQLite store (``bot.ports.Store``). Races between replicas are settled by
the service, never by a process: deterministic ids make ``create`` the atomic claim (alert dedup
keys, group pointers), and ETag compare-and-swap guards every read-modify-write (incidents,
action requests, counters, leases). Stored items keep the model under ``doc`` and copy the
fields that queries filter or sort on to the top level.
"""

from __future__ import annotations

import asyncio
import random
import weakref
from collections import Counter, OrderedDict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel

from bot import audit
from bot.errors import Conflict, NotFound, StoreError
from bot.models import (
    INCIDENT_SEQUENCE,
    ActionRequest,
    ActionState,
    Alert,
    AlertStatus,
    Event,
    Feedback,
    Incident,
    IncidentStatus,
    RawPayload,
    Triage,
)
from bot.store import cosmos_groups as groups
from bot.store import cosmos_wire as wire
from bot.store.cosmos_deliveries import CosmosDeliveries
from bot.store.cosmos_items import (
    ALERT_KEYS,
    ALERTS,
    COUNTERS,
    EVENTS,
    FEEDBACK,
    INCIDENTS,
    LEASES,
    RAW,
    REQUESTS,
    TRIAGES,
    CosmosItems,
    Item,
)

M = TypeVar("M", bound=BaseModel)

CAS_ATTEMPTS = 60
UNFILED = ""  # partition of alerts that belong to no incident (a resolve with nothing open)
_REQUEST_PARTITIONS_KEPT = 10_000
# Creates in flight for one add_alerts call: enough to hide round trips, few enough that one
# storm payload cannot monopolise the client's connection pool.
ALERT_BATCH_CONCURRENCY = 16
UNTRIAGED_PAGE = 50


def _doc(value: BaseModel) -> dict[str, Any]:
    return value.model_dump(mode="json")


def _load(model: type[M], item: Item) -> M:
    return model.model_validate(item["doc"])


def _event_place(seq: int) -> str:
    """An event's item id: its place in the incident's timeline (events before the hash chain
    kept their own ids, which never collide with these)."""
    return f"seq-{seq:012d}"


async def _backoff(attempt: int) -> None:
    """A short, jittered pause between lost compare-and-swap rounds."""
    await asyncio.sleep(min(0.002 * (2.0 ** min(attempt, 6)), 0.1) * random.random())


class CosmosStore(CosmosDeliveries):
    """Store on Azure Cosmos DB; safe for any number of replicas sharing one database.

    Retention: with ``raw_ttl_seconds`` / ``outbox_ttl_seconds`` each raw payload, and each
    delivery once it is finished and recorded, carries a per-item ``ttl`` and Cosmos DB deletes
    it on its own (the containers are created with ``defaultTtl`` -1; an account or emulator
    without TTL leaves them, and ``prune_raw`` / ``prune_deliveries`` delete them instead).
    """

    def __init__(
        self,
        items: CosmosItems,
        *,
        raw_ttl_seconds: int | None = None,
        outbox_ttl_seconds: int | None = None,
    ) -> None:
        self.items = items
        self.raw_ttl_seconds = raw_ttl_seconds
        self.outbox_ttl_seconds = outbox_ttl_seconds
        # request id -> incident id (never changes), so votes on a request are point reads.
        self._request_partitions: OrderedDict[str, str] = OrderedDict()
        # incident id -> the lock its appends take in this process (dropped when unused).
        self._event_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    async def open(self) -> None:
        """Connect and create missing containers; every other call does this on first use."""
        await self.items.open()

    async def ping(self) -> None:
        await self.items.ping()

    async def close(self) -> None:
        await self.items.close()

    # raw payloads and alerts
    async def add_raw(self, raw: RawPayload) -> None:
        body: Item = {"id": raw.id, "receivedAt": wire.instant(raw.received_at), "doc": _doc(raw)}
        if self.raw_ttl_seconds is not None:
            body["ttl"] = self.raw_ttl_seconds
        await self.items.create(RAW, body, f"raw payload {raw.id}")

    async def get_raw(self, raw_id: str) -> RawPayload:
        return _load(RawPayload, await self.items.read(RAW, raw_id, raw_id, f"raw {raw_id!r}"))

    async def prune_raw(self, before: datetime, limit: int = 1000) -> int:
        found = await self.items.query(
            RAW,
            "SELECT TOP @n c.id, c._etag FROM c WHERE c.receivedAt < @before"
            " ORDER BY c.receivedAt",
            {"@n": limit, "@before": wire.instant(before)},
        )
        return await self.items.delete_found(RAW, found, "raw payload")

    async def add_alert(self, alert: Alert, ins: str | None = None) -> bool:
        key_id = wire.item_id("alk", alert.dedup_key)
        key: Item = {
            "id": key_id,
            "alertId": alert.id,
            "incidentId": alert.incident_id or UNFILED,
            "doc": _doc(alert),
        }
        try:
            await self.items.create(ALERT_KEYS, key, f"alert key of {alert.id}")
        except Conflict:
            await self._finish_alert(key_id)
            return False
        await self._write_alert(Alert.model_validate(key["doc"]), ins)
        return True

    async def add_alerts(
        self,
        alerts: Sequence[Alert],
        counts: Mapping[str, int] | None = None,
        *,
        raw: RawPayload | None = None,
    ) -> list[bool]:
        """Store one payload's alerts; per alert True when stored, False for a resend.

        Cosmos DB transactional batches are limited to one partition key and the protocol
        server used in tests has none at all, so there is no transaction here: each alert is
        its own atomic create of its dedup key (as in ``add_alert``), up to
        ALERT_BATCH_CONCURRENCY at a time, and only the first occurrence of a dedup key within
        the batch is attempted (later ones are False, so the order of the answer never depends
        on which concurrent create won). With ``counts``, each listed incident then gets
        ``alert_count`` raised by its stored firing alerts, ``updated_at`` moved forward and
        ``version`` bumped, under etag CAS. A failure part-way leaves the alerts already stored
        in place (a retried payload finds them and answers False for them).
        """
        if raw is not None:
            await self.add_raw(raw)
        batch = list(alerts)
        firsts: dict[str, int] = {}
        for index, alert in enumerate(batch):
            firsts.setdefault(alert.dedup_key, index)
        stored = [False] * len(batch)
        gate = asyncio.Semaphore(ALERT_BATCH_CONCURRENCY)
        # Sort keys taken now, in input order: the concurrent writes may land in any order.
        order = {index: wire.insertion_key() for index in firsts.values()}

        async def store_one(index: int) -> None:
            async with gate:
                stored[index] = await self.add_alert(batch[index], order[index])

        await asyncio.gather(*(store_one(index) for index in firsts.values()))
        kept = [
            a
            for a, ok in zip(batch, stored, strict=True)
            if ok and a.incident_id and a.status is AlertStatus.FIRING
        ]
        added = Counter(a.incident_id for a in kept)
        for incident_id in counts or ():
            if added.get(incident_id):
                newest = max(a.received_at for a in kept if a.incident_id == incident_id)
                await self._count_alerts(incident_id, added[incident_id], newest)
        return stored

    async def _count_alerts(self, incident_id: str, added: int, newest: datetime) -> None:
        """Raise an incident's alert_count under etag CAS (group ownership is unchanged)."""
        what = f"incident {incident_id!r}"
        for attempt in range(CAS_ATTEMPTS):
            current = await self.items.read(INCIDENTS, incident_id, incident_id, what)
            before = _load(Incident, current)
            counted = before.model_copy(
                update={
                    "alert_count": before.alert_count + added,
                    "updated_at": max(before.updated_at, newest),
                    "version": before.version + 1,
                }
            )
            body = groups.incident_item(counted, current.get("ins"))
            try:
                await self.items.replace(INCIDENTS, body, current["_etag"], what)
                return
            except Conflict:
                await _backoff(attempt)
        raise StoreError(f"{what}: gave up counting after {CAS_ATTEMPTS} concurrent updates")

    async def _write_alert(self, alert: Alert, ins: str | None = None) -> None:
        body = {
            "id": alert.id,
            "incidentId": alert.incident_id or UNFILED,
            "receivedAt": wire.instant(alert.received_at),
            "ins": ins or wire.insertion_key(),
            "doc": _doc(alert),
        }
        try:
            await self.items.create(ALERTS, body, f"alert {alert.id}")
        except Conflict:
            pass  # already written, by us on a retried request or by a duplicate's repair

    async def _finish_alert(self, key_id: str) -> None:
        """A duplicate arrived: make sure the first copy's alert item exists (crash repair)."""
        key = await self.items.read(ALERT_KEYS, key_id, key_id, "alert key")
        try:
            await self.items.read(ALERTS, key["alertId"], key["incidentId"], "alert")
        except NotFound:
            await self._write_alert(Alert.model_validate(key["doc"]))

    async def get_alert(self, alert_id: str) -> Alert:
        # Alerts are partitioned by incident and looked up here by id alone: a fan-out query.
        found = await self.items.query(
            ALERTS, "SELECT * FROM c WHERE c.id = @id", {"@id": alert_id}
        )
        if not found:
            raise NotFound(f"alert {alert_id!r} not found")
        return _load(Alert, found[0])

    async def list_alerts(self, incident_id: str, limit: int = 100) -> list[Alert]:
        found = await self.items.query(
            ALERTS,
            "SELECT TOP @n * FROM c WHERE c.incidentId = @iid ORDER BY c.receivedAt, c.ins",
            {"@n": limit, "@iid": incident_id},
            partition=incident_id,
        )
        return [_load(Alert, item) for item in found]

    # incidents
    async def open_incident_for_group(self, candidate: Incident) -> tuple[Incident, bool]:
        if candidate.group_key is None:
            await self._number(candidate)
            await groups.insert_incident(self.items, candidate, exists_ok=False)
            return candidate, True
        owner = await groups.claim(self.items, candidate)
        if owner is not None and owner.id != candidate.id:
            return owner, False
        # Ours (also when a retried claim found our own pointer): write the incident itself.
        await self._number(candidate)
        await groups.insert_incident(self.items, candidate, exists_ok=True)
        return candidate, True

    async def _number(self, incident: Incident) -> None:
        # Before the incident item is written, so it is never stored without one. A create that
        # then fails leaves a gap in the sequence, never a duplicate.
        if incident.number is None:
            incident.number = await self.next_number(INCIDENT_SEQUENCE)

    async def create_incident(self, incident: Incident) -> None:
        claimed = incident.group_key is not None and incident.status is IncidentStatus.OPEN
        if claimed:
            owner = await groups.claim(self.items, incident)
            if owner is not None and owner.id != incident.id:
                raise Conflict(f"group {incident.group_key!r} already has open {owner.id}")
        try:
            await self._number(incident)
            await groups.insert_incident(self.items, incident, exists_ok=False)
        except Conflict:
            if claimed and incident.group_key is not None:
                await groups.release(self.items, incident.group_key, incident.id)
            raise Conflict(f"incident {incident.id} already exists") from None

    async def latest_incident_for_group(self, group_key: str) -> Incident | None:
        found = await self.items.query(
            INCIDENTS,
            "SELECT TOP 1 * FROM c WHERE c.groupKey = @g ORDER BY c.updatedAt DESC, c.ins DESC",
            {"@g": group_key},
        )
        return _load(Incident, found[0]) if found else None

    async def get_incident_by_number(self, number: int) -> Incident:
        found = await self.items.query(
            INCIDENTS, "SELECT TOP 1 * FROM c WHERE c.doc.number = @n", {"@n": number}
        )
        if not found:
            raise NotFound(f"incident INC-{number}")
        return _load(Incident, found[0])

    async def get_incident(self, incident_id: str) -> Incident:
        item = await self.items.read(
            INCIDENTS, incident_id, incident_id, f"incident {incident_id!r}"
        )
        return _load(Incident, item)

    async def update_incident(self, incident: Incident) -> Incident:
        what = f"incident {incident.id!r}"
        current = await self.items.read(INCIDENTS, incident.id, incident.id, what)
        before = _load(Incident, current)
        if before.version != incident.version:
            raise Conflict(f"incident {incident.id} changed since version {incident.version}")
        stored = incident.model_copy(update={"version": incident.version + 1})
        was_owner = before.status is IncidentStatus.OPEN and before.group_key is not None
        owns = stored.status is IncidentStatus.OPEN and stored.group_key is not None
        if owns and not (was_owner and before.group_key == stored.group_key):
            owner = await groups.claim(self.items, stored)  # reopened or regrouped
            if owner is not None and owner.id != stored.id:
                raise Conflict(f"group {stored.group_key!r} already has open {owner.id}")
        body = groups.incident_item(stored, current.get("ins"))
        await self.items.replace(INCIDENTS, body, current["_etag"], what)
        if (
            was_owner
            and before.group_key is not None
            and not (owns and before.group_key == stored.group_key)
        ):
            await groups.release(self.items, before.group_key, stored.id)
        return stored

    async def list_incidents(
        self, status: IncidentStatus | None = None, limit: int = 50
    ) -> list[Incident]:
        where = "" if status is None else "WHERE c.status = @s "
        params: dict[str, Any] = {"@n": limit}
        if status is not None:
            params["@s"] = status.value
        found = await self.items.query(
            INCIDENTS,
            f"SELECT TOP @n * FROM c {where}ORDER BY c.updatedAt DESC, c.ins DESC",
            params,
        )
        return [_load(Incident, item) for item in found]

    async def list_untriaged_incidents(
        self, limit: int = 100, after: str | None = None
    ) -> list[Incident]:
        """Open incidents with alerts (stored or counted) and no triage, oldest first.

        ``after`` is the id of the last incident of the previous page. Open incidents are read
        in ``createdKey`` order a page at a time, and each page's triages are looked up in one
        query (there are no joins across containers); open incidents are few, so the pages
        skipped over stay short.
        """
        cursor = ""
        if after is not None:
            cursor = groups.created_key(await self.get_incident(after))
        found: list[Incident] = []
        while len(found) < limit:
            page = await self.items.query(
                INCIDENTS,
                "SELECT TOP @n * FROM c WHERE c.status = @open AND c.createdKey > @after"
                " ORDER BY c.createdKey",
                {"@n": UNTRIAGED_PAGE, "@open": IncidentStatus.OPEN.value, "@after": cursor},
            )
            candidates = [_load(Incident, item) for item in page]
            triaged = await self._triaged([c.id for c in candidates])
            for candidate in candidates:
                if candidate.id in triaged or len(found) == limit:
                    continue
                if candidate.alert_count > 0 or await self._has_alerts(candidate.id):
                    found.append(candidate)
            if len(page) < UNTRIAGED_PAGE:
                break
            cursor = str(page[-1]["createdKey"])
        return found

    async def _triaged(self, incident_ids: list[str]) -> set[str]:
        if not incident_ids:
            return set()
        found = await self.items.query(
            TRIAGES,
            "SELECT c.incidentId FROM c WHERE ARRAY_CONTAINS(@ids, c.incidentId)",
            {"@ids": incident_ids},
        )
        return {str(item["incidentId"]) for item in found}

    async def _has_alerts(self, incident_id: str) -> bool:
        found = await self.items.query(
            ALERTS,
            "SELECT TOP 1 c.id FROM c WHERE c.incidentId = @iid",
            {"@iid": incident_id},
            partition=incident_id,
        )
        return bool(found)

    # triage
    async def add_triage(self, triage: Triage) -> None:
        """Store a triage; Conflict for a second first triage (not ``retriage``) of an incident.

        An incident's first triage gets a fixed item id, so a second one collides on ``create``
        (409) whichever replica writes it; re-triages keep their own ids.
        """
        body = {
            "id": f"first-triage-{triage.incident_id}" if not triage.retriage else triage.id,
            "incidentId": triage.incident_id,
            "createdAt": wire.instant(triage.created_at),
            "ins": wire.insertion_key(),
            "doc": _doc(triage),
        }
        await self.items.create(TRIAGES, body, f"triage {triage.id}")

    async def list_triages(self, incident_id: str) -> list[Triage]:
        found = await self.items.query(
            TRIAGES,
            "SELECT * FROM c WHERE c.incidentId = @iid ORDER BY c.createdAt, c.ins",
            {"@iid": incident_id},
            partition=incident_id,
        )
        return [_load(Triage, item) for item in found]

    # action requests
    def _request_item(self, request: ActionRequest, ins: str | None = None) -> Item:
        return {
            "id": request.id,
            "incidentId": request.incident_id,
            "state": request.state.value,
            "createdAt": wire.instant(request.created_at),
            "ins": ins or wire.insertion_key(),
            "version": request.version,
            "doc": _doc(request),
        }

    def _remember(self, request: ActionRequest) -> ActionRequest:
        self._request_partitions[request.id] = request.incident_id
        self._request_partitions.move_to_end(request.id)
        while len(self._request_partitions) > _REQUEST_PARTITIONS_KEPT:
            self._request_partitions.popitem(last=False)
        return request

    async def add_action_request(self, request: ActionRequest) -> None:
        await self.items.create(REQUESTS, self._request_item(request), f"request {request.id}")
        self._remember(request)

    async def get_action_request(self, request_id: str) -> ActionRequest:
        partition = self._request_partitions.get(request_id)
        if partition is not None:
            item = await self.items.read(REQUESTS, request_id, partition, f"request {request_id!r}")
            return _load(ActionRequest, item)
        found = await self.items.query(
            REQUESTS, "SELECT * FROM c WHERE c.id = @id", {"@id": request_id}
        )
        if not found:
            raise NotFound(f"action request {request_id!r} not found")
        return self._remember(_load(ActionRequest, found[0]))

    async def update_action_request(self, request: ActionRequest) -> ActionRequest:
        what = f"action request {request.id!r}"
        current = await self.items.read(REQUESTS, request.id, request.incident_id, what)
        if _load(ActionRequest, current).version != request.version:
            raise Conflict(f"action request {request.id} changed since version {request.version}")
        stored = request.model_copy(update={"version": request.version + 1})
        body = self._request_item(stored, current.get("ins"))
        await self.items.replace(REQUESTS, body, current["_etag"], what)
        return stored

    async def list_action_requests(
        self,
        incident_id: str | None = None,
        states: list[ActionState] | None = None,
        limit: int = 500,
    ) -> list[ActionRequest]:
        clauses: list[str] = []
        params: dict[str, Any] = {"@n": limit}
        if incident_id is not None:
            clauses.append("c.incidentId = @iid")
            params["@iid"] = incident_id
        if states:
            clauses.append("ARRAY_CONTAINS(@states, c.state)")
            params["@states"] = [s.value for s in states]
        where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
        found = await self.items.query(
            REQUESTS,
            f"SELECT TOP @n * FROM c {where}ORDER BY c.createdAt, c.ins",
            params,
            partition=incident_id,
        )
        return [self._remember(_load(ActionRequest, item)) for item in found]

    async def list_action_requests_since(
        self, since: datetime, limit: int = 500, after: str | None = None
    ) -> list[ActionRequest]:
        """A cross-partition query in (createdAt, ins) order, the container's composite index;
        the page cursor is the last request's pair."""
        cursor_at, cursor_ins = wire.instant(since), ""
        if after is not None:
            found = await self.items.query(
                REQUESTS, "SELECT c.createdAt, c.ins FROM c WHERE c.id = @id", {"@id": after}
            )
            if not found:
                raise NotFound(f"action request {after!r} not found")
            cursor_at, cursor_ins = str(found[0]["createdAt"]), str(found[0]["ins"])
        page = await self.items.query(
            REQUESTS,
            "SELECT TOP @n * FROM c WHERE c.createdAt >= @since AND (c.createdAt > @at"
            " OR (c.createdAt = @at AND c.ins > @ins)) ORDER BY c.createdAt, c.ins",
            {"@n": limit, "@since": wire.instant(since), "@at": cursor_at, "@ins": cursor_ins},
        )
        return [self._remember(_load(ActionRequest, item)) for item in page]

    async def list_verifying_requests(self, limit: int = 200) -> list[ActionRequest]:
        # Documents written before these fields existed lack them; IS_STRING / IS_NULL keep
        # the filter exact for both (an undefined field compares as neither).
        found = await self.items.query(
            REQUESTS,
            "SELECT TOP @n * FROM c WHERE c.state = @state"
            " AND IS_STRING(c.doc.verify_until) AND IS_NULL(c.doc.verification)"
            " ORDER BY c.createdAt, c.ins",
            {"@n": limit, "@state": ActionState.SUCCEEDED.value},
        )
        return [self._remember(_load(ActionRequest, item)) for item in found]

    # timeline and feedback
    async def append_event(self, event: Event) -> Event:
        """Append and chain. The item id is the event's place, ``(incident, seq)``, so when two
        replicas append at once exactly one create wins; the loser reads the winner, links
        after it and tries the next place (at most CAS_ATTEMPTS times): the chain never forks.
        """
        lock = self._event_locks.setdefault(event.incident_id, asyncio.Lock())
        async with lock:  # tasks of one process take turns; only replicas race each other
            return await self._append_event(event)

    async def _append_event(self, event: Event) -> Event:
        what = f"event {event.id}"
        head = await self._event_head(event.incident_id)
        for attempt in range(CAS_ATTEMPTS):
            seq = head.seq + 1 if head is not None else 1
            stored = audit.chained(event.model_copy(update={"seq": seq}), head)
            place = _event_place(seq)
            body = {
                "id": place,
                "incidentId": event.incident_id,
                "seq": seq,
                "eventId": event.id,
                "doc": _doc(stored),
            }
            try:
                await self.items.create(EVENTS, body, what)
                return stored
            except Conflict:
                winner = _load(Event, await self.items.read(EVENTS, place, event.incident_id, what))
                if winner.id == event.id:
                    return winner  # our own create, answered late and retried by the SDK
                head = winner
                await _backoff(attempt)
        raise StoreError(f"{what}: gave up after {CAS_ATTEMPTS} concurrent appends")

    async def _event_head(self, incident_id: str) -> Event | None:
        found = await self.items.query(
            EVENTS,
            "SELECT TOP 1 * FROM c WHERE c.incidentId = @iid ORDER BY c.seq DESC",
            {"@iid": incident_id},
            partition=incident_id,
        )
        return _load(Event, found[0]) if found else None

    async def list_events(self, incident_id: str) -> list[Event]:
        found = await self.items.query(
            EVENTS,
            "SELECT * FROM c WHERE c.incidentId = @iid ORDER BY c.seq",
            {"@iid": incident_id},
            partition=incident_id,
        )
        return [_load(Event, item) for item in found]

    async def add_feedback(self, feedback: Feedback) -> None:
        body = {
            "id": feedback.id,
            "incidentId": feedback.incident_id,
            "ins": wire.insertion_key(),
            "doc": _doc(feedback),
        }
        await self.items.create(FEEDBACK, body, f"feedback {feedback.id}")

    async def list_feedback(self, incident_id: str) -> list[Feedback]:
        found = await self.items.query(
            FEEDBACK,
            "SELECT * FROM c WHERE c.incidentId = @iid ORDER BY c.ins",
            {"@iid": incident_id},
            partition=incident_id,
        )
        return [_load(Feedback, item) for item in found]

    # coordination
    async def _add_to_counter(self, counter_id: str, amount: int) -> int:
        """Add to a counter item under etag CAS and return its new value."""
        for attempt in range(CAS_ATTEMPTS):
            try:
                current = await self.items.read(COUNTERS, counter_id, counter_id, "counter")
            except NotFound:
                try:
                    await self.items.create(
                        COUNTERS, {"id": counter_id, "value": amount}, "counter"
                    )
                    return amount
                except Conflict:
                    continue  # someone created it first: add on top of theirs
            total = int(current["value"]) + amount
            try:
                await self.items.replace(
                    COUNTERS, {"id": counter_id, "value": total}, current["_etag"], "counter"
                )
                return total
            except Conflict:
                await _backoff(attempt)
        raise StoreError(f"counter {counter_id}: gave up after {CAS_ATTEMPTS} concurrent updates")

    async def acquire_lease(self, name: str, owner: str, now: datetime, ttl_seconds: float) -> bool:
        lease_id = wire.item_id("lease", name)
        body = {
            "id": lease_id,
            "name": name,
            "owner": owner,
            "expiresAt": wire.instant(now + timedelta(seconds=ttl_seconds)),
        }
        for attempt in range(CAS_ATTEMPTS):
            try:
                current = await self.items.read(LEASES, lease_id, lease_id, f"lease {name!r}")
            except NotFound:
                try:
                    await self.items.create(LEASES, body, f"lease {name!r}")
                    return True
                except Conflict:
                    continue
            if current["owner"] != owner and current["expiresAt"] > wire.instant(now):
                return False
            try:
                await self.items.replace(LEASES, body, current["_etag"], f"lease {name!r}")
                return True
            except Conflict:
                await _backoff(attempt)
        raise StoreError(f"lease {name!r}: gave up after {CAS_ATTEMPTS} concurrent updates")

    async def release_lease(self, name: str, owner: str, now: datetime) -> None:
        lease_id = wire.item_id("lease", name)
        try:
            current = await self.items.read(LEASES, lease_id, lease_id, f"lease {name!r}")
        except NotFound:
            return
        if current["owner"] != owner:
            return
        released = {key: current[key] for key in ("id", "name", "owner")}
        released["expiresAt"] = wire.instant(now)
        try:
            await self.items.replace(LEASES, released, current["_etag"], f"lease {name!r}")
        except Conflict:
            return  # someone else took it over meanwhile: theirs now

    async def release_leases_of(
        self, owner_prefix: str, now: datetime, *, keep_prefix: str
    ) -> list[str]:
        held = await self.items.query(
            LEASES,
            "SELECT * FROM c WHERE STARTSWITH(c.owner, @prefix) AND c.expiresAt > @now",
            {"@prefix": owner_prefix, "@now": wire.instant(now)},
        )
        released: list[str] = []
        for current in held:
            if str(current["owner"]).startswith(keep_prefix):
                continue
            body = {key: current[key] for key in ("id", "name", "owner")}
            body["expiresAt"] = wire.instant(now)
            try:
                await self.items.replace(LEASES, body, current["_etag"], f"lease {body['name']!r}")
            except (Conflict, NotFound):
                continue  # taken over or gone meanwhile: not ours to release any more
            released.append(str(current["name"]))
        return released

    async def add_token_usage(self, day: str, tokens: int) -> int:
        return await self._add_to_counter(wire.item_id("tokens", day), tokens)

    async def next_number(self, sequence: str) -> int:
        return await self._add_to_counter(wire.item_id("sequence", sequence), 1)

    async def get_token_usage(self, day: str) -> int:
        counter_id = wire.item_id("tokens", day)
        try:
            item = await self.items.read(COUNTERS, counter_id, counter_id, "token counter")
        except NotFound:
            return 0
        return int(item["value"])

    async def join_lease(self, name: str, owner: str, now: datetime, ttl_seconds: float) -> str:
        lease_id = wire.item_id("lease", name)
        what = f"lease {name!r}"
        expires = wire.instant(now + timedelta(seconds=ttl_seconds))
        for attempt in range(CAS_ATTEMPTS):
            try:
                current = await self.items.read(LEASES, lease_id, lease_id, what)
            except NotFound:
                body = {"id": lease_id, "name": name, "owner": owner, "expiresAt": expires}
                try:
                    await self.items.create(LEASES, body, what)
                    return owner
                except Conflict:
                    continue
            held = current["expiresAt"] > wire.instant(now)
            holder = str(current["owner"]) if held else owner
            half = wire.instant(now + timedelta(seconds=ttl_seconds / 2))
            if held and current["expiresAt"] > half:
                return holder
            body = {"id": lease_id, "name": name, "owner": holder, "expiresAt": expires}
            try:
                await self.items.replace(LEASES, body, current["_etag"], what)
                return holder
            except Conflict:
                await _backoff(attempt)
        raise StoreError(f"lease {name!r}: gave up after {CAS_ATTEMPTS} concurrent updates")

    async def lease_holder(self, name: str, now: datetime) -> str | None:
        lease_id = wire.item_id("lease", name)
        try:
            current = await self.items.read(LEASES, lease_id, lease_id, f"lease {name!r}")
        except NotFound:
            return None
        return str(current["owner"]) if current["expiresAt"] > wire.instant(now) else None

    async def add_to_window(self, name: str, bucket: int, amount: int, span: int) -> int:
        ids = [wire.item_id("window", f"{name}:{b}") for b in range(bucket - span + 1, bucket + 1)]
        earlier = await asyncio.gather(*(self._counter_value(i) for i in ids[:-1]))
        if amount:
            latest = await self._add_to_counter(ids[-1], amount)
        else:
            latest = await self._counter_value(ids[-1])
        return sum(earlier) + latest

    async def _counter_value(self, counter_id: str) -> int:
        try:
            item = await self.items.read(COUNTERS, counter_id, counter_id, "counter")
        except NotFound:
            return 0
        return int(item["value"])
