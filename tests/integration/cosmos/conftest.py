"""Fixtures for the Cosmos adapter tests: one protocol server, a fresh database per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from bot.store.cosmos import CosmosStore
from bot.store.cosmos_items import CosmosItems
from tests.integration.cosmos.emulator import CosmosServer, running_server


@pytest.fixture(scope="session")
def cosmos_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CosmosServer]:
    with running_server(tmp_path_factory.mktemp("cosmos")) as server:
        yield server


def client(server: CosmosServer, database: str) -> CosmosStore:
    """One store client, as one replica would hold it (its own connection and caches)."""
    return CosmosStore(
        CosmosItems(
            server.endpoint, server.key, database, verify_tls=False, endpoint_discovery=False
        )
    )


@pytest.fixture
async def replicas(cosmos_server: CosmosServer) -> AsyncIterator[tuple[CosmosStore, CosmosStore]]:
    """Two independent store clients sharing one database."""
    database = cosmos_server.new_database()
    first, second = client(cosmos_server, database), client(cosmos_server, database)
    await first.open()
    await second.open()
    yield first, second
    await first.close()
    await second.close()
