"""Service names: canonical form and the flags that expose look-alikes."""

from __future__ import annotations

import json

import pytest

from bot.ingest import IngestOptions, canonical_service
from bot.service_names import resolve_service

from .payloads import parse


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("checkout", "checkout"),
        ("  Payment   Gateway ", "payment-gateway"),
        ("PAYMENT-GATEWAY", "payment-gateway"),
        ("ｐａｙｍｅｎｔ－ｇａｔｅｗａｙ", "payment-gateway"),  # fullwidth folds to ASCII
        ("Straße", "strasse"),
        ("payment\tgateway\n", "payment-gateway"),
        ("", ""),
    ],
)
def test_canonical_forms(raw: str, canonical: str) -> None:
    assert canonical_service(raw)[0] == canonical


def test_plain_ascii_has_no_flags() -> None:
    assert canonical_service("payment-gateway") == ("payment-gateway", [])


def test_cyrillic_lookalike_is_flagged_and_not_equal() -> None:
    name, flags = canonical_service("payment-g\u0430teway")  # Cyrillic small a
    assert name != "payment-gateway"
    assert "mixed_script" in flags
    assert "non_ascii" in flags


def test_greek_lookalike_is_flagged() -> None:
    assert "mixed_script" in canonical_service("checkout-\u03bfrders")[1]  # Greek omicron


@pytest.mark.parametrize("char", ["\u200b", "\u200d", "\u2060", "\ufeff", "\u202e", "\u2066"])
def test_invisible_characters_are_removed_and_flagged(char: str) -> None:
    name, flags = canonical_service(f"payment{char}-gateway")
    assert name == "payment-gateway"
    assert flags == ["invisible_chars"]


def test_fullwidth_is_flagged_non_ascii_but_not_mixed() -> None:
    name, flags = canonical_service("ｃｈｅｃｋｏｕｔ")
    assert name == "checkout"
    assert flags == ["non_ascii"]


def test_single_foreign_script_is_non_ascii_only() -> None:
    assert canonical_service("платежи") == ("платежи", ["non_ascii"])
    assert canonical_service("決済サービス") == ("決済サービス", ["non_ascii"])


def test_all_invisible_name_resolves_to_unknown_with_flag() -> None:
    service, raw, flags = resolve_service({"service": "\u200b\u200b"}, ("service",))
    assert (service, raw, flags) == ("unknown", "\u200b\u200b", ["invisible_chars"])


def test_resolution_order_and_fallbacks() -> None:
    labels = {"job": "node-exporter", "app": "web"}
    assert resolve_service(labels, ("service", "app", "job"))[0] == "web"
    assert resolve_service({}, ("service",), fallbacks=("", "Orders API"))[0] == "orders-api"
    assert resolve_service({}, ("service",))[0] == "unknown"
    assert resolve_service(labels, ("app",), explicit="Billing")[0] == "billing"


def test_alert_keeps_raw_service_and_flags() -> None:
    body = json.dumps({"title": "t", "service": "payment-g\u0430teway\u200b"}).encode()
    (alert,) = parse("generic", body).alerts
    assert alert.service_raw == "payment-g\u0430teway\u200b"
    assert alert.service == "payment-g\u0430teway"
    assert alert.service_flags == ["invisible_chars", "mixed_script", "non_ascii"]


def test_service_label_order_is_an_option() -> None:
    body = json.dumps(
        {
            "alerts": [
                {"status": "firing", "labels": {"alertname": "X", "service": "a", "team": "b"}}
            ]
        }
    ).encode()
    options = IngestOptions(service_label_order=("team", "service"))
    assert parse("alertmanager", body, options=options).alerts[0].service == "b"
