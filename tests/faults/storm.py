"""An alert storm against running `incident-bot serve` processes, a kill -9 in the middle of it,
and a count of what the store holds afterwards. Used by test_storm_kill.py."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.compose import Root
from bot.config import load_settings
from tests.integration.slack.harness import BotProcess

ALERTS = 300
GROUPS = 60
SENDERS = 4
ACCEPTED = range(200, 300)


# When the storm's alerts began. A resend carries the same start time, as Alertmanager's do:
# the dedup key is fingerprint + start, and a generic alert without ``starts_at`` starts when it
# is received, so a resend of one whose first answer was lost would count as a new alert.
STARTED = datetime.now(UTC).replace(microsecond=0)


def payload(seq: int) -> bytes:
    """Alert ``seq``: its group is ``seq % GROUPS``; every alert is distinct (its ``seq``)."""
    group = seq % GROUPS
    return json.dumps(
        {
            "title": f"storm group {group}",
            "starts_at": (STARTED + timedelta(seconds=seq)).isoformat(),
            "service": "checkout",
            "severity": "warning",
            "labels": {"alertname": f"Storm{group}", "seq": str(seq), "instance": f"pod-{seq}"},
        }
    ).encode()


def post(url: str, seq: int, timeout: float = 15.0) -> tuple[int, float, str | None]:
    """POST alert ``seq``: (status or 0 when no answer came, seconds, Retry-After)."""
    request = urllib.request.Request(
        f"{url}/alerts/generic",
        data=payload(seq),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return response.status, time.perf_counter() - started, None
    except urllib.error.HTTPError as exc:
        exc.read()
        return exc.code, time.perf_counter() - started, exc.headers.get("Retry-After")
    except OSError:
        return 0, time.perf_counter() - started, None


@dataclass
class Storm:
    """Who sent what where, and which alerts were answered 2xx."""

    acked: set[int] = field(default_factory=set)
    unanswered: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, targets: Sequence[Callable[[], str]], kill: Callable[[], None], at: int) -> None:
        """SENDERS threads post ALERTS alerts round-robin over ``targets``; once ``at`` are
        acknowledged, ``kill`` runs (once) while the senders carry on."""
        killed = threading.Event()

        def sender(worker: int) -> None:
            for seq in range(worker, ALERTS, SENDERS):
                url = targets[seq % len(targets)]()
                status, _, _ = post(url, seq, timeout=5.0)
                with self.lock:
                    if status in ACCEPTED:
                        self.acked.add(seq)
                    else:
                        self.unanswered.add(seq)
                    due = len(self.acked) >= at and not killed.is_set()
                    if due:
                        killed.set()
                if due:
                    kill()

        threads = [threading.Thread(target=sender, args=(w,)) for w in range(SENDERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def resend(self, url: str, deadline: float = 60.0) -> int:
        """Send every alert that got no 2xx again, as a real sender would, until it does."""
        resent = 0
        for seq in sorted(self.unanswered):
            until = time.monotonic() + deadline
            while True:
                status, _, _ = post(url, seq)
                resent += 1
                if status in ACCEPTED:
                    self.acked.add(seq)
                    break
                assert time.monotonic() < until, f"alert {seq} never accepted (last {status})"
                time.sleep(0.2)
        self.unanswered.clear()
        return resent


@dataclass
class Ledger:
    """What the store holds after the run."""

    stored: list[int]
    incidents: int
    untriaged: int
    first_triages: dict[str, int]
    triages: int
    count_drift: int

    @property
    def duplicates(self) -> int:
        return len(self.stored) - len(set(self.stored))


async def _read(env: dict[str, str]) -> Ledger:
    store = Root(load_settings(**env)).store()
    try:
        stored: list[int] = []
        first: dict[str, int] = {}
        triages = untriaged = drift = 0
        incidents = await store.list_incidents(limit=10_000)
        for incident in incidents:
            alerts = await store.list_alerts(incident.id, limit=10_000)
            stored.extend(int(a.labels["seq"]) for a in alerts if "seq" in a.labels)
            drift += abs(incident.alert_count - len(alerts))
            done = await store.list_triages(incident.id)
            triages += len(done)
            first[incident.id] = sum(not t.retriage for t in done)
            untriaged += not done
        return Ledger(stored, len(incidents), untriaged, first, triages, drift)
    finally:
        await store.close()


def ledger(env: dict[str, str]) -> Ledger:
    """Count what the store holds, through the store's own reading code."""
    return asyncio.run(_read(env))


def await_triaged(
    env: dict[str, str], since: float, timeout: float = 90.0
) -> tuple[Ledger, float]:
    """Wait (bounded) until every incident has a triage; (the ledger, seconds since ``since``,
    a ``time.monotonic()`` reading)."""
    started = since
    while True:
        found = ledger(env)
        waited = time.monotonic() - started
        if (found.incidents and not found.untriaged) or waited > timeout:
            return found, waited
        time.sleep(0.25)


def store_env(bot: BotProcess) -> dict[str, str]:
    """The settings the test reads the store with: the bot's own."""
    keys = ("STORE_BACKEND", "SQLITE_PATH", "COSMOS_ENDPOINT", "COSMOS_KEY", "COSMOS_DATABASE",
            "COSMOS_VERIFY_TLS", "RUNBOOK_EMBEDDINGS")  # fmt: skip
    env = {k: v for k, v in bot.env.items() if k in keys}
    env["RUNBOOK_INDEX_PATH"] = str(bot.workdir / "reader-runbooks.db")
    return env


def restart(process: BotProcess, tag: str) -> BotProcess:
    """Start a killed process again: same settings, same REPLICA_ID, same port."""
    assert process.proc is not None
    process.proc.wait(10)
    process.log_path = process.workdir / f"bot-{tag}.log"
    return process.start()


def report(
    title: str, storm: Storm, found: Ledger, first_acked: int, resent: int, waited: float
) -> str:
    """The figures of one run, printed by the test."""
    lost = len(storm.acked - set(found.stored))
    return (
        f"\n[{title}] alerts sent {ALERTS}, acked in the storm {first_acked}, "
        f"acked in all {len(storm.acked)}, resend posts {resent}, stored {len(set(found.stored))}, "
        f"lost {lost}, duplicate rows {found.duplicates}, incidents {found.incidents}, "
        f"triages {found.triages} (incidents with two first triages: "
        f"{sum(n > 1 for n in found.first_triages.values())}), untriaged {found.untriaged}, "
        f"alert-count drift {found.count_drift}, all triaged {waited:.2f} s after the restart began"
    )
