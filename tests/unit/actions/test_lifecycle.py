"""Opening requests, CAS transitions, and the expiry sweep on a real SQLite store."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from bot import actions
from bot.errors import ActionError
from bot.models import ActionState, Proposal
from bot.policy import Policy
from bot.store.sqlite import SQLiteStore

from .conftest import NOW, TTL, file_request

RESTART = Proposal(
    action="restart_deployment", service="cart-service", params={"deployment": "cart-api"}
)


async def test_open_request_maps_outcome_to_state(store: SQLiteStore, policy: Policy) -> None:
    pending = await file_request(store, policy, RESTART)
    assert pending.state is ActionState.PENDING_APPROVAL
    assert pending.expires_at == NOW + timedelta(seconds=TTL)
    allowed = await file_request(
        store,
        policy,
        Proposal(
            action="collect_diagnostics", service="cart-service", params={"deployment": "cart-api"}
        ),
    )
    assert allowed.state is ActionState.APPROVED
    blocked = await file_request(store, policy, Proposal(action="drop_tables", service="x"))
    assert blocked.state is ActionState.BLOCKED and blocked.expires_at is None
    assert blocked.error and "not in the allowlist" in blocked.error
    events = await store.list_events(blocked.incident_id)
    assert [e.kind for e in events] == ["action.blocked"]
    assert events[0].data["rules"][0] == "action.unknown"
    assert events[0].data["policy_revision"] == policy.revision


async def test_transition_refuses_moves_the_state_machine_forbids(
    store: SQLiteStore, policy: Policy
) -> None:
    request = await file_request(store, policy, RESTART)

    def jump(current):  # type: ignore[no-untyped-def]
        current.state = ActionState.SUCCEEDED
        return current

    with pytest.raises(ActionError, match="pending_approval -> succeeded"):
        await actions.transition(store, request.id, jump)
    assert (await store.get_action_request(request.id)).state is ActionState.PENDING_APPROVAL


async def test_expire_due_expires_only_past_deadline(store: SQLiteStore, policy: Policy) -> None:
    request = await file_request(store, policy, RESTART)
    assert await actions.expire_due(store, NOW + timedelta(seconds=TTL - 1)) == []
    expired = await actions.expire_due(store, NOW + timedelta(seconds=TTL))
    assert [r.id for r in expired] == [request.id]
    assert (await store.get_action_request(request.id)).state is ActionState.EXPIRED
    assert await actions.expire_due(store, NOW + timedelta(days=1)) == []
    kinds = [e.kind for e in await store.list_events(request.incident_id)]
    assert kinds == ["action.pending_approval", "action.expired"]


async def test_expiry_sweep_is_safe_on_many_replicas(tmp_path: Path, policy: Policy) -> None:
    path = tmp_path / "shared.db"
    first = SQLiteStore(path)
    requests = [await file_request(first, policy, RESTART) for _ in range(5)]
    replicas = [SQLiteStore(path) for _ in range(6)]
    later = NOW + timedelta(hours=1)

    def sweep(replica: SQLiteStore) -> list[str]:
        return [r.id for r in asyncio.run(actions.expire_due(replica, later))]

    results = await asyncio.gather(*(asyncio.to_thread(sweep, r) for r in replicas))
    expired = [rid for batch in results for rid in batch]
    assert sorted(expired) == sorted(r.id for r in requests)  # each exactly once
    for request in requests:
        events = await first.list_events(request.incident_id)
        assert [e.kind for e in events].count("action.expired") == 1
    for db in [first, *replicas]:
        await db.close()
