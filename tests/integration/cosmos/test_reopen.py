"""A container or database deleted under a running Cosmos store is created again on next use.

The protocol server sends no sub-status with its not-found answers (real Cosmos DB sends 1003
for a missing container or database), so these runs take the path that reads the container's
own properties to tell "the container is gone" from "the item is missing".
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from azure.cosmos.aio import CosmosClient

from bot.errors import NotFound
from bot.models import Incident, RawPayload
from bot.store.cosmos import CosmosStore
from bot.store.cosmos_items import INCIDENTS, LEASES, RAW
from tests.integration.cosmos.conftest import client
from tests.integration.cosmos.emulator import CosmosServer

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


@pytest.fixture
async def store_and_sdk(
    cosmos_server: CosmosServer,
) -> AsyncIterator[tuple[CosmosStore, CosmosClient, str]]:
    database = cosmos_server.new_database()
    store = client(cosmos_server, database)
    await store.open()
    sdk = CosmosClient(
        cosmos_server.endpoint,
        cosmos_server.key,
        connection_verify=False,
        enable_endpoint_discovery=False,
    )
    yield store, sdk, database
    await sdk.close()
    await store.close()


def raw() -> RawPayload:
    return RawPayload(source="generic", content_type="application/json", body="{}", received_at=T0)


async def test_a_write_after_its_container_was_deleted_succeeds(
    store_and_sdk: tuple[CosmosStore, CosmosClient, str],
) -> None:
    store, sdk, database = store_and_sdk
    await store.add_raw(raw())
    await sdk.get_database_client(database).delete_container(RAW.name)

    again = raw()
    await store.add_raw(again)

    assert (await store.get_raw(again.id)).id == again.id
    names = {c["id"] async for c in sdk.get_database_client(database).list_containers()}
    assert RAW.name in names


async def test_reads_and_leases_work_after_the_database_was_deleted(
    store_and_sdk: tuple[CosmosStore, CosmosClient, str],
) -> None:
    store, sdk, database = store_and_sdk
    incident = Incident(title="before", service="checkout", created_at=T0, updated_at=T0)
    await store.create_incident(incident)
    await sdk.delete_database(database)

    # The incident went with the database: an honest NotFound, not a store stuck failing.
    with pytest.raises(NotFound):
        await store.get_incident(incident.id)
    assert await store.acquire_lease("triage:x", "replica-a/boot/1", T0, 60)
    await store.ping()
    after = Incident(title="after", service="checkout", created_at=T0, updated_at=T0)
    await store.create_incident(after)
    assert (await store.get_incident(after.id)).title == "after"


async def test_a_missing_item_is_not_taken_for_a_missing_container(
    store_and_sdk: tuple[CosmosStore, CosmosClient, str],
) -> None:
    store, sdk, database = store_and_sdk
    await store.acquire_lease("kept", "replica-a", T0, 600)
    generation = store.items._generation

    with pytest.raises(NotFound):
        await store.get_incident("inc-missing")
    assert await store.lease_holder("never-taken", T0) is None

    assert store.items._generation == generation
    assert await store.lease_holder("kept", T0) == "replica-a"
    containers = sdk.get_database_client(database)
    assert {c["id"] async for c in containers.list_containers()} >= {INCIDENTS.name, LEASES.name}
