"""Invariant 4: secrets and personal data are redacted, in linear time, before text leaves."""

from __future__ import annotations

import pytest

from bot.errors import ConfigError
from bot.redaction import Redactor

REDACTOR = Redactor()


@pytest.mark.parametrize(
    ("text", "secret", "kind"),
    [
        ("key AKIAIOSFODNN7EXAMPLE in env", "AKIAIOSFODNN7EXAMPLE", "aws_key"),
        ("temp ASIAY34FZKBOKMUTVV7A", "ASIAY34FZKBOKMUTVV7A", "aws_key"),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "aws_secret",
        ),
        ("ghp_0123456789abcdefghijklmnopqrstuvwxyzAB", "ghp_0123456789abcdef", "github_token"),
        ("gho_0123456789abcdefghijklmnopqrstuvwxyzAB", "gho_0123456789abcdef", "github_token"),
        ("ghs_0123456789abcdefghijklmnopqrstuvwxyzAB", "ghs_0123456789abcdef", "github_token"),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "github_pat_11ABC", "github_token"),
        ("xoxb-123456789012-1234567890123-AbCdEf", "xoxb-123456789012", "slack_token"),
        ("xoxp-123456789012-1234567890123-AbCdEf", "xoxp-123456789012", "slack_token"),
        ("xapp-1-A0123456-4567890-abcdef0123", "xapp-1-A0123456", "slack_token"),
        ("OPENAI_API_KEY=sk-abcdefghijklmnopqrstuvwxyz012345", "sk-abcdefghijklmn", "openai_key"),
        ("sk-proj-abcdefghijklmnopqrstuvwxyz012345", "sk-proj-abcdefghij", "openai_key"),
        (
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.dGhpc2lzYXNpZ25hdHVyZQ",
            "eyJzdWIiOiJhbGljZSJ9",
            "jwt",
        ),
        ("Authorization: Bearer abc123.def456-ghi", "abc123.def456-ghi", "bearer_token"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA==", "basic_auth"),
        ("postgres://app:Hunter2pw@db.internal:5432/x", "Hunter2pw", "password"),
        ("Server=tcp:db;User Id=sa;Password=Hunter2!;Encrypt=true", "Hunter2!", "password"),
        ("mail jane.doe+ops@example.co.uk now", "jane.doe+ops@example.co.uk", "email"),
        ("from 10.20.30.40:5432", "10.20.30.40", "ipv4"),
        ("peer 2001:db8:85a3::8a2e:370:7334 dropped", "2001:db8:85a3::8a2e:370:7334", "ipv6"),
        ("link fe80::1ff:fe23:4567:890a", "fe80::1ff:fe23:4567:890a", "ipv6"),
        ("card 4111 1111 1111 1111 charged", "4111 1111 1111 1111", "card_number"),
        ("card 5500-0000-0000-0004", "5500-0000-0000-0004", "card_number"),
        ("amex 378282246310005", "378282246310005", "card_number"),
    ],
)
def test_invariant_4_each_secret_kind_is_redacted(text: str, secret: str, kind: str) -> None:
    redacted = REDACTOR.redact(text)
    assert secret not in redacted
    assert f"[REDACTED:{kind}]" in redacted


def test_invariant_4_private_key_blocks_are_cut_whole() -> None:
    text = (
        "before\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n"
        "-----END OPENSSH PRIVATE KEY-----\nafter"
    )
    assert REDACTOR.redact(text) == "before\n[REDACTED:private_key]\nafter"


def test_invariant_4_truncated_private_key_drops_the_rest() -> None:
    text = "log: -----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA (cut off"
    assert REDACTOR.redact(text) == "log: [REDACTED:private_key]"


@pytest.mark.parametrize(
    "text",
    [
        "order 4111111111111112 shipped",  # fails the Luhn check
        "timestamp 12:30:45 and mac aa:bb:cc:dd:ee:ff",
        "std::vector and Foo::Bar",
        "Basic authentication failed for the admin panel",
        "p99 latency 2.4s over threshold 800ms",
        "0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0",
        "release v2.14.3 of checkout",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert REDACTOR.redact(text) == text


def test_extra_patterns_from_config_are_applied() -> None:
    redactor = Redactor([r"TICKET-\d{4}", r"emp_[a-z]+"])
    assert redactor.redact("see TICKET-1234 by emp_alice") == (
        "see [REDACTED:custom] by [REDACTED:custom]"
    )


def test_invalid_extra_pattern_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="REDACT_EXTRA_PATTERNS"):
        Redactor(["(unclosed"])


def test_redact_obj_walks_dicts_lists_and_keys() -> None:
    data = {"user": "jane@example.com", "hosts": ["10.0.0.1", 5, None], "jane@example.com": True}
    assert REDACTOR.redact_obj(data) == {
        "user": "[REDACTED:email]",
        "hosts": ["[REDACTED:ipv4]", 5, None],
        "[REDACTED:email]": True,
    }


def test_redaction_is_idempotent() -> None:
    once = REDACTOR.redact("a@b.io 10.1.1.1 AKIAIOSFODNN7EXAMPLE Bearer abcdefghijk")
    assert REDACTOR.redact(once) == once


HOSTILE = {
    "jwt": "eyJ-" * 250_000,
    "jwt_segments": "eyJaaaa.eyJaaaa." * 62_500,
    "bearer": "bearer " * 150_000,
    "basic": "Basic " + "A" * 1_000_000,
    "aws": "AKIA" * 250_000,
    "github": "ghp_" * 250_000,
    "slack": "xoxb-" * 200_000,
    "openai": "sk-" * 330_000,
    "url": "a://a:" * 170_000,
    "password": "password=" * 110_000,
    "email": "a@" * 500_000,
    "email_dots": "a.a" * 330_000 + "@",
    "ipv6": "1:" * 500_000,
    "colons": ":" * 1_000_000,
    "ipv4": "1." * 500_000,
    "digits": "9" * 1_000_000,
    "digit_groups": "1234 " * 200_000,
    "key_headers": "-----BEGIN RSA PRIVATE KEY-----" * 32_000,
    "key_pairs": "-----BEGIN RSA PRIVATE KEY----- -----END RSA PRIVATE KEY-----" * 16_500,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_invariant_4_one_megabyte_of_hostile_input_completes(name: str) -> None:
    text = HOSTILE[name]
    assert len(text) >= 990_000
    result = REDACTOR.redact(text)
    assert isinstance(result, str)
