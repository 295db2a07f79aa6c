"""Races between two store clients (two replicas) on one Cosmos database, and crash repair.

The contract suite proves the single-client semantics; these prove the service, not a
process, settles every race: creates on deterministic ids and etag compare-and-swap.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from azure.cosmos.aio import CosmosClient

from bot.compose import Root
from bot.config import Settings
from bot.errors import Conflict
from bot.models import (
    ActionRequest,
    ActionState,
    Alert,
    Decision,
    DecisionOutcome,
    Event,
    Incident,
    IncidentStatus,
    Proposal,
    RawPayload,
)
from bot.store.cosmos import CosmosStore
from bot.store.cosmos_groups import group_item_id, incident_item
from bot.store.cosmos_items import ALERT_KEYS, CONTAINERS, GROUPS, INCIDENTS
from bot.store.cosmos_wire import item_id
from tests.integration.cosmos.emulator import CosmosServer

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
Pair = tuple[CosmosStore, CosmosStore]


def incident(group: str | None = "g1", n: int = 0) -> Incident:
    return Incident(
        title=f"i{n}", service="checkout", group_key=group, created_at=T0, updated_at=T0
    )


def alert(incident_id: str, fp: str = "fp1") -> Alert:
    return Alert(
        source="generic", fingerprint=fp, group_key="g1", service="checkout", title="5xx",
        starts_at=T0, received_at=T0, incident_id=incident_id,
    )  # fmt: skip


async def test_racing_replicas_open_one_incident_per_group(replicas: Pair) -> None:
    calls = [replicas[n % 2].open_incident_for_group(incident(n=n)) for n in range(12)]
    results = await asyncio.gather(*calls)
    assert sum(created for _, created in results) == 1
    assert len({found.id for found, _ in results}) == 1
    assert len(await replicas[0].list_incidents(IncidentStatus.OPEN)) == 1


async def test_racing_replicas_store_one_copy_of_a_resent_alert(replicas: Pair) -> None:
    stored = await asyncio.gather(*(replicas[n % 2].add_alert(alert("inc-1")) for n in range(10)))
    assert stored.count(True) == 1
    assert len(await replicas[1].list_alerts("inc-1")) == 1


async def test_timeline_sequence_is_strict_across_replicas(replicas: Pair) -> None:
    async def writer(store: CosmosStore, w: int) -> list[int]:
        seqs = []
        for n in range(10):
            event = Event(incident_id="inc-1", at=T0, actor=f"w{w}", kind="note", message=f"{n}")
            seqs.append((await store.append_event(event)).seq)
        return seqs

    per_writer = await asyncio.gather(*(writer(replicas[w % 2], w) for w in range(4)))
    for seqs in per_writer:
        assert seqs == sorted(seqs)  # each writer's events keep its own append order
    listed = await replicas[0].list_events("inc-1")
    assert [e.seq for e in listed] == list(range(1, 41))


async def test_one_lease_winner_among_racing_replicas(replicas: Pair) -> None:
    attempts = [
        replicas[n % 2].acquire_lease("triage:inc-1", f"replica-{n}", T0, 60) for n in range(8)
    ]
    assert sum(await asyncio.gather(*attempts)) == 1


async def test_token_counter_loses_no_increment_across_replicas(replicas: Pair) -> None:
    await asyncio.gather(*(replicas[n % 2].add_token_usage("2026-11-24", 7) for n in range(20)))
    assert await replicas[0].get_token_usage("2026-11-24") == 140


async def test_action_request_cas_has_one_winner_across_replicas(replicas: Pair) -> None:
    request = ActionRequest(
        incident_id="inc-1",
        proposal=Proposal(action="restart_deployment", service="checkout"),
        decision=Decision(outcome=DecisionOutcome.REQUIRE_APPROVAL, action="x", service="checkout"),
        state=ActionState.PENDING_APPROVAL, requested_by="bot", created_at=T0, updated_at=T0,
    )  # fmt: skip
    await replicas[0].add_action_request(request)
    # The second client has never seen this request: its lookup fans out, then is cached.
    mine = await replicas[0].get_action_request(request.id)
    theirs = await replicas[1].get_action_request(request.id)
    mine.state, theirs.state = ActionState.APPROVED, ActionState.DENIED
    outcomes = await asyncio.gather(
        replicas[0].update_action_request(mine),
        replicas[1].update_action_request(theirs),
        return_exceptions=True,
    )
    assert sum(isinstance(o, Conflict) for o in outcomes) == 1
    assert (await replicas[1].get_action_request(request.id)).version == 1


async def test_pointer_left_without_its_incident_is_completed(replicas: Pair) -> None:
    # A replica that crashed between claiming the group and writing the incident.
    orphan = incident()
    pointers = await replicas[0].items.container(GROUPS)
    await pointers.create_item(
        {"id": group_item_id("g1"), "groupKey": "g1", "incidentId": orphan.id,
         "doc": orphan.model_dump(mode="json")}
    )  # fmt: skip
    found, created = await replicas[1].open_incident_for_group(incident(n=2))
    assert (found.id, created) == (orphan.id, False)
    assert (await replicas[0].get_incident(orphan.id)).title == orphan.title


async def test_pointer_to_a_resolved_incident_is_replaced(replicas: Pair) -> None:
    first, _ = await replicas[0].open_incident_for_group(incident())
    # Resolve it the way a replica that crashed before releasing the pointer would leave it.
    first.status = IncidentStatus.RESOLVED
    incidents = await replicas[0].items.container(INCIDENTS)
    await incidents.upsert_item(incident_item(first))
    second, created = await replicas[1].open_incident_for_group(incident(n=2))
    assert created and second.id != first.id


async def test_alert_key_without_its_alert_is_repaired_by_the_resend(replicas: Pair) -> None:
    lost = alert("inc-1")
    keys = await replicas[0].items.container(ALERT_KEYS)
    await keys.create_item(
        {"id": item_id("alk", lost.dedup_key), "alertId": lost.id, "incidentId": "inc-1",
         "doc": lost.model_dump(mode="json")}
    )  # fmt: skip
    assert not await replicas[1].add_alert(alert("inc-1"))
    assert [a.id for a in await replicas[0].list_alerts("inc-1")] == [lost.id]


async def test_reopening_into_a_taken_group_conflicts(replicas: Pair) -> None:
    first, _ = await replicas[0].open_incident_for_group(incident())
    first.status = IncidentStatus.RESOLVED
    first = await replicas[0].update_incident(first)
    second, created = await replicas[1].open_incident_for_group(incident(n=2))
    assert created
    first.status = IncidentStatus.OPEN
    with pytest.raises(Conflict):
        await replicas[0].update_incident(first)
    assert (await replicas[0].get_incident(first.id)).status is IncidentStatus.RESOLVED
    second.status = IncidentStatus.RESOLVED
    await replicas[1].update_incident(second)
    assert (await replicas[0].update_incident(first)).status is IncidentStatus.OPEN
    assert (await replicas[1].open_incident_for_group(incident(n=3)))[0].id == first.id


async def test_from_settings_creates_database_and_containers_on_first_use(
    cosmos_server: CosmosServer,
) -> None:
    database = cosmos_server.new_database()
    settings = Settings(
        STORE_BACKEND="cosmos",
        COSMOS_ENDPOINT=cosmos_server.endpoint,
        COSMOS_KEY=cosmos_server.key,
        COSMOS_DATABASE=database,
        COSMOS_VERIFY_TLS=False,
    )
    store = Root(settings).store()  # sync, no I/O yet
    raw = RawPayload(source="generic", content_type="text/plain", body="x", received_at=T0)
    try:
        await store.add_raw(raw)  # the first call opens the store
        assert await store.get_raw(raw.id) == raw
    finally:
        await store.close()
    async with CosmosClient(cosmos_server.endpoint, cosmos_server.key) as sdk:
        names = {c["id"] async for c in sdk.get_database_client(database).list_containers()}
    assert names == {spec.name for spec in CONTAINERS}
