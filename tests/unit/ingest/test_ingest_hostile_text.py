"""Hostile text in titles and bodies is handled in linear time (no regex backtracking).

Each input is ~100 KB; a linear parse takes milliseconds, a quadratic one minutes. The
bound is loose so a busy machine cannot fail it, but a backtracking pattern would.
"""

from __future__ import annotations

import json
import time

import pytest

from bot.errors import PayloadError

from .payloads import parse

N = 100_000
BOUND_SECONDS = 5.0


def slack(title: str, text: str = "") -> bytes:
    attachment = {"title": title, "text": text}
    return json.dumps({"type": "message", "bot_id": "B1", "attachments": [attachment]}).encode()


HOSTILE = {
    "datadog scope of commas": ("slack", slack("Triggered on " + "," * N)),
    "datadog scope never closed": ("slack", slack("Triggered on {" + "a:b," * (N // 4))),
    "priority prefix flood": ("datadog", json.dumps({"title": "[P1]" * (N // 4)}).encode()),
    "blank line flood": ("slack", slack("t", "\n" * N)),
    "space line flood": ("slack", slack("t", " \n" * (N // 2))),
    "bold marker flood": ("slack", slack("t", "*" * N)),
    "bullet flood": ("slack", slack("t", "- a" * (N // 3))),
    "unclosed links": ("slack", slack("t", "<a|" * (N // 3))),
    "emoji flood": ("slack", slack(":a:" * (N // 3))),
    "bracket title": ("generic", json.dumps({"title": "[a] " * (N // 4), "service": "s"}).encode()),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_text_is_linear(name: str) -> None:
    source, body = HOSTILE[name]
    started = time.perf_counter()
    try:
        parsed = parse(source, body)
        assert parsed.alerts
    except PayloadError as exc:
        assert exc.status < 500
    assert time.perf_counter() - started < BOUND_SECONDS


def test_colon_title_still_reads_scope_and_status() -> None:
    (alert,) = parse(
        "slack", slack("Recovered on {service:billing,env:prod}: [P2] Disk full")
    ).alerts
    assert alert.status.value == "resolved"
    assert alert.title == "Disk full"
    assert alert.labels == {"service": "billing", "env": "prod", "priority": "P2"}
