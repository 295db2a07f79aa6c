"""The timeline's hash chain on every store: linked on append, one linear chain when replicas
append at once, a tampered row named by verification; and the request history for replay."""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import audit
from bot.errors import NotFound
from bot.models import (
    ActionRequest,
    ActionState,
    Decision,
    DecisionOutcome,
    Event,
    EventKind,
    Proposal,
)
from bot.ports import Store
from bot.store.cosmos import CosmosStore
from bot.store.cosmos_items import EVENTS, CosmosItems
from bot.store.sqlite import SQLiteStore
from tests.contract.conftest import BACKENDS
from tests.integration.cosmos.emulator import CosmosServer

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def _event(incident_id: str, message: str, **data: object) -> Event:
    return Event(incident_id=incident_id, at=T0, actor="u", kind=EventKind.NOTE,
                 message=message, data=dict(data))


def _assert_linear(events: list[Event], incident_id: str, count: int) -> None:
    """One chain, no fork: every event links to the one before it and no link is shared."""
    assert len(events) == count
    report = audit.verify_chain(incident_id, events)
    assert report.ok, report.broken and report.broken.describe()
    assert report.legacy == 0 and report.head == events[-1].hash
    assert len({e.prev_hash for e in events}) == count  # two appends on one head would repeat
    assert [e.seq for e in events] == sorted({e.seq for e in events})


async def test_appends_are_chained_per_incident(store: Store) -> None:
    stored = []
    for n in range(3):
        stored.append(await store.append_event(_event("inc-a", f"a{n}", n=n)))
        await store.append_event(_event("inc-b", f"b{n}"))
    assert stored[0].prev_hash == audit.GENESIS
    assert [e.prev_hash for e in stored[1:]] == [e.hash for e in stored[:-1]]
    listed = await store.list_events("inc-a")
    assert listed == stored  # what append returned is what was stored, hashes included
    _assert_linear(listed, "inc-a", 3)
    _assert_linear(await store.list_events("inc-b"), "inc-b", 3)


async def test_concurrent_tasks_leave_one_linear_chain(store: Store) -> None:
    async def writer(w: int) -> None:
        for n in range(8):
            await store.append_event(_event("inc-c", f"{w}-{n}"))

    await asyncio.gather(*(writer(w) for w in range(5)))
    _assert_linear(await store.list_events("inc-c"), "inc-c", 40)


# Two replicas: two store objects (two connections / two SDK clients) on one database.


@pytest.fixture(params=BACKENDS)
async def replicas(request: pytest.FixtureRequest, tmp_path: Path
                   ) -> AsyncIterator[tuple[Store, Store]]:
    pair: tuple[Store, Store]
    if request.param == "cosmos":
        server: CosmosServer = request.getfixturevalue("cosmos_server")
        database = server.new_database()
        pair = (_cosmos(server, database), _cosmos(server, database))
    else:
        pair = (SQLiteStore(tmp_path / "shared.db"), SQLiteStore(tmp_path / "shared.db"))
    yield pair
    for store in pair:
        await store.close()


def _cosmos(server: CosmosServer, database: str) -> CosmosStore:
    return CosmosStore(CosmosItems(server.endpoint, server.key, database, verify_tls=False,
                                   endpoint_discovery=False))


async def test_two_replicas_appending_at_once_do_not_fork(replicas: tuple[Store, Store]) -> None:
    first, second = replicas
    await first.append_event(_event("inc-r", "opened"))  # both containers exist before the race

    async def writer(store: Store, name: str) -> None:
        for n in range(15):
            await store.append_event(_event("inc-r", f"{name}-{n}"))

    await asyncio.gather(writer(first, "a"), writer(second, "b"))
    for reader in replicas:
        _assert_linear(await reader.list_events("inc-r"), "inc-r", 31)


def _process_appender(path: str, worker: int) -> None:
    store = SQLiteStore(path)
    for n in range(20):
        asyncio.run(store.append_event(_event("inc-p", f"p{worker}-{n}")))


def test_processes_appending_to_one_sqlite_file_do_not_fork(tmp_path: Path) -> None:
    path = str(tmp_path / "procs.db")
    SQLiteStore(path)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_process_appender, args=(path, w)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    _assert_linear(asyncio.run(SQLiteStore(path).list_events("inc-p")), "inc-p", 60)


# Tampering and legacy rows, written behind the store's back as an intruder (or an old version)
# would: SQL on the SQLite file, the SDK on Cosmos.


async def _tamper(store: Store, tmp_path: Path, event: Event, message: str) -> None:
    if isinstance(store, CosmosStore):
        container = await store.items.container(EVENTS)
        items = [item async for item in container.query_items(
            "SELECT * FROM c WHERE c.incidentId = @i AND c.seq = @s",
            parameters=[{"name": "@i", "value": event.incident_id},
                        {"name": "@s", "value": event.seq}],
            partition_key=event.incident_id)]
        (item,) = items
        item["doc"]["message"] = message
        await container.replace_item(item["id"], item)
        return
    with sqlite3.connect(tmp_path / "contract.db") as db:
        db.execute("UPDATE events SET doc = json_set(doc, '$.message', ?) WHERE seq = ?",
                   (message, event.seq))


async def _write_legacy(store: Store, tmp_path: Path, event: Event) -> None:
    """An event as incident-bot stored it before the chain: no prev_hash, no hash."""
    if isinstance(store, CosmosStore):
        doc = event.model_dump(mode="json", exclude={"prev_hash", "hash"})
        body = {"id": event.id, "incidentId": event.incident_id, "seq": event.seq, "doc": doc}
        await store.items.create(EVENTS, body, "legacy event")
        return
    with sqlite3.connect(tmp_path / "contract.db") as db:
        cur = db.execute("INSERT INTO events (id, incident_id, doc) VALUES (?, ?, '')",
                         (event.id, event.incident_id))
        doc = event.model_copy(update={"seq": cur.lastrowid}).model_dump_json(
            exclude={"prev_hash", "hash"})
        db.execute("UPDATE events SET doc = ? WHERE seq = ?", (doc, cur.lastrowid))


async def test_a_tampered_row_is_named_by_verification(store: Store, tmp_path: Path) -> None:
    stored = [await store.append_event(_event("inc-t", f"step {n}")) for n in range(4)]
    assert audit.verify_chain("inc-t", await store.list_events("inc-t")).ok
    await _tamper(store, tmp_path, stored[2], "nothing to see here")
    report = audit.verify_chain("inc-t", await store.list_events("inc-t"))
    assert report.broken is not None
    assert (report.broken.incident_id, report.broken.seq) == ("inc-t", stored[2].seq)
    assert report.broken.what == "hash" and report.broken.found == stored[2].hash


async def test_legacy_events_are_unchained_and_the_chain_continues_after_them(
    store: Store, tmp_path: Path
) -> None:
    legacy = _event("inc-l", "written before the chain existed").model_copy(update={"seq": 1})
    await _write_legacy(store, tmp_path, legacy)
    appended = await store.append_event(_event("inc-l", "after the upgrade"))
    events = await store.list_events("inc-l")
    assert [e.hash for e in events] == ["", appended.hash]
    assert appended.prev_hash == audit.link_of(events[0])
    report = audit.verify_chain("inc-l", events)
    assert report.ok and report.legacy == 1


# The request history policy replay reads.


def _request(incident_id: str, at: datetime) -> ActionRequest:
    decision = Decision(outcome=DecisionOutcome.REQUIRE_APPROVAL, action="restart_deployment",
                        service="checkout", approvals_required=1)
    return ActionRequest(
        incident_id=incident_id, proposal=Proposal(action="restart_deployment", service="checkout"),
        decision=decision, state=ActionState.PENDING_APPROVAL, requested_by="incident-bot",
        created_at=at, updated_at=at)


async def test_requests_since_are_paged_oldest_first_across_incidents(store: Store) -> None:
    old = _request("inc-1", T0 - timedelta(days=40))
    recent = [
        _request("inc-1", T0),
        _request("inc-2", T0 + timedelta(minutes=1)),
        _request("inc-2", T0 + timedelta(minutes=2)),
        _request("inc-3", T0 + timedelta(minutes=2)),  # same instant: store order breaks the tie
        _request("inc-1", T0 + timedelta(hours=1)),
    ]
    for request in [recent[4], old, *recent[:4]]:
        await store.add_action_request(request)
    pages: list[list[str]] = []
    after: str | None = None
    while True:
        page = await store.list_action_requests_since(T0 - timedelta(days=1), 2, after)
        pages.append([r.id for r in page])
        if len(page) < 2:
            break
        after = page[-1].id
    seen = [request_id for page in pages for request_id in page]
    assert [len(p) for p in pages] == [2, 2, 1]
    assert sorted(seen) == sorted(r.id for r in recent) and len(set(seen)) == 5
    assert seen[0] == recent[0].id and seen[1] == recent[1].id and seen[-1] == recent[4].id
    everything = await store.list_action_requests_since(T0 - timedelta(days=90))
    assert [r.id for r in everything][0] == old.id and len(everything) == 6
    with pytest.raises(NotFound):
        await store.list_action_requests_since(T0, 2, "act-none")
