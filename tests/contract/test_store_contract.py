"""The Store contract: every backend must pass this same suite."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.deliveries import Delivery, DeliveryKind, DeliveryState
from bot.errors import Conflict, NotFound
from bot.models import (
    ActionRequest,
    ActionState,
    Alert,
    AlertStatus,
    Approval,
    Decision,
    DecisionOutcome,
    Event,
    Feedback,
    Incident,
    IncidentStatus,
    Proposal,
    RawPayload,
    Triage,
)
from bot.ports import Backend, Store
from bot.store.sqlite import SQLiteStore

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
KIND = "incident.opened"  # any timeline kind will do


def incident(n: int = 0, group: str | None = None, at: datetime = T0) -> Incident:
    return Incident(
        title=f"incident {n}", service="checkout", group_key=group, created_at=at, updated_at=at
    )


def alert(incident_id: str | None, fp: str = "fp1", status: AlertStatus = AlertStatus.FIRING,
          at: datetime = T0) -> Alert:
    return Alert(
        source="generic", fingerprint=fp, group_key="g", service="checkout", title="High latency",
        status=status, starts_at=at, received_at=at, incident_id=incident_id,
    )


def action_request(incident_id: str) -> ActionRequest:
    proposal = Proposal(action="restart_deployment", service="checkout", params={"deployment": "x"})
    decision = Decision(
        outcome=DecisionOutcome.REQUIRE_APPROVAL, action="restart_deployment", service="checkout",
        approvals_required=1,
    )
    return ActionRequest(
        incident_id=incident_id, proposal=proposal, decision=decision,
        state=ActionState.PENDING_APPROVAL, requested_by="incident-bot", created_at=T0,
        updated_at=T0, expires_at=T0 + timedelta(minutes=30),
    )


async def test_raw_payload_round_trip(store: Store) -> None:
    raw = RawPayload(source="generic", content_type="application/json", body='{"a": 1}',
                     received_at=T0)
    await store.add_raw(raw)
    assert await store.get_raw(raw.id) == raw


async def test_missing_entities_raise_not_found(store: Store) -> None:
    for call in (store.get_incident("inc-none"), store.get_alert("alr-none"),
                 store.get_action_request("act-none"), store.get_raw("raw-none")):
        with pytest.raises(NotFound):
            await call


async def test_incident_crud_and_cas(store: Store) -> None:
    created = incident()
    await store.create_incident(created)
    loaded = await store.get_incident(created.id)
    assert loaded == created
    loaded.title = "renamed"
    saved = await store.update_incident(loaded)
    assert saved.version == created.version + 1
    assert (await store.get_incident(created.id)).title == "renamed"
    stale = created.model_copy(update={"title": "stale write"})
    with pytest.raises(Conflict):
        await store.update_incident(stale)
    assert (await store.get_incident(created.id)).title == "renamed"


async def test_incidents_listed_by_status_and_recency(store: Store) -> None:
    older = incident(1, at=T0)
    newer = incident(2, at=T0 + timedelta(minutes=5))
    closed = incident(3, at=T0 + timedelta(minutes=10)).model_copy(
        update={"status": IncidentStatus.RESOLVED}
    )
    for item in (older, newer, closed):
        await store.create_incident(item)
    assert [i.id for i in await store.list_incidents()] == [closed.id, newer.id, older.id]
    assert [i.id for i in await store.list_incidents(IncidentStatus.OPEN)] == [newer.id, older.id]
    assert [i.id for i in await store.list_incidents(IncidentStatus.RESOLVED)] == [closed.id]
    assert len(await store.list_incidents(limit=1)) == 1


async def test_open_incident_for_group_returns_the_same_incident(store: Store) -> None:
    first, created = await store.open_incident_for_group(incident(1, group="g1"))
    again, created_again = await store.open_incident_for_group(incident(2, group="g1"))
    other, created_other = await store.open_incident_for_group(incident(3, group="g2"))
    assert created and not created_again and created_other
    assert again.id == first.id and other.id != first.id
    assert (await store.latest_incident_for_group("g1")).id == first.id  # type: ignore[union-attr]
    assert await store.latest_incident_for_group("nope") is None


async def test_resolved_incident_frees_its_group(store: Store) -> None:
    first, _ = await store.open_incident_for_group(incident(1, group="g1"))
    first.status = IncidentStatus.RESOLVED
    await store.update_incident(first)
    second, created = await store.open_incident_for_group(incident(2, group="g1"))
    assert created and second.id != first.id


async def test_alerts_deduplicate_on_fingerprint_start_and_status(store: Store) -> None:
    inc = incident()
    await store.create_incident(inc)
    assert await store.add_alert(alert(inc.id))
    assert not await store.add_alert(alert(inc.id))  # the same firing alert resent
    assert await store.add_alert(alert(inc.id, status=AlertStatus.RESOLVED))
    assert await store.add_alert(alert(inc.id, fp="fp2"))
    listed = await store.list_alerts(inc.id)
    assert [(a.fingerprint, a.status) for a in listed] == [
        ("fp1", AlertStatus.FIRING), ("fp1", AlertStatus.RESOLVED), ("fp2", AlertStatus.FIRING)
    ]
    assert await store.get_alert(listed[0].id) == listed[0]


async def test_triages_in_order(store: Store) -> None:
    first = Triage(incident_id="inc-1", summary="first", created_at=T0)
    second = Triage(
        incident_id="inc-1", summary="second", created_at=T0 + timedelta(seconds=1), retriage=True
    )
    await store.add_triage(first)
    await store.add_triage(second)
    await store.add_triage(Triage(incident_id="inc-2", created_at=T0))
    assert [t.summary for t in await store.list_triages("inc-1")] == ["first", "second"]
    assert [t.retriage for t in await store.list_triages("inc-1")] == [False, True]


async def test_a_second_first_triage_of_an_incident_conflicts(store: Store) -> None:
    await store.add_triage(Triage(incident_id="inc-1", summary="first", created_at=T0))
    with pytest.raises(Conflict):
        await store.add_triage(Triage(incident_id="inc-1", summary="dup", created_at=T0))
    later = T0 + timedelta(seconds=5)
    for summary in ("again", "and again"):  # explicit re-triages may repeat
        await store.add_triage(
            Triage(incident_id="inc-1", summary=summary, created_at=later, retriage=True)
        )
    assert [t.summary for t in await store.list_triages("inc-1")] == [
        "first", "again", "and again"
    ]


async def test_racing_first_triages_store_exactly_one(store: Store) -> None:
    racers = [Triage(incident_id="inc-1", summary=f"r{n}", created_at=T0) for n in range(6)]
    results = await asyncio.gather(
        *(store.add_triage(t) for t in racers), return_exceptions=True
    )
    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, Conflict) for r in results if r is not None)
    stored = await store.list_triages("inc-1")
    assert len(stored) == 1
    assert stored[0].id in {t.id for t in racers}


async def test_action_request_cas_conflict_detected(store: Store) -> None:
    request = action_request("inc-1")
    await store.add_action_request(request)
    mine = await store.get_action_request(request.id)
    theirs = await store.get_action_request(request.id)
    mine.state = ActionState.APPROVED
    mine.approvals.append(Approval(request_id=request.id, user_id="U1", at=T0))
    saved = await store.update_action_request(mine)
    assert saved.version == 1
    theirs.state = ActionState.DENIED
    with pytest.raises(Conflict):
        await store.update_action_request(theirs)
    stored = await store.get_action_request(request.id)
    assert stored.state is ActionState.APPROVED and stored.approvers == ["U1"]


async def test_action_requests_filtered_by_incident_and_state(store: Store) -> None:
    a, b, c = action_request("inc-1"), action_request("inc-1"), action_request("inc-2")
    c.state = ActionState.BLOCKED
    for item in (a, b, c):
        await store.add_action_request(item)
    assert {r.id for r in await store.list_action_requests("inc-1")} == {a.id, b.id}
    pending = await store.list_action_requests(states=[ActionState.PENDING_APPROVAL])
    assert {r.id for r in pending} == {a.id, b.id}
    assert [r.id for r in await store.list_action_requests("inc-2", [ActionState.BLOCKED])] == [
        c.id
    ]


async def test_timeline_events_in_order(store: Store) -> None:
    for n in range(5):
        await store.append_event(
            Event(incident_id="inc-1", at=T0, actor="tester", kind=KIND, message=f"step {n}")
        )
    await store.append_event(
        Event(incident_id="inc-2", at=T0, actor="tester", kind=KIND, message="other")
    )
    events = await store.list_events("inc-1")
    assert [e.message for e in events] == [f"step {n}" for n in range(5)]
    assert [e.seq for e in events] == sorted(e.seq for e in events)


async def test_feedback_round_trip(store: Store) -> None:
    feedback = Feedback(incident_id="inc-1", user_id="U1", helpful=True, at=T0)
    await store.add_feedback(feedback)
    assert await store.list_feedback("inc-1") == [feedback]


async def test_leases_exclusive_until_expiry(store: Store) -> None:
    assert await store.acquire_lease("triage:inc-1", "a", T0, 60)
    assert not await store.acquire_lease("triage:inc-1", "b", T0 + timedelta(seconds=30), 60)
    assert await store.acquire_lease("triage:inc-1", "a", T0 + timedelta(seconds=30), 60)
    assert await store.acquire_lease("triage:inc-1", "b", T0 + timedelta(seconds=91), 60)


async def test_token_usage_counter(store: Store) -> None:
    assert await store.get_token_usage("2026-11-24") == 0
    assert await store.add_token_usage("2026-11-24", 100) == 100
    assert await store.add_token_usage("2026-11-24", 50) == 150
    assert await store.get_token_usage("2026-11-25") == 0


async def test_concurrent_tasks_lose_no_event(store: Store) -> None:
    async def writer(w: int) -> None:
        for n in range(20):
            await store.append_event(
                Event(incident_id="inc-c", at=T0, actor=f"w{w}", kind=KIND, message=f"{w}-{n}")
            )

    await asyncio.gather(*(writer(w) for w in range(5)))
    assert len(await store.list_events("inc-c")) == 100


# Threads and processes exercise the SQLite file directly (Cosmos has its own replica tests).


def test_concurrent_threads_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "threads.db"
    SQLiteStore(path)
    inc = incident()
    asyncio.run(SQLiteStore(path).create_incident(inc))

    def writer(w: int) -> None:
        own = SQLiteStore(path)  # one connection per thread, like separate workers
        for n in range(25):
            asyncio.run(own.add_alert(alert(inc.id, fp=f"t{w}-{n}")))
            asyncio.run(own.append_event(Event(incident_id=inc.id, at=T0, actor=f"t{w}",
                                               kind=KIND, message=str(n))))

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check = SQLiteStore(path)
    assert len(asyncio.run(check.list_alerts(inc.id, limit=1000))) == 150
    assert len(asyncio.run(check.list_events(inc.id))) == 150


def _process_writer(path: str, incident_id: str, worker: int) -> None:
    store = SQLiteStore(path)
    for n in range(25):
        asyncio.run(store.add_alert(alert(incident_id, fp=f"p{worker}-{n}")))
    for _ in range(10):
        while True:  # a read-modify-write under CAS: retry until our increment lands
            current = asyncio.run(store.get_incident(incident_id))
            current.alert_count += 1
            try:
                asyncio.run(store.update_incident(current))
                break
            except Conflict:
                continue


def test_concurrent_processes_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "procs.db")
    inc = incident()
    asyncio.run(SQLiteStore(path).create_incident(inc))
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_process_writer, args=(path, inc.id, w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    check = SQLiteStore(path)
    assert len(asyncio.run(check.list_alerts(inc.id, limit=1000))) == 100
    assert asyncio.run(check.get_incident(inc.id)).alert_count == 40


# Batches of alerts and the untriaged sweep.


async def test_add_alerts_skips_resends_and_keeps_input_order(store: Store) -> None:
    inc = incident()
    await store.create_incident(inc)
    assert await store.add_alert(alert(inc.id, fp="old"))
    batch = [alert(inc.id, fp="new1"), alert(inc.id, fp="old"), alert(inc.id, fp="new2")]
    assert await store.add_alerts(batch) == [True, False, True]
    assert await store.add_alerts(batch) == [False, False, False]  # the whole payload resent
    assert [a.fingerprint for a in await store.list_alerts(inc.id)] == ["old", "new1", "new2"]
    assert (await store.get_incident(inc.id)).alert_count == 0  # no counts: nobody counted
    assert await store.add_alerts([]) == []


async def test_add_alerts_counts_firing_alerts_not_their_resolved_notices(store: Store) -> None:
    """Three alerts fire, then resolve: the incident had three alerts, not six."""
    inc = incident(group="g")
    await store.create_incident(inc)
    firing = [alert(inc.id, fp=f"f{n}") for n in range(3)]
    assert await store.add_alerts(firing, counts={inc.id: 3}) == [True] * 3
    later = T0 + timedelta(minutes=20)
    resolved = [alert(inc.id, fp=f"f{n}", status=AlertStatus.RESOLVED, at=later) for n in range(3)]
    assert await store.add_alerts(resolved, counts={inc.id: 3}) == [True] * 3
    assert (await store.get_incident(inc.id)).alert_count == 3
    assert len(await store.list_alerts(inc.id)) == 6  # every notice is kept for the record


async def test_add_alerts_stores_a_repeated_dedup_key_once(store: Store) -> None:
    inc = incident()
    await store.create_incident(inc)
    first, repeat = alert(inc.id, fp="same"), alert(inc.id, fp="same")
    assert first.id != repeat.id and first.dedup_key == repeat.dedup_key
    assert await store.add_alerts([first, repeat, alert(inc.id, fp="other")]) == [
        True, False, True
    ]
    assert {a.id for a in await store.list_alerts(inc.id)} >= {first.id}
    assert len(await store.list_alerts(inc.id)) == 2


async def test_add_alerts_counts_only_the_alerts_it_stored(store: Store) -> None:
    one, two = incident(1, group="g1"), incident(2, group="g2")
    for item in (one, two):
        await store.create_incident(item)
    assert await store.add_alert(alert(one.id, fp="seen"))
    later = T0 + timedelta(minutes=3)
    batch = [
        alert(one.id, fp="seen"),  # a resend: stored before, not counted again
        alert(one.id, fp="a", at=later),
        alert(one.id, fp="b"),
        alert(two.id, fp="c"),
    ]
    stale = await store.get_incident(one.id)
    assert await store.add_alerts(batch, counts={one.id: 3, two.id: 1}) == [
        False, True, True, True
    ]
    counted_one, counted_two = await store.get_incident(one.id), await store.get_incident(two.id)
    assert (counted_one.alert_count, counted_two.alert_count) == (2, 1)
    assert counted_one.version == stale.version + 1
    assert counted_one.updated_at == later and counted_two.updated_at == T0
    stale.title = "written from a copy read before the batch"
    with pytest.raises(Conflict):
        await store.update_incident(stale)
    assert await store.add_alerts(batch, counts={one.id: 3, two.id: 1}) == [False] * 4
    assert (await store.get_incident(one.id)).alert_count == 2


async def test_untriaged_incidents_oldest_first_and_paged(store: Store) -> None:
    def at(minutes: int) -> datetime:
        return T0 + timedelta(minutes=minutes)

    counted = incident(1, at=at(1)).model_copy(update={"alert_count": 2})
    with_alert = incident(2, at=at(2))
    triaged = incident(3, at=at(3)).model_copy(update={"alert_count": 1})
    quiet = incident(4, at=at(4))  # declared by hand, no alert yet: nothing to triage
    resolved = incident(5, at=at(5)).model_copy(
        update={"alert_count": 1, "status": IncidentStatus.RESOLVED}
    )
    newest = incident(6, at=at(6)).model_copy(update={"alert_count": 1})
    for item in (newest, resolved, quiet, triaged, with_alert, counted):  # not in time order
        await store.create_incident(item)
    assert await store.add_alert(alert(with_alert.id))
    await store.add_triage(Triage(incident_id=triaged.id, created_at=at(7)))

    expected = [counted.id, with_alert.id, newest.id]
    assert [i.id for i in await store.list_untriaged_incidents()] == expected
    pages: list[str] = []
    after: str | None = None
    while page := await store.list_untriaged_incidents(limit=2, after=after):
        assert len(page) <= 2
        pages += [i.id for i in page]
        after = page[-1].id
    assert pages == expected

    await store.add_triage(Triage(incident_id=with_alert.id, created_at=at(8)))
    assert [i.id for i in await store.list_untriaged_incidents()] == [counted.id, newest.id]
    assert await store.list_untriaged_incidents(after=newest.id) == []
    with pytest.raises(NotFound):
        await store.list_untriaged_incidents(after="inc-none")


# the durable outbox (Deliveries) --------------------------------------------------------------
def delivery(n: int = 0, *, card: str = "", seq: str = "", due: datetime = T0,
             kind: DeliveryKind = DeliveryKind.MESSAGE) -> Delivery:
    return Delivery(
        kind=kind, channel="C0INCIDENTS", payload={"text": f"message {n}"}, card=card, seq=seq,
        incident_id="inc-1", created_at=T0 + timedelta(seconds=n), next_attempt_at=due,
    )


async def test_delivery_round_trip_and_cas(store: Backend) -> None:
    written = delivery(kind=DeliveryKind.CARD)
    written.request_ids = ["act-1", "act-2"]
    await store.add_delivery(written)
    assert await store.get_delivery(written.id) == written
    with pytest.raises(Conflict):
        await store.add_delivery(written)
    claimed = await store.update_delivery(
        written.model_copy(update={"claimed_by": "a", "claimed_until": T0 + timedelta(seconds=30)})
    )
    assert claimed.version == 1
    assert await store.get_delivery(written.id) == claimed
    with pytest.raises(Conflict):  # a second claimant read version 0 as well
        await store.update_delivery(written.model_copy(update={"claimed_by": "b"}))
    with pytest.raises(NotFound):
        await store.get_delivery("dlv-none")


async def test_due_deliveries_are_pending_due_and_unclaimed(store: Backend) -> None:
    now = T0 + timedelta(minutes=1)
    later = delivery(1, due=now - timedelta(seconds=1))
    sooner = delivery(2, due=now - timedelta(seconds=5))
    not_yet = delivery(3, due=now + timedelta(seconds=1))
    held = delivery(4, due=T0).model_copy(
        update={"claimed_by": "r1", "claimed_until": now + timedelta(seconds=10)})
    lapsed = delivery(5, due=T0).model_copy(
        update={"claimed_by": "r2", "claimed_until": now - timedelta(seconds=10)})
    done = delivery(6, due=T0).model_copy(
        update={"state": DeliveryState.DELIVERED, "ts": "1.000001"})
    for d in (later, sooner, not_yet, held, lapsed, done):
        await store.add_delivery(d)
    due = await store.list_due_deliveries(now)
    assert [d.id for d in due] == [lapsed.id, sooner.id, later.id]
    assert [d.id for d in await store.list_due_deliveries(now, limit=1)] == [lapsed.id]


async def test_card_deliveries_in_seq_order(store: Backend) -> None:
    post = delivery(0, card="dlv-card", seq="0001", kind=DeliveryKind.CARD)
    second = delivery(2, card="dlv-card", seq="0003", kind=DeliveryKind.UPDATE)
    first = delivery(1, card="dlv-card", seq="0002", kind=DeliveryKind.UPDATE)
    other = delivery(3, card="C1/1.0", seq="0000", kind=DeliveryKind.UPDATE)
    for d in (second, post, other, first):
        await store.add_delivery(d)
    assert [d.id for d in await store.list_card_deliveries("dlv-card")] == [
        post.id, first.id, second.id]
    assert await store.list_card_deliveries("nothing") == []


async def test_unreported_deliveries_and_backlog(store: Backend) -> None:
    assert await store.delivery_backlog() == (0, None)
    failed = delivery(1).model_copy(
        update={"state": DeliveryState.FAILED, "last_error": "channel_not_found",
                "reported": False})
    late = delivery(2).model_copy(
        update={"state": DeliveryState.DELIVERED, "ts": "1.2", "reported": False})
    quiet = delivery(3).model_copy(update={"state": DeliveryState.DELIVERED, "ts": "1.3"})
    waiting = delivery(4).model_copy(update={"reported": False})
    oldest_pending = delivery(0)
    for d in (failed, late, quiet, waiting, oldest_pending):
        await store.add_delivery(d)
    assert [d.id for d in await store.list_unreported_deliveries()] == [failed.id, late.id]
    assert await store.delivery_backlog() == (2, oldest_pending.created_at)
    reported = await store.update_delivery(failed.model_copy(update={"reported": True}))
    assert reported.reported
    assert [d.id for d in await store.list_unreported_deliveries()] == [late.id]


async def test_incidents_are_numbered_at_creation_and_found_by_number(store: Store) -> None:
    declared = incident(0)
    await store.create_incident(declared)
    first, created = await store.open_incident_for_group(incident(1, group="g-numbers"))
    again, created_again = await store.open_incident_for_group(incident(2, group="g-numbers"))
    assert created and not created_again and again.id == first.id
    assert declared.number is not None and first.number is not None
    assert first.number > declared.number
    stored = await store.get_incident(first.id)
    assert stored.number == first.number and stored.reference == f"INC-{first.number}"
    assert (await store.get_incident_by_number(first.number)).id == first.id
    assert (await store.get_incident_by_number(declared.number)).id == declared.id
    with pytest.raises(NotFound):
        await store.get_incident_by_number(first.number + 100)
