"""kill -9 during an alert storm, one or two replicas, on SQLite and on Cosmos DB.

Four senders post 300 distinct alerts over 60 groups (storm mode off, so 60 incidents) to
`incident-bot serve`; once 100 are acknowledged a replica is killed with SIGKILL and started
again with the same REPLICA_ID; every alert that got no 2xx is sent again, as a real sender
would. Then: every alert answered 2xx is stored (0 lost), no alert is stored twice, every
incident is triaged (within one sweep of the restart: the restarted replica lets go of its dead
run's triage leases and queues the untriaged at start-up) and none has two first triages.
The figures of each run are printed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.contract.conftest import cosmos_server  # noqa: F401 (the protocol server fixture)
from tests.faults.conftest import StartBot
from tests.faults.storm import (
    Storm,
    await_triaged,
    ledger,
    report,
    restart,
    store_env,
)
from tests.integration.cosmos.emulator import CosmosServer

pytestmark = pytest.mark.integration

KILL_AFTER = 100  # acknowledged alerts before the kill

STORM_ENV = {
    "LLM_PROVIDER": "rules",
    "STORM_THRESHOLD": "0",  # every group its own incident
    "SCHEDULER_INTERVAL_SECONDS": "1",
    "LOG_LEVEL": "WARNING",
}


def cosmos_env(server: CosmosServer) -> dict[str, str]:
    return {
        "STORE_BACKEND": "cosmos",
        "COSMOS_ENDPOINT": server.endpoint,
        "COSMOS_KEY": server.key,
        "COSMOS_DATABASE": server.new_database(),
        "COSMOS_VERIFY_TLS": "false",  # self-signed certificate on loopback
    }


def storm_kill(start_bot: StartBot, replicas: int, title: str, **backend: str) -> None:
    bots = [
        start_bot(**{**STORM_ENV, **backend, "REPLICA_ID": f"replica-{n}"})
        for n in range(replicas)
    ]
    victim = bots[0]
    storm = Storm()

    def kill() -> None:
        assert victim.proc is not None
        victim.proc.kill()  # SIGKILL: no shutdown hook, leases and queue die with it

    targets: list[Callable[[], str]] = [lambda b=b: b.url for b in bots]  # type: ignore[misc]
    storm.send(targets, kill, KILL_AFTER)
    assert storm.unanswered, "the kill landed after the storm; nothing was cut off"

    first_acked = len(storm.acked)
    restarted_at = time.monotonic()
    restart(victim, "restarted")
    resent = storm.resend(victim.url)
    found, waited = await_triaged(store_env(victim), restarted_at)
    print(report(title, storm, found, first_acked, resent, waited))

    assert storm.acked == set(range(300))
    assert set(found.stored) >= storm.acked, "an alert answered 2xx is not stored"
    assert found.duplicates == 0
    assert found.incidents == 60
    assert found.untriaged == 0, f"untriaged after {waited:.1f} s: {found.untriaged}"
    assert all(n == 1 for n in found.first_triages.values())
    assert found.triages == found.incidents
    # A second look: nothing was triaged again after everything had been.
    assert ledger(store_env(victim)).triages == found.triages


def test_kill_9_during_a_storm_loses_nothing_and_triages_everything(start_bot: StartBot) -> None:
    storm_kill(start_bot, 1, "storm kill, one replica, SQLite")


def test_kill_9_of_one_of_two_replicas_on_one_sqlite_file(start_bot: StartBot) -> None:
    storm_kill(start_bot, 2, "storm kill, two replicas, SQLite")


def test_kill_9_of_one_of_two_replicas_on_cosmos(
    start_bot: StartBot,
    cosmos_server: CosmosServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    storm_kill(start_bot, 2, "storm kill, two replicas, Cosmos", **cosmos_env(cosmos_server))
