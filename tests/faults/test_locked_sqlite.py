"""A held SQLite write lock: webhooks answer 503 with Retry-After within their deadline, /healthz
stays up, and once the lock goes the same alerts are accepted and stored.

Another process holds ``BEGIN IMMEDIATE`` on the server's SQLite file (as a backup tool or a
stuck migration would). The webhook p99 under the held lock is printed; nothing asserts on
timing beyond "answered before a generous bound".
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from tests.faults.conftest import StartBot
from tests.faults.storm import ACCEPTED, ledger, post, store_env
from tests.integration.slack.harness import http

pytestmark = pytest.mark.integration

ALERTS = 24
SENDERS = 2
BOUND_SECONDS = 30.0

LOCKER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
db.execute("ROLLBACK")
"""


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def test_a_held_write_lock_answers_503_and_healthz_stays_up(start_bot: StartBot) -> None:
    bot = start_bot(LLM_PROVIDER="rules", STORE_BUSY_TIMEOUT_SECONDS="1", LOG_LEVEL="WARNING")
    assert post(bot.url, 10_000)[0] in ACCEPTED  # the file exists and the bot is warm
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, bot.env["SQLITE_PATH"]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    answers: list[tuple[int, float, str | None]] = []
    health: list[int] = []
    try:
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"

        def sender(worker: int) -> None:
            for seq in range(worker, ALERTS, SENDERS):
                answers.append(post(bot.url, seq, timeout=BOUND_SECONDS))

        threads = [threading.Thread(target=sender, args=(w,)) for w in range(SENDERS)]
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            health.append(http(f"{bot.url}/healthz", None, {}, "GET").status)
            time.sleep(0.2)
        for thread in threads:
            thread.join()
        ready = http(f"{bot.url}/readyz", None, {}, "GET").status
    finally:
        if locker.poll() is None:
            assert locker.stdin is not None
            locker.stdin.write("\n")
            locker.stdin.flush()
        locker.wait(10)

    seconds = [s for _, s, _ in answers]
    statuses = sorted({status for status, _, _ in answers})
    print(
        f"\n[held SQLite lock] webhooks {len(answers)}, statuses {statuses}, "
        f"p50 {sorted(seconds)[len(seconds) // 2]:.2f} s, p99 {p99(seconds):.2f} s, "
        f"max {max(seconds):.2f} s (STORE_BUSY_TIMEOUT_SECONDS=1, store deadline 5 s); "
        f"/healthz {len(health)} probes, statuses {sorted(set(health))}; /readyz {ready}"
    )
    assert len(answers) == ALERTS
    assert all(status == 503 for status, _, _ in answers), statuses
    assert all(retry is not None and int(retry) > 0 for _, _, retry in answers)
    assert max(seconds) < BOUND_SECONDS
    assert health and set(health) == {200}

    # The lock is gone: the same alerts, sent again, are accepted.
    accepted = set()
    deadline = time.monotonic() + 60
    while len(accepted) < ALERTS and time.monotonic() < deadline:
        for seq in set(range(ALERTS)) - accepted:
            if post(bot.url, seq)[0] in ACCEPTED:
                accepted.add(seq)
        time.sleep(0.2)
    assert accepted == set(range(ALERTS))
    stored = ledger(store_env(bot)).stored
    assert sorted(stored) == [*range(ALERTS), 10_000]
