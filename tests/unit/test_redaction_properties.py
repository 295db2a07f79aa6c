"""Property: a secret of any kind planted anywhere in alert-like text or labels never survives."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.redaction import Redactor

REDACTOR = Redactor()

UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
LOWER = UPPER.lower()
DIGITS = "0123456789"
ALNUM = UPPER + LOWER + DIGITS
URLSAFE = ALNUM + "-_"
HEX = DIGITS + "abcdef"
VALUE_CHARS = ALNUM + "!#$%*+-./=@^_~"

WORDS = [
    "firing", "resolved", "HighErrorRate", "checkout", "payments-prod", "p99", "latency",
    "2.4s", "over", "threshold", "800ms", "status=firing", "severity=critical", "instance",
    "ip-10-0-1-23.eu-west-1.compute.internal", "2024-05-01T12:30:45Z", "pod",
    "checkout-api-7d9f8b6c5d-x2k9p", "OOMKilled", "deploy", "3f2a9c1e", "job=node",
    "value=97.3", "summary:", "runbook", "https://runbooks.example.net/db", "{", "}", "[", "]",
    ",", "(5m)", "\n", "-", "for", "the", "on", "db-01",
]  # fmt: skip
PREFIXES = ["db", "aws", "slack", "client", "app", "x", "prod", "github", "smtp", "azure"]
HEADS = [
    "password", "passwd", "pwd", "pass", "secret", "token", "api_key", "apikey", "access_key",
    "secret_key", "private_key", "credentials", "auth", "session_id", "cookie", "signature",
    "client_secret", "account_key", "passphrase", "access_token",
]  # fmt: skip


def _s(alphabet: str, size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet, min_size=size, max_size=size)


def _mixed(text: str) -> bool:
    return (
        any(c in UPPER for c in text)
        and any(c in LOWER for c in text)
        and any(c in DIGITS for c in text)
    )


def _style(words: list[str], style: int) -> str:
    if style == 0:
        return "_".join(words)
    if style == 1:
        return "_".join(words).upper()
    if style == 2:
        return "-".join(words)
    if style == 3:
        return words[0] + "".join(w[:1].upper() + w[1:] for w in words[1:])
    return ".".join(words)


@st.composite
def key_names(draw: st.DrawFn) -> str:
    words = [draw(st.sampled_from(PREFIXES))] if draw(st.booleans()) else []
    words += draw(st.sampled_from(HEADS)).split("_")
    return _style(words, draw(st.integers(0, 4)))


secret_values = st.text(VALUE_CHARS, min_size=8, max_size=40).filter(
    lambda v: v[0] in ALNUM and any(c in DIGITS for c in v) and any(c in LOWER for c in v)
)


@st.composite
def planted(draw: st.DrawFn) -> tuple[str, str, str]:
    """(kind, text carrying the secret, the secret value that must not survive)."""
    kind = draw(st.sampled_from(sorted(FORMATS) + ["key_value", "url_query", "header", "pem"]))
    if kind in FORMATS:
        secret, text = FORMATS[kind](draw)
        return kind, text, secret
    value = draw(secret_values)
    if kind == "key_value":
        key = draw(key_names())
        form = draw(st.sampled_from(['{k}={v}', '{k}: {v}', '"{k}": "{v}"', "{k}='{v}'",
                                     '{k} = "{v}"', "--{k}={v}", '{k}="{v}"']))  # fmt: skip
        return kind, form.format(k=key, v=value), value
    if kind == "url_query":
        key = draw(key_names())
        query = draw(st.sampled_from(["?{k}={v}", "?a=1&{k}={v}&b=2"]))
        return kind, "https://api.example.net/v1/x" + query.format(k=key, v=value), value
    if kind == "header":
        name = draw(st.sampled_from(HEADERS))
        return kind, f"{name} {value}", value
    armour = draw(st.sampled_from(["RSA ", "EC ", "DSA ", "OPENSSH ", "ENCRYPTED ", ""]))
    begin = f"-----BEGIN {armour}PRIVATE KEY-----"
    tail = "" if draw(st.booleans()) else f"\n{begin.replace('BEGIN', 'END')}"
    body = draw(_s(ALNUM + "+/", 48))
    return kind, f"{begin}\n{body}{tail}", body


def _fmt(prefix: str, alphabet: str, size: int) -> Callable[[st.DrawFn], tuple[str, str]]:
    def make(draw: st.DrawFn) -> tuple[str, str]:
        body = draw(_s(alphabet, size).filter(lambda b: any(c in DIGITS for c in b)))
        return body, prefix + body

    return make


def _jwt(draw: st.DrawFn) -> tuple[str, str]:
    sig = draw(_s(URLSAFE, 43))
    text = "eyJhbGciOiJSUzI1NiJ9.eyJ" + draw(_s(URLSAFE, 30)) + "." + sig
    return sig, text


def _webhook(draw: st.DrawFn) -> tuple[str, str]:
    token = draw(_s(ALNUM, 24))
    return token, f"https://hooks.slack.com/services/T0{draw(_s(UPPER, 8))}/B0ABCDEFG/{token}"


def _entropy(draw: st.DrawFn) -> tuple[str, str]:
    body = draw(st.text(ALNUM, min_size=32, max_size=64).filter(_mixed))
    return body, body


def _entropy_near(draw: st.DrawFn) -> tuple[str, str]:
    body = draw(st.text(ALNUM, min_size=20, max_size=31).filter(_mixed))
    word = draw(st.sampled_from(["secret", "token", "aws secret key", "api key", "password"]))
    return body, f"{word} {body}"


FORMATS: dict[str, Callable[[st.DrawFn], tuple[str, str]]] = {
    "aws_key": _fmt("AKIA", UPPER + DIGITS, 16),
    "github": _fmt("ghp_", ALNUM, 36),
    "github_pat": _fmt("github_pat_11A", ALNUM + "_", 60),
    "gitlab": _fmt("glpat-", URLSAFE, 20),
    "slack_bot": _fmt("xoxb-1234567890-", ALNUM, 24),
    "slack_client": _fmt("xoxc-1234567890-", ALNUM, 30),
    "slack_cookie": _fmt("xoxd-", ALNUM, 30),
    "slack_app": _fmt("xapp-1-A0123-", ALNUM, 30),
    "stripe": _fmt("sk_live_", ALNUM, 24),
    "google": _fmt("AIza", URLSAFE, 35),
    "openai": _fmt("sk-proj-", URLSAFE, 40),
    "npm": _fmt("npm_", ALNUM, 36),
    "pypi": _fmt("pypi-AgEIcHlwaS5vcmc", URLSAFE, 50),
    "twilio": _fmt("SK", HEX, 32),
    "sendgrid": _fmt("SG.abcdefghijklmnopqrstuv.", URLSAFE, 43),
    "telegram": _fmt("123456789:AA", URLSAFE, 33),
    "jwt": _jwt,
    "slack_webhook": _webhook,
    "high_entropy": _entropy,
    "high_entropy_near_word": _entropy_near,
}
KINDS = len(FORMATS) + 4
HEADERS = [
    "Authorization: Bearer",
    "Authorization: Token",
    "Cookie: sid=",
    "Set-Cookie: s=",
    "X-Api-Key:",
]
SLOW = [HealthCheck.too_slow, HealthCheck.filter_too_much]


@st.composite
def alert_text(draw: st.DrawFn) -> list[str]:
    return draw(st.lists(st.sampled_from(WORDS), max_size=30))


def test_planted_secrets_never_survive_in_text() -> None:
    seen: Counter[str] = Counter()

    # Derandomized: the assertion below needs every kind planted, which a random run of 600
    # examples misses now and then; a fixed seed keeps the test exact and repeatable.
    @settings(
        max_examples=600,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=SLOW,
    )
    @given(plant=planted(), words=alert_text(), where=st.integers(0, 30))
    def check(plant: tuple[str, str, str], words: list[str], where: int) -> None:
        kind, carrier, secret = plant
        words.insert(min(where, len(words)), carrier)
        text = " ".join(words)
        assert secret in text
        seen[kind] += 1
        assert secret not in REDACTOR.redact(text)

    check()
    assert sum(seen.values()) >= 300
    assert len(seen) == KINDS  # every kind was planted at least once


def test_planted_secrets_never_survive_in_labels_and_payloads() -> None:
    seen: Counter[str] = Counter()

    @settings(max_examples=300, deadline=None, database=None, suppress_health_check=SLOW)
    @given(
        key=key_names(),
        value=secret_values,
        plant=planted(),
        others=st.dictionaries(
            st.sampled_from(["alertname", "team", "job", "env"]), st.sampled_from(WORDS), max_size=4
        ),  # fmt: skip
    )
    def check(key: str, value: str, plant: tuple[str, str, str], others: dict[str, str]) -> None:
        kind, carrier, secret = plant
        labels = {**others, key: value, "summary": f"note {carrier} end"}
        payload = json.dumps({"alerts": [{"labels": labels, "status": "firing"}]})
        assert value in payload and secret in json.loads(payload)["alerts"][0]["labels"]["summary"]
        seen[kind] += 1
        mapped = json.dumps(REDACTOR.redact_mapping(labels), ensure_ascii=False)
        assert value not in mapped and secret not in mapped
        stored = REDACTOR.redact_payload_text(payload)
        parsed = json.loads(stored)  # still valid JSON
        assert value not in stored and secret not in json.dumps(parsed, ensure_ascii=False)

    check()
    assert sum(seen.values()) >= 150
