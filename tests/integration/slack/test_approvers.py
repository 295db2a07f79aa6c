"""User-group resolution over the real slack_sdk client against the loopback Web API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.approvers import ApproverDirectory
from tests.integration.slack.recorder import Failure, SlackRecorder

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def recorder() -> Iterator[SlackRecorder]:
    rec = SlackRecorder().start()
    rec.groups["S0CHECKOUT"] = ["U0CHKDEV01", "U0CHKDEV02"]
    yield rec
    rec.stop()


async def test_groups_are_resolved_cached_and_failures_count_as_empty(
    recorder: SlackRecorder,
) -> None:
    clock = Clock()
    client = AsyncWebClient(token="xoxb-test", base_url=recorder.api_url)
    directory = ApproverDirectory(client, ttl_seconds=60, clock=clock)
    approvers = ["S0CHECKOUT", "U0CHKLEAD1", "S0MISSING"]

    members = await directory.members(approvers)
    assert members == {
        "S0CHECKOUT": frozenset({"U0CHKDEV01", "U0CHKDEV02"}),
        "S0MISSING": frozenset(),
    }
    await directory.members(approvers)
    asked = [c.args["usergroup"] for c in recorder.find("usergroups.users.list")]
    assert sorted(asked) == ["S0CHECKOUT", "S0MISSING"]  # second call served from the cache

    recorder.groups["S0CHECKOUT"] = ["U0CHKDEV01"]
    clock.now += 61
    assert await directory.group("S0CHECKOUT") == frozenset({"U0CHKDEV01"})

    recorder.fail_next("usergroups.users.list", Failure(500, {"ok": False, "error": "fatal"}))
    clock.now += 61
    assert await directory.group("S0CHECKOUT") == frozenset()
    clock.now += 11  # a failure is cached only briefly
    assert await directory.group("S0CHECKOUT") == frozenset({"U0CHKDEV01"})
