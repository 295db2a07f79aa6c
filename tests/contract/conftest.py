"""Backends the store contract suite runs against: SQLite always, Cosmos when its server runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.ports import Store
from bot.store.cosmos import CosmosStore
from bot.store.cosmos_items import CosmosItems
from bot.store.sqlite import SQLiteStore
from tests.integration.cosmos.emulator import CosmosServer, running_server

BACKENDS = ["sqlite", "cosmos"]


@pytest.fixture(scope="session")
def cosmos_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CosmosServer]:
    """One protocol server for the session; each test gets its own database on it."""
    with running_server(tmp_path_factory.mktemp("cosmos")) as server:
        yield server


def cosmos_store(server: CosmosServer) -> CosmosStore:
    """A store on a fresh database; TLS checks off because the certificate is self-signed."""
    items = CosmosItems(
        server.endpoint,
        server.key,
        server.new_database(),
        verify_tls=False,
        endpoint_discovery=False,  # one region; see the emulator notes
    )
    return CosmosStore(items)


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    backend: Store
    if request.param == "cosmos":
        backend = cosmos_store(request.getfixturevalue("cosmos_server"))
    else:
        backend = SQLiteStore(tmp_path / "contract.db")
    yield backend
    await backend.close()
