"""Cosmos DB items: the account connection, the container layout and typed item operations.

Each entity type has its own container. Things that hang off an incident are partitioned by
``/incidentId`` so an incident's timeline, triages and requests are single-partition reads;
things looked up by their own key (incidents, raw payloads, dedup keys, group pointers,
counters, leases, outbox deliveries) are partitioned by ``/id`` so every lookup is a point read.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from azure.core import MatchConditions
from azure.cosmos import PartitionKey
from azure.cosmos.aio import ContainerProxy, CosmosClient, DatabaseProxy

from bot.errors import Conflict, StoreError
from bot.store import cosmos_wire as wire

log = logging.getLogger(__name__)

Item = dict[str, Any]


@dataclass(frozen=True)
class ContainerSpec:
    """One container: its name, partition key path and the ORDER BY pairs it must index."""

    name: str
    partition_key: str
    order_by: tuple[tuple[str, str], ...] = ()

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


RAW = ContainerSpec("raw_payloads", "/id")
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
DELIVERIES = ContainerSpec("deliveries", "/id")

CONTAINERS = (
    RAW, ALERTS, ALERT_KEYS, INCIDENTS, GROUPS, TRIAGES, REQUESTS, EVENTS, FEEDBACK, COUNTERS,
    LEASES, DELIVERIES,
)  # fmt: skip


class CosmosItems:
    """Opens the database lazily and runs item operations with retries and error translation."""

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
                ),
                f"container {spec.name}",
            )
        except Conflict:
            # Another replica created it between our existence check and our create.
            return database.get_container_client(spec.name)

    async def close(self) -> None:
        """Close the HTTP session and the credential."""
        if self._client is not None:
            await self._client.close()
        self._client, self._database = None, None
        self._containers.clear()
        closer = getattr(self._credential, "close", None)
        if closer is not None and not isinstance(self._credential, str):
            await closer()

    async def ping(self) -> None:
        """Read the database's properties; raises StoreError when unreachable."""
        await self.open()
        database = self._database
        if database is None:
            raise StoreError("Cosmos DB store is closed")
        await wire.call(database.read, f"database {self.database_name}")

    async def container(self, spec: ContainerSpec) -> ContainerProxy:
        """The proxy for one container, opening the store on first use."""
        if spec.name not in self._containers:
            await self.open()
        return self._containers[spec.name]

    async def create(self, spec: ContainerSpec, body: Item, what: str) -> Item:
        """Create an item; Conflict when its id already exists in its partition."""
        container = await self.container(spec)
        result: Item = await wire.call(lambda: container.create_item(body), what)
        return result

    async def read(self, spec: ContainerSpec, item_id: str, partition: str, what: str) -> Item:
        """Point read; NotFound when missing."""
        container = await self.container(spec)
        result: Item = await wire.call(
            lambda: container.read_item(item_id, partition_key=partition), what
        )
        return result

    async def replace(self, spec: ContainerSpec, body: Item, etag: str, what: str) -> Item:
        """Replace only if the stored etag is still ``etag``; Conflict otherwise."""
        container = await self.container(spec)
        result: Item = await wire.call(
            lambda: container.replace_item(
                body["id"], body, etag=etag, match_condition=MatchConditions.IfNotModified
            ),
            what,
        )
        return result

    async def delete(
        self, spec: ContainerSpec, item_id: str, partition: str, etag: str, what: str
    ) -> None:
        """Delete only if the stored etag is still ``etag``."""
        container = await self.container(spec)
        await wire.call(
            lambda: container.delete_item(
                item_id,
                partition_key=partition,
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
            ),
            what,
        )

    async def query(
        self,
        spec: ContainerSpec,
        sql: str,
        parameters: dict[str, Any],
        *,
        partition: str | None = None,
    ) -> list[Item]:
        """A parameterised query; single-partition when ``partition`` is given."""
        container = await self.container(spec)
        params = [{"name": name, "value": value} for name, value in parameters.items()]

        async def run() -> list[Item]:
            if partition is None:
                pages = container.query_items(sql, parameters=params)
            else:
                pages = container.query_items(sql, parameters=params, partition_key=partition)
            return [item async for item in pages]

        return await wire.call(run, f"query on {spec.name}")
