"""The pipeline's own steps on a real SQLite store: queueing, leases, resolving, the CAS loop."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.actions import VoteStatus
from bot.cas import read_modify_write
from bot.compose import Root
from bot.config import load_settings
from bot.errors import Conflict, NotFound
from bot.models import ActionState, IncidentStatus, Vote
from bot.notify import RecordingNotifier
from bot.pipeline import Pipeline, ResolveStatus, TriageQueue

# Outside every freeze window of the shipped policies.
NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


def alert(title: str, service: str = "checkout", instance: str = "pod-1") -> bytes:
    return json.dumps(
        {
            "title": title,
            "service": service,
            "severity": "critical",
            "labels": {
                "alertname": title.replace(" ", ""),
                "instance": instance,
                "deployment": "checkout-api",
            },
        }
    ).encode()


@pytest.fixture
async def pipeline(tmp_path: Path) -> AsyncIterator[Pipeline]:
    settings = load_settings(
        SQLITE_PATH=str(tmp_path / "bot.db"),
        RUNBOOK_INDEX_PATH=str(tmp_path / "rb.db"),
        RUNBOOK_EMBEDDINGS="none",
        INCIDENT_ADMINS="U0ADMIN001",
        REPLICA_ID="replica-a",
    )
    runtime = Root(settings).runtime(notifier=RecordingNotifier())
    yield runtime.pipeline
    await runtime.pipeline.stop()
    await runtime.store.close()


async def test_receive_queues_new_incidents_and_the_workers_triage_them(
    pipeline: Pipeline,
) -> None:
    pipeline.start()
    receipt = await pipeline.receive("generic", alert("checkout 5xx"), "application/json", NOW)
    await pipeline.stop()  # drains the queue
    assert len(receipt.new_incident_ids) == 1
    assert len(await pipeline.store.list_triages(receipt.new_incident_ids[0])) == 1


async def test_a_resend_of_an_untriaged_incident_queues_it_again(pipeline: Pipeline) -> None:
    # Ingest without triage: as if the process died between storing and triaging.
    first = await pipeline.ingest("generic", alert("checkout 5xx"), "application/json", NOW)
    incident_id = first.new_incident_ids[0]
    pipeline.start()
    again = await pipeline.receive("generic", alert("checkout 5xx"), "application/json", NOW)
    await pipeline.stop()
    assert again.duplicates == 1 and again.new_incident_ids == []
    assert again.resent_incident_ids == [incident_id]
    assert len(await pipeline.store.list_triages(incident_id)) == 1


async def test_a_second_attempt_on_the_same_replica_does_not_take_the_first_ones_lease(
    pipeline: Pipeline,
) -> None:
    receipt = await pipeline.ingest("generic", alert("checkout 5xx"), "application/json", NOW)
    incident_id = receipt.new_incident_ids[0]
    # An attempt of this very replica is in flight (another owner token of replica-a).
    held = await pipeline.coordination.acquire_lease(
        f"triage:{incident_id}", "replica-a/other-attempt", NOW, 300
    )
    assert held
    assert await pipeline.triage_incident(incident_id, NOW) is None
    assert await pipeline.store.list_triages(incident_id) == []
    # Once that attempt lets go, a new one may triage.
    await pipeline.coordination.release_lease(
        f"triage:{incident_id}", "replica-a/other-attempt", NOW
    )
    assert await pipeline.triage_incident(incident_id, NOW) is not None
    # And the lease is released afterwards: a forced re-triage can run at once.
    assert await pipeline.triage_incident(incident_id, NOW, force=True) is not None


async def test_the_sweep_triages_old_untriaged_incidents_oldest_first(pipeline: Pipeline) -> None:
    ids = []
    for n in range(3):
        receipt = await pipeline.ingest(
            "generic", alert(f"queue {n} stuck", service=f"svc-{n}"), "application/json", NOW
        )
        ids += receipt.new_incident_ids
    later = NOW + timedelta(seconds=pipeline.options.triage_lease_seconds + 1)
    assert await pipeline.triage_untriaged(NOW) == 0  # too young: a triage may be in flight
    assert await pipeline.triage_untriaged(later, page=2) == 3  # paginated, every one done
    assert await pipeline.triage_untriaged(later) == 0


async def _incident_with_pending_request(pipeline: Pipeline) -> tuple[str, str]:
    receipt = await pipeline.ingest(
        "generic", alert("checkout errors after rollout v2.3.1"), "application/json", NOW
    )
    incident_id = receipt.new_incident_ids[0]
    result = await pipeline.triage_incident(incident_id, NOW)
    assert result is not None
    pending = [r for r in result.requests if r.state is ActionState.PENDING_APPROVAL]
    assert pending, [r.state for r in result.requests]
    return incident_id, pending[0].id


async def test_resolve_is_refused_to_strangers_and_allowed_to_admins(pipeline: Pipeline) -> None:
    incident_id, request_id = await _incident_with_pending_request(pipeline)
    refused = await pipeline.resolve_incident(incident_id, "U0STRANGER", "done", NOW)
    assert refused.status is ResolveStatus.NOT_ALLOWED
    assert refused.incident.status is IncidentStatus.OPEN
    done = await pipeline.resolve_incident(incident_id, "U0ADMIN001", "rolled back", NOW)
    assert done.status is ResolveStatus.RESOLVED
    again = await pipeline.resolve_incident(incident_id, "U0ADMIN001", "", NOW)
    assert again.status is ResolveStatus.ALREADY_RESOLVED


async def test_resolving_cancels_open_requests_and_no_vote_counts_afterwards(
    pipeline: Pipeline,
) -> None:
    incident_id, request_id = await _incident_with_pending_request(pipeline)
    await pipeline.resolve_incident(incident_id, "U0ADMIN001", "fixed by hand", NOW)
    request = await pipeline.store.get_action_request(request_id)
    assert request.state is ActionState.CANCELLED and "resolved" in (request.error or "")
    vote = await pipeline.vote(request_id, "U0CHKLEAD1", Vote.APPROVE, NOW)
    assert not vote.accepted and vote.status is VoteStatus.INCIDENT_RESOLVED
    assert not vote.executed
    kinds = [e.kind.value for e in await pipeline.store.list_events(incident_id)]
    assert (
        "action.cancelled" in kinds
        and kinds.index("action.cancelled") < kinds.index("incident.resolved") + 2
    )
    notifier = pipeline.notifier
    assert isinstance(notifier, RecordingNotifier)
    assert ("incident_resolved", incident_id, "U0ADMIN001") in notifier.calls


async def test_the_cas_loop_gives_up_after_its_bound_and_rejudges_each_time() -> None:
    seen: list[int] = []
    state = {"value": 0}

    async def read() -> dict[str, int]:
        return dict(state)

    async def write(value: dict[str, int]) -> dict[str, int]:
        state["value"] += 1  # someone else always wins
        raise Conflict("stale")

    def change(value: dict[str, int]) -> dict[str, int]:
        seen.append(value["value"])
        return value

    with pytest.raises(Conflict, match="gave up after 3"):
        await read_modify_write(read, write, change, what="probe", attempts=3)
    assert seen == [0, 1, 2]  # each attempt decided from a fresh read


async def test_the_triage_queue_is_bounded_and_holds_an_incident_once() -> None:
    queue = TriageQueue(capacity=2, workers=1)
    assert not queue.submit("inc-1")  # not started: the sweep will take it

    async def never(incident_id: str) -> None:
        return None

    queue.start(never)
    try:
        # Workers have not run yet (no await since start): the queue fills up.
        assert queue.submit("inc-1") and not queue.submit("inc-1")
        assert queue.submit("inc-2") and not queue.submit("inc-3")
        assert queue.depth == 2
    finally:
        await queue.stop()


async def test_incidents_are_named_by_number_as_well_as_id(pipeline: Pipeline) -> None:
    receipt = await pipeline.receive("generic", alert("Disk full"), "application/json", NOW)
    (incident_id,) = receipt.new_incident_ids
    opened = await pipeline.incident(incident_id)
    assert opened.number is not None and opened.reference == f"INC-{opened.number}"
    for name in (opened.reference, opened.reference.lower(), f" {opened.reference} "):
        assert (await pipeline.incident(name)).id == incident_id
    with pytest.raises(NotFound):
        await pipeline.incident(f"INC-{opened.number + 1}")
