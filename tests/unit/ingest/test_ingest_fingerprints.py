"""Fingerprints are stable across re-parses and differ between different alerts."""

from __future__ import annotations

import json

from bot.ingest.fingerprints import group_key, normalise_title, stable_fingerprint

from .payloads import parse, parse_fixture


def test_fixture_fingerprints_are_stable_across_reparses() -> None:
    names = ["generic/list.json", "slack/blocks.json", "datadog/default.json"]
    for name in names:
        first = [a.fingerprint for a in parse_fixture(name).alerts]
        second = [a.fingerprint for a in parse_fixture(name).alerts]
        assert first == second


def test_label_order_does_not_change_the_fingerprint() -> None:
    a = stable_fingerprint("generic", {"alertname": "X", "instance": "i-1", "service": "s"})
    b = stable_fingerprint("generic", {"service": "s", "instance": "i-1", "alertname": "X"})
    assert a == b


def test_changing_state_labels_keeps_the_fingerprint() -> None:
    a = stable_fingerprint("generic", {"alertname": "X", "value": "91"})
    b = stable_fingerprint("generic", {"alertname": "X", "value": "97"})
    assert a == b


def test_different_alerts_get_different_fingerprints() -> None:
    base = {"alertname": "X", "service": "s", "instance": "i-1"}
    seen = {
        stable_fingerprint("generic", base),
        stable_fingerprint("generic", {**base, "instance": "i-2"}),
        stable_fingerprint("generic", {**base, "alertname": "Y"}),
        stable_fingerprint("datadog", base),
        stable_fingerprint("generic", {"service": "s"}, "Disk full"),
        stable_fingerprint("generic", {"service": "s"}, "CPU high"),
    }
    assert len(seen) == 6


def test_same_title_on_different_services_differs() -> None:
    def body(service: str) -> bytes:
        return json.dumps({"title": "Latency high", "service": service}).encode()

    first = parse("generic", body("checkout")).alerts[0]
    second = parse("generic", body("search")).alerts[0]
    assert first.fingerprint != second.fingerprint
    assert first.group_key == "generic:checkout:latency-high"


def test_status_prefix_does_not_change_the_title_key() -> None:
    assert normalise_title("[FIRING:2] Disk full") == normalise_title("[RESOLVED] Disk full")
    assert normalise_title("") == "untitled"


def test_group_key_prefers_alertname() -> None:
    assert group_key("slack", "checkout", "HighErrorRate", "whatever") == (
        "slack:checkout:HighErrorRate"
    )
    assert group_key("slack", "checkout", "", "[FIRING:1] Disk Full!") == "slack:checkout:disk-full"
