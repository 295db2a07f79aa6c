"""Scale-out: replicas sharing one store triage once, sweep once and execute once.

Runs against a SQLite file shared on one host and against Cosmos DB (the npm protocol server).
The serve test starts two real ``incident-bot serve`` processes; the sweep and approval tests
run the real actions/scheduler code in two separate processes with their own store clients.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import actions
from bot.clock import utcnow
from bot.compose import Root
from bot.config import load_settings
from bot.models import ActionRequest, ActionState, Category, Incident, Proposal, Vote
from bot.policy import EvaluationContext, load_policy
from bot.ports import Store
from tests.integration.cosmos.emulator import CosmosServer, running_server
from tests.policies import unfrozen_policy_dir

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent / "incident-bot"
TOKEN = "replica-test-token"
SERVICES = ["checkout", "cart-service", "search-api", "inventory"]
TITLES = ["High 5xx rate", "p99 latency over SLO"]
ALERTS_PER_GROUP = 4
READY_TIMEOUT = 60.0
TRIAGE_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def cosmos_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CosmosServer]:
    with running_server(tmp_path_factory.mktemp("cosmos")) as server:
        yield server


@pytest.fixture(params=["sqlite", "cosmos"])
def shared_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """Settings (as environment variables) pointing every replica at one shared store."""
    env = {
        "LLM_PROVIDER": "rules",
        "RUNBOOK_EMBEDDINGS": "none",
        "LOG_LEVEL": "WARNING",
        "ALERT_WEBHOOK_TOKEN": TOKEN,
        "POLICY_DIR": str(unfrozen_policy_dir(tmp_path / "policies")),
    }
    if request.param == "sqlite":
        env.update(STORE_BACKEND="sqlite", SQLITE_PATH=str(tmp_path / "shared.db"))
    else:
        server: CosmosServer = request.getfixturevalue("cosmos_server")
        env.update(
            STORE_BACKEND="cosmos",
            COSMOS_ENDPOINT=server.endpoint,
            COSMOS_KEY=server.key,
            COSMOS_DATABASE=server.new_database(),
            COSMOS_VERIFY_TLS="false",  # self-signed certificate on loopback
        )
    return env


def _store(env: dict[str, str]) -> Store:
    return Root(load_settings(**env)).store()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- two `incident-bot serve` processes ------------------------------------------------------


def _start_replica(
    env: dict[str, str], name: str, folder: Path
) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    replica_env = {
        **os.environ,
        **env,
        "REPLICA_ID": name,
        "RUNBOOK_INDEX_PATH": str(folder / f"runbooks-{name}.db"),
    }
    with (folder / f"{name}.log").open("wb") as log:
        proc = subprocess.Popen(
            [str(BIN), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=replica_env,
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return proc, f"http://127.0.0.1:{port}"


def _await_ready(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"replica exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise AssertionError(f"replica at {url} not ready:\n{log.read_text()[-3000:]}")


@pytest.fixture
def two_replicas(shared_env: dict[str, str], tmp_path: Path) -> Iterator[list[str]]:
    started = [_start_replica(shared_env, name, tmp_path) for name in ("replica-a", "replica-b")]
    try:
        for (proc, url), name in zip(started, ("replica-a", "replica-b"), strict=True):
            _await_ready(proc, url, tmp_path / f"{name}.log")
        yield [url for _, url in started]
    finally:
        for proc, _ in started:
            proc.terminate()
        for proc, _ in started:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _post_alert(url: str, alert: dict[str, str]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{url}/alerts/generic",
        data=json.dumps(alert).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 202
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def _burst() -> list[dict[str, str]]:
    """Distinct alerts: ALERTS_PER_GROUP per (service, title) group, all with a start time."""
    return [
        {
            "title": title,
            "service": service,
            "severity": "SEV2",
            "fingerprint": f"{service}-{t}-{n}",
            "starts_at": "2026-11-24T02:00:00Z",
        }
        for service in SERVICES
        for t, title in enumerate(TITLES)
        for n in range(ALERTS_PER_GROUP)
    ]


async def _await_triages(store: Store, expected_incidents: int) -> list[Incident]:
    deadline = time.monotonic() + TRIAGE_TIMEOUT
    while True:
        incidents = await store.list_incidents(limit=500)
        triaged = [i for i in incidents if await store.list_triages(i.id)]
        if len(incidents) >= expected_incidents and len(triaged) == len(incidents):
            return incidents
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(triaged)} of {len(incidents)} incidents triaged in time")
        await asyncio.sleep(0.3)


async def test_burst_to_two_replicas_triages_once_and_loses_nothing(
    two_replicas: list[str], shared_env: dict[str, str]
) -> None:
    alerts = _burst()
    # Every alert goes to both replicas (a resend through the load balancer), interleaved.
    posts = [(two_replicas[(n + k) % 2], a) for n, a in enumerate(alerts) for k in (0, 1)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda job: _post_alert(*job), posts))
    assert sum(a["accepted"] for a in answers) == len(alerts)
    assert sum(a["duplicates"] for a in answers) == len(alerts)
    groups = len(SERVICES) * len(TITLES)
    assert sum(len(a["new_incident_ids"]) for a in answers) == groups

    store = _store(shared_env)
    try:
        incidents = await _await_triages(store, groups)
        await asyncio.sleep(1.0)  # room for a second, wrongful triage to land
        assert len(incidents) == groups
        for incident in incidents:
            assert len(await store.list_triages(incident.id)) == 1, incident.id
            assert len(await store.list_alerts(incident.id)) == ALERTS_PER_GROUP
            fresh = await store.get_incident(incident.id)
            assert fresh.alert_count == ALERTS_PER_GROUP
            kinds = [e.kind for e in await store.list_events(incident.id)]
            assert kinds.count("incident.opened") == 1
            assert kinds.count("triage.completed") == 1
    finally:
        await store.close()


# --- sweeps and approvals from two processes ----------------------------------------------


async def _open_request(store: Store, env: dict[str, str], now: datetime, ttl: float) -> str:
    policy = load_policy(load_settings(**env).policy_dir)
    incident = Incident(
        title="High 5xx rate", service="checkout", category=Category.ERROR_RATE,
        created_at=now, updated_at=now,
    )  # fmt: skip
    await store.create_incident(incident)
    proposal = Proposal(
        action="restart_deployment", service="checkout", params={"deployment": "checkout-api"}
    )
    context = EvaluationContext(
        category=Category.ERROR_RATE, severity=incident.severity, confidence=0.9, now=now
    )
    request = await actions.open_request(
        store, incident_id=incident.id, proposal=proposal,
        decision=policy.evaluate(proposal, context), policy=policy, requested_by="incident-bot",
        now=now, ttl_seconds=ttl,
    )  # fmt: skip
    assert request.state is ActionState.PENDING_APPROVAL
    return request.id


def _in_process(target: Any, *args: Any) -> list[Any]:
    """Run ``target(*args, barrier, results)`` in two spawned processes; their results."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, n, barrier, results)) for n in range(2)]
    for proc in procs:
        proc.start()
    collected = [results.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0
    return collected


APPROVERS = ["U0CHKLEAD1", "U0CHKDEV2"]
GROUPS = {"S0CHECKOUT": frozenset({"U0CHKDEV2"})}


def _vote_and_execute(env: dict[str, str], request_id: str, now_iso: str, n: int,
                      barrier: Any, results: Any) -> None:  # fmt: skip
    async def run() -> tuple[str, bool]:
        settings = load_settings(**env)
        root = Root(settings)
        store, policy = root.store(), load_policy(settings.policy_dir)
        now = datetime.fromisoformat(now_iso)
        await store.ping()
        barrier.wait()
        try:
            vote = await actions.record_vote(
                request_id, APPROVERS[n], Vote.APPROVE, store=store, policy=policy, now=now,
                group_members=GROUPS,
            )  # fmt: skip
            # Both replicas try to execute, as a retried or duplicated click would.
            executed = await actions.execute(
                request_id, store=store, policy=policy, now=now, group_members=GROUPS,
                executors=root.executors(), claimant=f"replica-{n}",
            )  # fmt: skip
            return vote.status.value, executed.ran
        finally:
            await store.close()

    results.put(asyncio.run(run()))


def _sweep(env: dict[str, str], now_iso: str, index_dir: str, n: int,
           barrier: Any, results: Any) -> None:  # fmt: skip
    async def run() -> tuple[int, int]:
        settings = load_settings(
            **env, RUNBOOK_INDEX_PATH=str(Path(index_dir) / f"runbooks-{n}.db")
        )
        runtime = Root(settings).runtime()
        now = datetime.fromisoformat(now_iso)
        await runtime.store.ping()
        barrier.wait()
        try:
            reminded = await runtime.pipeline.remind_waiting(now)
            expired = await runtime.pipeline.expire_requests(now)
            return reminded, len(expired)
        finally:
            await runtime.store.close()

    results.put(asyncio.run(run()))


async def test_approval_delivered_to_both_replicas_executes_once(
    shared_env: dict[str, str],
) -> None:
    now = utcnow()
    store = _store(shared_env)
    try:
        request_id = await _open_request(store, shared_env, now, ttl=1800)
        outcomes = _in_process(_vote_and_execute, shared_env, request_id, now.isoformat())
        assert sum(ran for _, ran in outcomes) == 1, outcomes
        assert sorted(status for status, _ in outcomes) == ["approved", "not_pending"]
        final = await store.get_action_request(request_id)
        assert final.state is ActionState.SUCCEEDED and len(final.approvers) == 1
        events = await store.list_events(final.incident_id)
        assert [e.kind for e in events].count("action.succeeded") == 1
    finally:
        await store.close()


async def test_sweeps_on_both_replicas_expire_and_remind_once(
    shared_env: dict[str, str], tmp_path: Path
) -> None:
    opened = utcnow() - timedelta(hours=1)
    store = _store(shared_env)
    try:
        stale = await _open_request(store, shared_env, opened, ttl=60)  # long past its expiry
        waiting = await _open_request(store, shared_env, opened, ttl=7200)  # due a reminder
        sweep_at = utcnow().isoformat()
        outcomes = _in_process(_sweep, shared_env, sweep_at, str(tmp_path))
        assert sum(reminded for reminded, _ in outcomes) == 1, outcomes
        assert sum(expired for _, expired in outcomes) == 1, outcomes
        expired: ActionRequest = await store.get_action_request(stale)
        reminded: ActionRequest = await store.get_action_request(waiting)
        assert expired.state is ActionState.EXPIRED
        assert reminded.state is ActionState.PENDING_APPROVAL and reminded.reminded_at
        kinds = [
            e.kind for r in (expired, reminded) for e in await store.list_events(r.incident_id)
        ]
        assert kinds.count("action.expired") == 1
        assert kinds.count("action.reminded") == 1
    finally:
        await store.close()
