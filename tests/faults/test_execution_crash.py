"""kill -9 in the middle of an execution: the restarted bot calls the outcome unknown, once.

`incident-bot serve` runs as a real process against the loopback Slack (and model) stand-in.
The test action's command is a small program that appends a line to a marker file (so every
run is counted) and then sleeps; the first server is killed with SIGKILL while it runs. The
restarted server's sweep must mark the request ``outcome_unknown`` within one sweep after the
claim lapses, name the replica that held the claim, say so in Slack, and never run it again.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bot.models import ActionRequest, ActionState, Event, EventKind
from bot.store.sqlite import SQLiteStore
from tests.integration.slack.conftest import scripted_triage
from tests.integration.slack.harness import INCIDENT_CHANNEL, BotProcess, bot_env
from tests.integration.slack.recorder import Call, SlackRecorder

pytestmark = pytest.mark.integration

MARKER = "CRASH-RUN"
ACTION_TIMEOUT = 4  # the action's own timeout_seconds
CLAIM_MARGIN = 1  # ACTION_CLAIM_MARGIN_SECONDS: the claim lapses 5 s after it was taken
SWEEP_EVERY = 0.5
APPROVER = "U0CHKDEV01"

# Not an interpreter on the command line (check_argv refuses those): a program file whose first
# line names its loader, as any installed tool's wrapper does. It counts its runs, then waits.
SLOW_RESTART = """#!/bin/sh
echo "$INCIDENT_BOT_REQUEST_ID $1 $$ ${SLACK_BOT_TOKEN:-no-token}" >> "{marker}"
exec /bin/sleep 30
"""


def slow_policy(workdir: Path) -> tuple[Path, Path]:
    """The test policy folder: restart_deployment runs the counting program, live."""
    marker = workdir / "runs.txt"
    program = workdir / "slow-restart"
    program.write_text(SLOW_RESTART.replace("{marker}", str(marker)))
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    return program, marker


def patch_actions(policy_dir: Path, program: Path) -> None:
    actions_file = policy_dir / "actions.yaml"
    actions = yaml.safe_load(actions_file.read_text())
    actions["actions"]["restart_deployment"]["executor"] = {
        "type": "command",
        "mode": "live",
        "argv": [str(program), "{deployment}"],
        "timeout_seconds": ACTION_TIMEOUT,
    }
    actions_file.write_text(yaml.safe_dump(actions, sort_keys=False))


def request_of(db: Path, request_id: str) -> ActionRequest:
    async def read() -> ActionRequest:
        store = SQLiteStore(db)
        try:
            return await store.get_action_request(request_id)
        finally:
            await store.close()

    return asyncio.run(read())


def events_of(db: Path, incident_id: str) -> list[Event]:
    async def read() -> list[Event]:
        store = SQLiteStore(db)
        try:
            return await store.list_events(incident_id)
        finally:
            await store.close()

    return asyncio.run(read())


def wait_until(check: object, timeout: float, what: str) -> float:
    """Poll ``check`` until truthy; the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"{what} not within {timeout}s")


def buttons(call: Call) -> dict[str, list[str]]:
    """The card's buttons' values by action id (its select menus carry no value)."""
    found: dict[str, list[str]] = {}
    for block in call.args.get("blocks", []):
        if block["type"] == "actions":
            for element in block["elements"]:
                if element.get("type") == "button":
                    found.setdefault(element["action_id"], []).append(element["value"])
    return found


@pytest.fixture
def recorder() -> Iterator[SlackRecorder]:
    rec = SlackRecorder().start()
    rec.groups.update({"S0CHECKOUT": [APPROVER, "U0CHKDEV02"]})
    rec.triages[MARKER] = scripted_triage(
        "checkout", [("restart_deployment", {"deployment": "checkout-api"})]
    )
    yield rec
    rec.stop()


def test_kill_9_during_execution_ends_outcome_unknown_and_never_reruns(
    recorder: SlackRecorder, tmp_path: Path
) -> None:
    program, marker = slow_policy(tmp_path)
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first_dir.mkdir()
    second_dir.mkdir()
    env = bot_env(
        tmp_path,
        recorder.url,
        SCHEDULER_INTERVAL_SECONDS=str(SWEEP_EVERY),
        ACTION_CLAIM_MARGIN_SECONDS=str(CLAIM_MARGIN),
        REPLICA_ID="replica-one",
    )
    patch_actions(Path(env["POLICY_DIR"]), program)
    db = Path(env["SQLITE_PATH"])
    first = BotProcess(first_dir, env).start()
    second: BotProcess | None = None
    runs: list[str] = []
    try:
        answer = first.alert(
            "generic",
            {
                "title": f"{MARKER} checkout 5xx error rate above SLO",
                "service": "checkout",
                "severity": "high",
                "labels": {"alertname": "CrashRunErrors"},
            },
        )
        assert answer.status == 202, answer.body
        card = recorder.wait_for(
            "chat.postMessage",
            lambda c: MARKER in json.dumps(c.args) and bool(c.args.get("blocks")),
            timeout=20,
        )[0]
        # The Approve button carries "<request id>:<plan hash prefix>" (invariant 8).
        [value] = buttons(card)["request_approve"]
        request_id = value.partition(":")[0]
        assert first.click("request_approve", value, APPROVER).status == 200
        wait_until(marker.exists, 15, "the command starting")
        assert request_of(db, request_id).state is ActionState.EXECUTING

        assert first.proc is not None
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(5)
        killed_at = time.monotonic()
        claimed = request_of(db, request_id)
        assert claimed.state is ActionState.EXECUTING
        assert claimed.claimed_by == "replica-one" and claimed.claim_expires_at is not None

        second = BotProcess(second_dir, {**env, "REPLICA_ID": "replica-two"}).start()
        wait_until(
            lambda: request_of(db, request_id).state is ActionState.OUTCOME_UNKNOWN,
            ACTION_TIMEOUT + CLAIM_MARGIN + 20,
            "outcome_unknown",
        )
        after_kill = time.monotonic() - killed_at
        lapsed_in = ACTION_TIMEOUT + CLAIM_MARGIN
        # How soon is a figure, not a check (the deadline above bounds it).
        print(f"\nkill -> outcome_unknown {after_kill:.2f}s (claim lapses {lapsed_in}s after it)")

        stored = request_of(db, request_id)
        events = events_of(db, stored.incident_id)
        unknown = [e for e in events if e.kind is EventKind.ACTION_OUTCOME_UNKNOWN]
        assert len(unknown) == 1
        # never settled while the dead replica's claim still held
        assert claimed.claim_expires_at is not None and unknown[0].at >= claimed.claim_expires_at
        assert unknown[0].data["claimed_by"] == "replica-one"
        assert "replica-one" in unknown[0].message
        # Slack: the thread names the action and the service, the card offers Request again.
        note = recorder.wait_for(
            "chat.postMessage",
            lambda c: (
                "may or may not have run — check before approving again" in c.args.get("text", "")
            ),
        )[0]
        assert "restart_deployment" in note.args["text"] and "checkout" in note.args["text"]
        assert note.args["channel"] == INCIDENT_CHANNEL
        updated = recorder.wait_for(
            "chat.update",
            lambda c: request_id in buttons(c).get("request_again", []),
        )
        assert updated

        # Nothing runs it again, however many sweeps pass.
        time.sleep(SWEEP_EVERY * 6)
        runs = marker.read_text().splitlines()
        assert len(runs) == 1, runs
        request_id_seen, deployment, _pid, token = runs[0].split(" ")
        assert (request_id_seen, deployment) == (request_id, "checkout-api")
        assert token == "no-token"  # the bot's environment stayed out of the child's
        kinds = [e.kind for e in events_of(db, stored.incident_id)]
        assert kinds.count(EventKind.ACTION_OUTCOME_UNKNOWN) == 1
        assert EventKind.ACTION_SUCCEEDED not in kinds and EventKind.ACTION_FAILED not in kinds
        assert request_of(db, request_id).state is ActionState.OUTCOME_UNKNOWN

        # A person asks again: a new request through policy, waiting for approval, linked.
        assert second.click("request_again", request_id, "U0ONCALL01").status == 200
        recorder.wait_for(
            "chat.postEphemeral",
            lambda c: c.args.get("user") == "U0ONCALL01" and "Filed again" in c.args["text"],
        )
        requests = _requests(db, stored.incident_id)
        again = [r for r in requests if r.retry_of == request_id]
        assert len(again) == 1 and again[0].state is ActionState.PENDING_APPROVAL
        assert again[0].requested_by == "U0ONCALL01"
        assert len(marker.read_text().splitlines()) == 1
    finally:
        first.stop()
        if second is not None:
            second.stop()
        for line in marker.read_text().splitlines() if marker.exists() else runs:
            try:
                os.kill(int(line.split(" ")[2]), signal.SIGKILL)  # the orphaned sleep
            except (ProcessLookupError, ValueError, IndexError):
                pass


def _requests(db: Path, incident_id: str) -> list[ActionRequest]:
    async def read() -> list[ActionRequest]:
        store = SQLiteStore(db)
        try:
            return await store.list_action_requests(incident_id)
        finally:
            await store.close()

    return asyncio.run(read())
