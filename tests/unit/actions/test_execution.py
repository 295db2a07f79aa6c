"""Safety invariant 2: execute() re-checks everything itself and runs a request exactly once."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot import actions
from bot.actions import ExecutionPlan
from bot.models import ActionState, Approval, Proposal, Vote
from bot.policy import Policy
from bot.ports import RunReport
from bot.store.sqlite import SQLiteStore

from .conftest import GROUPS, NOW, REQUESTER, TTL, RecordingExecutor, executors_for, file_request

DIAGNOSE = Proposal(
    action="collect_diagnostics", service="cart-service", params={"deployment": "cart-api"}
)
CRITICAL = Proposal(
    action="scale_deployment",
    service="payment-gateway",
    params={"deployment": "payment-gateway-api", "replicas": 12},
)
FROZEN = NOW.replace(month=12, day=24)


async def _execute(
    store: SQLiteStore, policy: Policy, recorder: RecordingExecutor, request_id: str, now=NOW
):  # type: ignore[no-untyped-def]
    return await actions.execute(
        request_id,
        store=store,
        policy=policy,
        executors=executors_for(recorder),
        now=now,
        group_members=GROUPS,
    )


async def _approved_critical(store: SQLiteStore, policy: Policy):  # type: ignore[no-untyped-def]
    request = await file_request(store, policy, CRITICAL)
    for user in ("U0PAYLEAD1", "U0PAYDEV01"):
        outcome = await actions.record_vote(
            request.id,
            user,
            Vote.APPROVE,
            store=store,
            policy=policy,
            now=NOW,
            group_members=GROUPS,
        )
    assert outcome.request.state is ActionState.APPROVED
    return outcome.request


async def _tamper(store: SQLiteStore, request_id: str, **changes: Any) -> None:
    current = await store.get_action_request(request_id)
    await store.update_action_request(current.model_copy(update=changes))


async def test_invariant_2_auto_allowed_action_runs_in_dry_run(
    store: SQLiteStore, policy: Policy, recorder: RecordingExecutor
) -> None:
    request = await file_request(store, policy, DIAGNOSE)
    outcome = await _execute(store, policy, recorder, request.id)
    assert outcome.ran and outcome.request.state is ActionState.SUCCEEDED
    [plan] = recorder.calls
    assert plan.mode.value == "dry_run"
    assert plan.argv == ("kubectl", "--namespace", "shop", "describe", "deployment", "cart-api")
    assert outcome.request.result and outcome.request.result["plan"]["argv"][2] == "shop"
    kinds = [e.kind for e in await store.list_events(request.incident_id)]
    assert kinds == ["action.approved", "action.succeeded"]


async def test_invariant_2_critical_action_runs_after_two_approvals(
    store: SQLiteStore, policy: Policy, recorder: RecordingExecutor
) -> None:
    request = await _approved_critical(store, policy)
    outcome = await _execute(store, policy, recorder, request.id)
    assert outcome.ran and recorder.calls[0].argv[-1] == "12"
    again = await _execute(store, policy, recorder, request.id)
    assert not again.ran and "already claimed" in again.message and len(recorder.calls) == 1


async def test_invariant_2_pending_request_does_not_run(
    store: SQLiteStore, policy: Policy, recorder: RecordingExecutor
) -> None:
    request = await file_request(store, policy, CRITICAL)
    outcome = await _execute(store, policy, recorder, request.id)
    assert not outcome.ran and "pending_approval" in outcome.message and recorder.calls == []


async def test_invariant_2_freeze_that_began_after_approval_blocks(
    store: SQLiteStore, policy: Policy, recorder: RecordingExecutor
) -> None:
    request = await _approved_critical(store, policy)
    await _tamper(store, request.id, expires_at=FROZEN + timedelta(hours=1))
    outcome = await _execute(store, policy, recorder, request.id, now=FROZEN)
    assert not outcome.ran and outcome.request.state is ActionState.BLOCKED
    assert outcome.request.error and "year-end-freeze" in outcome.request.error
    assert recorder.calls == []
    assert (await store.list_events(request.incident_id))[-1].kind == "action.blocked"


async def test_invariant_2_expired_request_does_not_run(
    store: SQLiteStore, policy: Policy, recorder: RecordingExecutor
) -> None:
    request = await _approved_critical(store, policy)
    outcome = await _execute(store, policy, recorder, request.id, now=NOW + timedelta(seconds=TTL))
    assert not outcome.ran and outcome.request.state is ActionState.EXPIRED
    assert recorder.calls == []


async def test_invariant_2_every_condition_is_rechecked_from_storage(
    store: SQLiteStore, policy: Policy, recorder: RecordingExecutor
) -> None:
    tampering: list[tuple[dict[str, Any], str]] = [
        (
            {"proposal": Proposal(action="drop_tables", service="payment-gateway")},
            "not in the allowlist",
        ),
        (
            {
                "proposal": CRITICAL.model_copy(
                    update={
                        "params": {"deployment": "payment-gateway-api; rm -rf /", "replicas": 12}
                    }
                )
            },
            "parameters rejected",
        ),
        (
            {
                "approvals": [
                    Approval(request_id="x", user_id=REQUESTER, at=NOW),
                    Approval(request_id="x", user_id="U0PAYLEAD1", at=NOW),
                    Approval(request_id="x", user_id="U0PAYDEV01", at=NOW),
                ]
            },
            "approved their own request",
        ),
        (
            {
                "approvals": [
                    Approval(request_id="x", user_id="U0PAYLEAD1", at=NOW),
                    Approval(request_id="x", user_id="U0CARTDEV1", at=NOW),
                ]
            },
            "not an eligible approver",
        ),
        (
            {"approvals": [Approval(request_id="x", user_id="U0PAYLEAD1", at=NOW)]},
            "policy says require_approval",
        ),
        ({"expires_at": None}, "expired (or has no expiry)"),
    ]
    for changes, expected in tampering:
        request = await _approved_critical(store, policy)
        await _tamper(store, request.id, **changes)
        outcome = await _execute(store, policy, recorder, request.id)
        assert not outcome.ran, changes
        assert outcome.request.state in (ActionState.BLOCKED, ActionState.EXPIRED)
        assert outcome.request.error and expected in outcome.request.error, outcome.request.error
    assert recorder.calls == []


class _Failing:
    def __init__(self, error: Exception | None) -> None:
        self.error = error

    async def run(self, plan: ExecutionPlan) -> RunReport:
        if self.error is not None:
            raise self.error
        return RunReport(ok=False, detail={"exit_code": 3}, error="exit code 3")


async def test_executor_failures_end_as_failed_with_the_error(
    store: SQLiteStore, policy: Policy
) -> None:
    for executor, expected in [
        (_Failing(None), "exit code 3"),
        (_Failing(RuntimeError("boom")), "RuntimeError('boom')"),
    ]:
        request = await file_request(store, policy, DIAGNOSE)
        outcome = await actions.execute(
            request.id, store=store, policy=policy, executors={"dry_run": executor}, now=NOW
        )
        assert outcome.ran and outcome.request.state is ActionState.FAILED
        assert outcome.request.error and expected in outcome.request.error
    request = await file_request(store, policy, DIAGNOSE)
    outcome = await actions.execute(request.id, store=store, policy=policy, executors={}, now=NOW)
    assert outcome.request.state is ActionState.FAILED
    assert outcome.request.error == "no dry_run executor is configured"


def test_invariant_2_claimed_exactly_once_under_100_concurrent_attempts(
    tmp_path: Path, policy: Policy
) -> None:
    path = tmp_path / "race.db"
    setup = SQLiteStore(path)
    request = asyncio.run(file_request(setup, policy, CRITICAL))
    recorder = RecordingExecutor()
    voters = ["U0PAYLEAD1", "U0PAYSRE02", "U0PAYDEV01", "U0PAYDEV02"]
    results: list[actions.ExecutionOutcome] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    async def attempt(store: SQLiteStore, index: int) -> None:
        await actions.record_vote(
            request.id,
            voters[index % 4],
            Vote.APPROVE,
            store=store,
            policy=policy,
            now=NOW,
            group_members=GROUPS,
        )
        outcome = await actions.execute(
            request.id,
            store=store,
            policy=policy,
            executors=executors_for(recorder),
            now=NOW,
            group_members=GROUPS,
            claimant=f"worker-{index}",
        )
        with lock:
            results.append(outcome)

    def replica(offset: int) -> None:
        store = SQLiteStore(path)  # one connection per thread, as separate replicas would have
        start.wait()

        async def main() -> None:
            await asyncio.gather(*(attempt(store, offset + 4 * i) for i in range(25)))
            await store.close()

        asyncio.run(main())

    threads = [threading.Thread(target=replica, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 100
    assert len(recorder.calls) == 1
    assert sum(outcome.ran for outcome in results) == 1
    final = asyncio.run(setup.get_action_request(request.id))
    assert final.state is ActionState.SUCCEEDED and final.claimed_by is not None
    kinds = [e.kind for e in asyncio.run(setup.list_events(request.incident_id))]
    assert kinds.count("action.succeeded") == 1 and kinds.count("action.approved") == 1
    asyncio.run(setup.close())
