"""The configured store: SQLite (embedded) or Cosmos DB (scale-out)."""

from __future__ import annotations

from typing import Any

from bot.config import Settings, StoreBackend
from bot.ports import Backend
from bot.store.sqlite import SQLiteStore


def build_store(settings: Settings) -> Backend:
    """The store backend STORE_BACKEND names; it serves as both Store and Coordination."""
    if settings.store_backend is StoreBackend.COSMOS:
        return build_cosmos(settings)
    return SQLiteStore(
        settings.sqlite_path, busy_timeout_seconds=settings.store_busy_timeout_seconds
    )


def build_cosmos(settings: Settings) -> Backend:
    """Cosmos DB with the account key when COSMOS_KEY is set, else Entra ID."""
    from bot.store.cosmos import CosmosStore
    from bot.store.cosmos_items import CosmosItems

    credential: Any
    if settings.cosmos_key is not None:
        credential = settings.cosmos_key.get_secret_value()
    else:
        from azure.identity.aio import DefaultAzureCredential

        credential = DefaultAzureCredential()
    items = CosmosItems(
        settings.cosmos_endpoint,
        credential,
        settings.cosmos_database,
        verify_tls=settings.cosmos_verify_tls,
        throughput=settings.cosmos_throughput,
    )
    day = 86400
    return CosmosStore(
        items,
        raw_ttl_seconds=int(settings.raw_payload_retention_days * day),
        outbox_ttl_seconds=int(settings.outbox_retention_days * day),
    )
