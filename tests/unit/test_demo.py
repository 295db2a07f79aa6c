"""`incident-bot demo` runs offline and shows the real triage card (before and after) and the
post-incident review."""

from __future__ import annotations

import io
import re
from contextlib import redirect_stdout

import pytest

from bot.cli import main


def stage(out: str, n: int) -> str:
    """What stage ``n`` of 8 printed."""
    after = out.split(f"[{n}/8]", 1)[1]
    return after.split(f"[{n + 1}/8]", 1)[0] if n < 8 else after


@pytest.fixture(scope="module")
def printed() -> str:
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        assert main(["demo"]) == 0
    return buffer.getvalue()


def test_the_demo_shows_the_new_card_as_slack_gets_it(printed: str) -> None:
    card = stage(printed, 4)
    title = "HTTP5xxRateHigh: checkout 5xx ratio is 12.4% (threshold 2%)"
    assert f"┃ SEV1 · checkout · {title}\n" in card
    # the samples are moved to now: the incident started half an hour ago
    first = re.search(
        r"┃ Started \*\d\d:\d\d UTC\* \(\w{3} \d+\) · (\d+)m ago · \*2 alerts\* · ([^\n]+)",
        card,
    )
    assert first is not None and 28 <= int(first.group(1)) <= 40
    # one link per kind of source, not one per alert
    assert first.group(2).startswith("Alertmanager (http://prometheus.example.com:9090/graph?")
    assert first.group(2).count("Alertmanager (") == 1
    assert "[ Approve ]  [ Deny ]" in card and "┃ [ Acknowledge ]" in card
    # links and entities read as text; secrets redacted as on the card in Slack
    assert "<http" not in card and "&amp;" not in card and "&lt;" not in card
    assert "[REDACTED:email]" in card and "ops@example.com" not in printed


def test_the_demo_shows_the_card_again_once_resolved(printed: str) -> None:
    card = stage(printed, 6).split("card now", 1)[1]
    # two alerts fired and resolved: two alerts, not four notices
    assert " · *2 alerts* · *resolved* · " in card
    assert "Approved by @U0CHKLEAD1 · Ran by incident-bot at " in card
    assert "[ Approve ]" not in card and "[ Acknowledge ]" not in card


def test_the_demo_shows_the_review_with_key_times_and_the_human_timeline(printed: str) -> None:
    review = stage(printed, 8)
    assert review.count("# Post-incident review: HTTP5xxRateHigh") == 1
    for heading in ("## Summary", "## Impact", "## Key times", "## Timeline", "## Follow-ups"):
        assert heading in review
    assert re.search(r"\| Acknowledged \| [^|]+ \| acknowledged by Demo Demouser \|", review)
    assert re.search(r"- \*\*Time to acknowledge\*\*: \d+h \d\dm", review)
    assert re.search(r"- \*\*Time to mitigate\*\*: \d+h \d\dm", review)
    assert (
        "| **Demo Demouser** | status update | Canary of release 2026.11.23-1 suspected" in review
    )
    assert "| **Demo Chklead1** | action.approved |" in review
