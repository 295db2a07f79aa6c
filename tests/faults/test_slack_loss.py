"""Slack loses messages for a while (429, 500 with an HTML body, timeouts, refusals) or the bot
dies mid-send: every card still lands exactly once, updates follow on the right message, and
what cannot be delivered is on the timeline.

Each test runs the real ``incident-bot serve`` against the Slack stand-in and waits for
conditions with generous deadlines; nothing asserts on timing.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.deliveries import Delivery, DeliveryKind, DeliveryState
from bot.models import ActionRequest, Event, EventKind
from bot.store.sqlite import SQLiteStore
from tests.faults.conftest import StartBot
from tests.integration.slack.harness import INCIDENT_CHANNEL, BotProcess
from tests.integration.slack.recorder import (
    Call,
    Failure,
    SlackRecorder,
    hanging,
    rate_limited,
    refused,
    server_error,
)

pytestmark = pytest.mark.integration

DEADLINE = 60.0
CARDS = 5
LOST = 3  # the first card posts Slack loses


def read_store(bot: BotProcess, read: Callable[[SQLiteStore], Any]) -> Any:
    async def run() -> Any:
        store = SQLiteStore(Path(bot.env["SQLITE_PATH"]))
        try:
            return await read(store)
        finally:
            await store.close()

    return asyncio.run(run())


async def _card_deliveries(store: SQLiteStore) -> list[Delivery]:
    found = await store._deliveries("SELECT doc FROM deliveries ORDER BY rowid", ())
    return [d for d in found if d.kind is DeliveryKind.CARD]


def eventually(check: Callable[[], Any], what: str, deadline: float = DEADLINE) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what``."""
    until = time.monotonic() + deadline
    while time.monotonic() < until:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {deadline}s: {what}")


def is_card(marker: str) -> Callable[[Call], bool]:
    return lambda c: (
        c.args.get("channel") == INCIDENT_CHANNEL
        and "thread_ts" not in c.args
        and "blocks" in c.args
        and marker in json.dumps(c.args)
    )


def raise_alert(bot: BotProcess, marker: str, service: str = "checkout") -> None:
    answer = bot.alert(
        "generic",
        {
            "title": f"{marker} {service} 5xx error rate above SLO",
            "service": service,
            "severity": "high",
            "labels": {"deployment": f"{service}-api", "alertname": f"{marker}Errors"},
        },
    )
    assert answer.status == 202, answer.body


FAULTS: dict[str, Callable[[], Failure]] = {
    "429": lambda: rate_limited(retry_after=1, when='"blocks"'),
    "500-html": lambda: server_error(when='"blocks"'),
    "timeout": lambda: hanging(4.0, when='"blocks"'),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_lost_card_posts_are_delivered_once_after_slack_recovers(
    fault: str, recorder: SlackRecorder, start_bot: StartBot
) -> None:
    recorder.fail_next("chat.postMessage", FAULTS[fault](), times=LOST)
    bot = start_bot()
    markers = [f"LOSS{fault.replace('-', '')}{n}" for n in range(CARDS)]
    for marker in markers:
        raise_alert(bot, marker)
    # Slack recovers once the scripted failures are used up; every card lands, once.
    for marker in markers:
        eventually(lambda m=marker: recorder.delivered("chat.postMessage", is_card(m)), marker)
    time.sleep(2.0)  # a few more sweeps: nothing is posted twice
    for marker in markers:
        assert len(recorder.delivered("chat.postMessage", is_card(marker))) == 1, marker
    failed = [c for c in recorder.find("chat.postMessage") if c.failed]
    assert len(failed) == LOST
    cards = read_store(bot, _card_deliveries)
    assert len(cards) == CARDS
    assert all(c.state is DeliveryState.DELIVERED for c in cards)
    recovered = max(c.at for c in failed)
    landed = max(c.at for c in recorder.delivered("chat.postMessage"))
    posted = sum(len(recorder.delivered("chat.postMessage", is_card(m))) for m in markers)
    print(
        f"\n[{fault}] cards posted {posted}/{CARDS},"
        f" attempts {sorted(c.attempts for c in cards)},"
        f" last card {landed - recovered:.2f}s after the last failure"
    )
    # The ts of each late card reached the pipeline's bookkeeping (no placeholder left).
    incident_threads = read_store(bot, _threads)
    assert not [t for t in incident_threads if t.startswith("outbox:")], incident_threads


async def _threads(store: SQLiteStore) -> list[str]:
    return [i.conversation.thread or "" for i in await store.list_incidents() if i.conversation]


def test_a_late_card_gets_every_update_on_its_real_ts_in_order(
    recorder: SlackRecorder, start_bot: StartBot
) -> None:
    # The card is rate limited long enough for a vote to happen while its post waits.
    recorder.fail_next("chat.postMessage", rate_limited(retry_after=3, when="CHK-DENY"))
    bot = start_bot()
    raise_alert(bot, "CHK-DENY")
    eventually(lambda: [c for c in recorder.find("chat.postMessage") if c.failed], "429")
    requests: list[ActionRequest] = eventually(
        lambda: read_store(bot, lambda s: _requests(s)), "the request was filed"
    )
    request = requests[0]
    assert request.card is not None and request.card.thread is not None
    assert request.card.thread.startswith("outbox:")  # the post has not landed yet
    # What the card's Deny button carries: the request id and its plan hash prefix.
    answer = bot.click("request_deny", f"{request.id}:{request.plan_hash[:16]}", user="U0CHKLEAD1")
    assert answer.status == 200
    post = eventually(
        lambda: recorder.delivered("chat.postMessage", is_card("CHK-DENY")), "the late card"
    )[0]
    ts = post.answer["ts"]
    # The card's real ts reaches the bookkeeping, and every update goes to it.
    eventually(
        lambda: read_store(bot, lambda s: _card_ts(s, request.id)) == ts, "the card's ts recorded"
    )
    updates = read_store(bot, lambda s: s.list_card_deliveries(request.card.thread[7:]))
    updates = [u for u in updates if u.kind is DeliveryKind.UPDATE]
    assert updates, "the vote re-rendered the card"
    # Each update was folded into the late post or sent after it; none is left waiting.
    assert {u.state for u in updates} <= {DeliveryState.SUPERSEDED, DeliveryState.DELIVERED}
    sent = recorder.find("chat.update")
    assert all(u.args.get("ts") == ts for u in sent), [u.args.get("ts") for u in sent]
    for update in recorder.delivered("chat.update"):
        assert update.args["ts"] == ts
        assert update.at > post.at  # in order: only after the post landed


async def _requests(store: SQLiteStore) -> list[ActionRequest]:
    incidents = [i for i in await store.list_incidents() if "CHK-DENY" in i.title]
    if not incidents:
        return []
    return await store.list_action_requests(incidents[0].id)


async def _card_ts(store: SQLiteStore, request_id: str) -> str | None:
    request = await store.get_action_request(request_id)
    return request.card.thread if request.card else None


def test_a_refused_channel_fails_once_and_lands_on_the_timeline(
    recorder: SlackRecorder, start_bot: StartBot
) -> None:
    recorder.fail_next("chat.postMessage", refused("channel_not_found", when="NOCHAN"))
    bot = start_bot()
    raise_alert(bot, "NOCHAN")

    def failure_events() -> list[Event]:
        async def read(store: SQLiteStore) -> list[Event]:
            found = [i for i in await store.list_incidents() if "NOCHAN" in i.title]
            if not found:
                return []
            events = await store.list_events(found[0].id)
            return [e for e in events if e.kind is EventKind.DELIVERY_FAILED]

        return read_store(bot, read)  # type: ignore[no-any-return]

    events = eventually(failure_events, "a delivery.failed event")
    assert "channel_not_found" in events[0].message
    time.sleep(2.0)  # several sweeps later: no retry storm, one event
    assert len(recorder.find("chat.postMessage", is_card("NOCHAN"))) == 1
    assert len(failure_events()) == 1


def test_a_card_enqueued_by_a_killed_replica_is_delivered_by_the_next(
    recorder: SlackRecorder, start_bot: StartBot
) -> None:
    # The first process is stuck inside the post when it dies (its claim: 3 s + 5 s margin).
    recorder.fail_next("chat.postMessage", hanging(9.0, when="KILLED"))
    first = start_bot(SLACK_API_TIMEOUT_SECONDS="3")
    raise_alert(first, "KILLED")
    recorder.wait_for("chat.postMessage", is_card("KILLED"), timeout=DEADLINE)
    assert first.proc is not None
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(10)
    killed_at = time.monotonic()
    assert not recorder.delivered("chat.postMessage", is_card("KILLED"))
    start_bot()  # same SQLite file
    eventually(lambda: recorder.delivered("chat.postMessage", is_card("KILLED")), "KILLED card")
    time.sleep(1.5)
    assert len(recorder.delivered("chat.postMessage", is_card("KILLED"))) == 1
    landed = recorder.delivered("chat.postMessage", is_card("KILLED"))[0].at
    print(
        f"\n[kill -9] delivered by the restarted process {landed - killed_at:.2f}s after the kill"
    )
