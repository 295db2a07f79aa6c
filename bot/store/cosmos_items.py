"""Cosmos DB items: the account connection, the container layout and typed item operations.

Each entity type has its own container. Things that hang off an incident are partitioned by
``/incidentId`` so an incident's timeline, triages and requests are single-partition reads;
things looked up by their own key (incidents, raw payloads, dedup keys, group pointers,
counters, leases, outbox deliveries) are partitioned by ``/id`` so every lookup is a point read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.cosmos import PartitionKey
from azure.cosmos.aio import ContainerProxy, CosmosClient, DatabaseProxy

from bot.errors import Conflict, NotFound, StoreError
from bot.store import cosmos_wire as wire

log = logging.getLogger(__name__)

Item = dict[str, Any]
T = TypeVar("T")


@dataclass(frozen=True)
class ContainerSpec:
    """One container: its name, partition key path and the ORDER BY pairs it must index."""

    name: str
    partition_key: str
    order_by: tuple[tuple[str, str], ...] = ()
    # Per-item time to live: the container is created with ``defaultTtl`` -1 (TTL on, nothing
    # expires by default) and the store gives the items it wants gone a ``ttl`` of their own.
    item_ttl: bool = False

    def indexing_policy(self) -> dict[str, Any]:
        """Index everything; multi-property ORDER BY needs a composite index on real Cosmos."""
        policy: dict[str, Any] = {
            "indexingMode": "consistent",
            "includedPaths": [{"path": "/*"}],
            "excludedPaths": [{"path": "/doc/*"}, {"path": '/"_etag"/?'}],
        }
        if self.order_by:
            policy["compositeIndexes"] = [
                [{"path": f"/{field}", "order": order} for field, order in self.order_by]
            ]
        return policy


RAW = ContainerSpec("raw_payloads", "/id", item_ttl=True)
ALERTS = ContainerSpec("alerts", "/incidentId", (("receivedAt", "ascending"), ("ins", "ascending")))
ALERT_KEYS = ContainerSpec("alert_keys", "/id")
INCIDENTS = ContainerSpec("incidents", "/id", (("updatedAt", "descending"), ("ins", "descending")))
GROUPS = ContainerSpec("incident_groups", "/id")
TRIAGES = ContainerSpec(
    "triages", "/incidentId", (("createdAt", "ascending"), ("ins", "ascending"))
)
REQUESTS = ContainerSpec(
    "action_requests", "/incidentId", (("createdAt", "ascending"), ("ins", "ascending"))
)
EVENTS = ContainerSpec("events", "/incidentId")
FEEDBACK = ContainerSpec("feedback", "/incidentId")
COUNTERS = ContainerSpec("counters", "/id")
LEASES = ContainerSpec("leases", "/id")
# The outbox: every delivery is its own CAS unit (claims, outcomes), so each is a point read in
# its own partition; the sweeps' queries (due, unreported, one card's) are cross-partition.
DELIVERIES = ContainerSpec("deliveries", "/id", item_ttl=True)

CONTAINERS = (
    RAW, ALERTS, ALERT_KEYS, INCIDENTS, GROUPS, TRIAGES, REQUESTS, EVENTS, FEEDBACK, COUNTERS,
    LEASES, DELIVERIES,
)  # fmt: skip


class CosmosItems:
    """Opens the database lazily and runs item operations with retries and error translation.

    A container or database that disappears under a running store (deleted by hand, a restored
    account) is created again once and the operation retried once; see ``_run``.
    """

    def __init__(
        self,
        endpoint: str,
        credential: Any,
        database: str,
        *,
        verify_tls: bool = True,
        throughput: int | None = None,
        endpoint_discovery: bool = True,
    ) -> None:
        self.endpoint = endpoint
        self.database_name = database
        self._credential = credential
        self._verify_tls = verify_tls
        self._throughput = throughput
        self._endpoint_discovery = endpoint_discovery
        self._client: CosmosClient | None = None
        self._database: DatabaseProxy | None = None
        self._containers: dict[str, ContainerProxy] = {}
        self._open_lock = asyncio.Lock()
        # Bumped by every re-open, so operations racing on one vanished container re-open once.
        self._generation = 0
        # Clients replaced by a re-open: operations may still be using them; closed on close().
        self._retired: list[CosmosClient] = []

    async def open(self) -> None:
        """Connect, and create the database and containers when missing (idempotent)."""
        async with self._open_lock:
            if self._database is not None:
                return
            # Endpoint discovery lets reads fail over between regions; a single-region emulator
            # turns it off, which also stops the SDK re-trying every 5xx after 500 ms.
            options: dict[str, Any] = {"enable_endpoint_discovery": self._endpoint_discovery}
            if not self._verify_tls:
                options["connection_verify"] = False  # local emulators only; see Settings
            client = CosmosClient(self.endpoint, self._credential, **options)
            try:
                database = await self._database_proxy(client)
                for spec in CONTAINERS:
                    self._containers[spec.name] = await self._container(database, spec)
            except BaseException:
                await client.close()
                self._containers.clear()
                raise
            self._client, self._database = client, database
            log.info("cosmos store open", extra={"database": self.database_name})

    async def _database_proxy(self, client: CosmosClient) -> DatabaseProxy:
        try:
            return await wire.call(
                lambda: client.create_database_if_not_exists(
                    self.database_name, offer_throughput=self._throughput
                ),
                f"database {self.database_name}",
            )
        except Conflict:
            # Another replica created it between our existence check and our create.
            return client.get_database_client(self.database_name)

    async def _container(self, database: DatabaseProxy, spec: ContainerSpec) -> ContainerProxy:
        try:
            return await wire.call(
                lambda: database.create_container_if_not_exists(
                    spec.name,
                    partition_key=PartitionKey(path=spec.partition_key),
                    indexing_policy=spec.indexing_policy(),
                    default_ttl=-1 if spec.item_ttl else None,
                ),
                f"container {spec.name}",
            )
        except Conflict:
            # Another replica created it between our existence check and our create.
            return database.get_container_client(spec.name)

    async def close(self) -> None:
        """Close the HTTP session and the credential."""
        for client in [*self._retired, *([self._client] if self._client is not None else [])]:
            await client.close()
        self._retired.clear()
        self._client, self._database = None, None
        self._containers.clear()
        closer = getattr(self._credential, "close", None)
        if closer is not None and not isinstance(self._credential, str):
            await closer()

    async def ping(self) -> None:
        """Read the database's properties; raises StoreError when unreachable."""
        for attempt in range(2):
            await self.open()
            database, generation = self._database, self._generation
            if database is None:
                raise StoreError("Cosmos DB store is closed")
            try:
                await wire.call(database.read, f"database {self.database_name}")
                return
            except NotFound:
                if attempt:
                    raise
                await self._reopen(generation, f"database {self.database_name}")

    async def container(self, spec: ContainerSpec) -> ContainerProxy:
        """The proxy for one container, opening the store on first use."""
        if spec.name not in self._containers:
            await self.open()
        return self._containers[spec.name]

    async def _run(
        self, spec: ContainerSpec, operation: Callable[[ContainerProxy], Awaitable[T]], what: str
    ) -> T:
        """One operation on ``spec``'s container; if the container (or the database) turns out
        to be gone, re-open (creating both again) and retry the operation once."""
        container, generation = await self.container(spec), self._generation
        try:
            return await wire.call(lambda: operation(container), what)
        except NotFound as exc:
            if not await self._gone(container, exc):
                raise
        await self._reopen(generation, f"container {spec.name}")
        container = await self.container(spec)
        return await wire.call(lambda: operation(container), what)

    async def _gone(self, container: ContainerProxy, exc: NotFound) -> bool:
        """Whether ``exc`` (a not-found) was about the container rather than the item."""
        missing = wire.owner_missing(exc)
        if missing is not None:
            return missing
        # No sub-status to go by: reading the container's own properties tells.
        try:
            await wire.call(container.read, "container properties")
        except NotFound:
            return True
        return False

    async def _reopen(self, generation: int, what: str) -> None:
        async with self._open_lock:
            if generation != self._generation:
                return  # another operation re-opened meanwhile
            log.warning("cosmos resource not found; re-opening the store", extra={"what": what})
            if self._client is not None:
                self._retired.append(self._client)
            self._client, self._database = None, None
            self._containers.clear()
            self._generation += 1
        await self.open()

    async def create(self, spec: ContainerSpec, body: Item, what: str) -> Item:
        """Create an item; Conflict when its id already exists in its partition."""
        result: Item = await self._run(spec, lambda c: c.create_item(body), what)
        return result

    async def read(self, spec: ContainerSpec, item_id: str, partition: str, what: str) -> Item:
        """Point read; NotFound when missing."""
        result: Item = await self._run(
            spec, lambda c: c.read_item(item_id, partition_key=partition), what
        )
        return result

    async def replace(self, spec: ContainerSpec, body: Item, etag: str, what: str) -> Item:
        """Replace only if the stored etag is still ``etag``; Conflict otherwise."""
        result: Item = await self._run(
            spec,
            lambda c: c.replace_item(
                body["id"], body, etag=etag, match_condition=MatchConditions.IfNotModified
            ),
            what,
        )
        return result

    async def delete(
        self, spec: ContainerSpec, item_id: str, partition: str, etag: str, what: str
    ) -> None:
        """Delete only if the stored etag is still ``etag``."""
        await self._run(
            spec,
            lambda c: c.delete_item(
                item_id,
                partition_key=partition,
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
            ),
            what,
        )

    async def delete_found(self, spec: ContainerSpec, found: list[Item], what: str) -> int:
        """Delete items a query found (``id`` and ``_etag``, partitioned by ``/id``); one that
        changed or went meanwhile is left alone. Returns how many this call deleted."""
        deleted = 0
        for item in found:
            try:
                key = str(item["id"])
                await self.delete(spec, key, key, item["_etag"], f"{what} {key}")
            except (Conflict, NotFound):
                continue
            deleted += 1
        return deleted

    async def query(
        self,
        spec: ContainerSpec,
        sql: str,
        parameters: dict[str, Any],
        *,
        partition: str | None = None,
    ) -> list[Item]:
        """A parameterised query; single-partition when ``partition`` is given."""
        params = [{"name": name, "value": value} for name, value in parameters.items()]

        async def run(container: ContainerProxy) -> list[Item]:
            if partition is None:
                pages = container.query_items(sql, parameters=params)
            else:
                pages = container.query_items(sql, parameters=params, partition_key=partition)
            return [item async for item in pages]

        return await self._run(spec, run, f"query on {spec.name}")
