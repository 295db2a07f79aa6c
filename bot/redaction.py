"""Redaction of secrets and personal data before text leaves the process.

Pure and reusable: the LLM gateway, Slack rendering, logging and the raw-payload store call
``Redactor``. Three mechanisms, applied in this order, each replacing a value with
``[REDACTED:<kind>]``:

1. Known token formats (AWS, GitHub, GitLab, Slack, Stripe, Google, OpenAI, npm, PyPI, Twilio,
   SendGrid, Discord, Telegram, JWTs, private key blocks of every armour, webhook URLs).
2. Secret-ish key names, wherever the key sits: mapping keys (``redact_mapping``), ``KEY=value``,
   ``key: value``, ``"key": "value"``, URL query parameters, URL userinfo, ``Authorization`` and
   ``Cookie`` headers. ``is_secret_key`` splits a name into words (separators and camelCase) and
   looks at its head word, so ``DB_PASSWORD``, ``x-api-key``, ``slackToken`` and
   ``aws.secret_access_key`` are secret while ``token_count``, ``passed`` and ``author`` are not.
3. High entropy: a random-looking run of base64/base62 characters (mixed case and digits, a
   high Shannon entropy) of 32+ characters, or of 20+ characters just after a secret-ish word.
   UUIDs, hex digests, hostnames, timestamps and pod names do not qualify.

Then personal data: emails, IP addresses, card numbers (Luhn-checked).

Every pattern is compiled once and written to run in linear time on hostile input: each one
starts with a negative look-behind on its own character class (so a match can only begin at
the start of a run) and uses possessive or bounded quantifiers (so a failed attempt never
re-scans the same run). Private key blocks are cut by ``search`` from the end of the previous
block instead of a lazy ``.*?``. Callbacks do work proportional to their match.

Build or buy: ``detect-secrets`` (Yelp) was weighed against these rules. It is a scanner for
files and diffs that reports line numbers and hashed secrets, not a redactor: it would need a
second pass to find spans inside a line, runs each plugin regex over each line in Python, and
brings its own plugin and filter configuration. ``benchmarks/redaction.py`` measures these rules
at about 0.33 ms per KiB of realistic alert text (about 150x a plain ``str.lower`` of the same
text, measured in the same run; a typical alert of a few KiB costs about a millisecond) and
under 0.8 s per MiB of hostile input, cheap next to one LLM call; so we keep our own rules,
which redact in place, and add no dependency.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

from bot.errors import ConfigError

T = TypeVar("T")

Replacement = Callable[[re.Match[str]], str]

MARKER_PREFIX = "[REDACTED:"


def marker(kind: str) -> str:
    """The text that replaces one redacted value, e.g. ``[REDACTED:aws_key]``."""
    return f"{MARKER_PREFIX}{kind}]"


@dataclass(frozen=True)
class Pattern:
    """One named regex; ``replace`` decides per match (it may keep the text unchanged)."""

    kind: str
    regex: re.Pattern[str]
    replace: Replacement
    hints: tuple[str, ...] = ()  # lower-case literals; without one of them there is no match


# --- secret-ish key names ---------------------------------------------------------------

_KEY_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_PASSWORD_WORDS = frozenset({"password", "passwords", "passwd", "passphrase", "pwd", "pass"})
_SECRET_WORDS = _PASSWORD_WORDS | frozenset(
    {
        "secret", "token", "credential", "credentials", "creds", "auth", "authorization",
        "cookie", "cookies", "signature", "sig", "session", "sessionid", "sessid", "apikey",
        "accesskey", "secretkey", "privatekey", "clientsecret", "accountkey", "passcode",
    }
)  # fmt: skip
_SECRET_PAIRS = frozenset(
    {
        ("api", "key"), ("access", "key"), ("secret", "key"), ("private", "key"),
        ("account", "key"), ("master", "key"), ("encryption", "key"), ("signing", "key"),
        ("session", "id"), ("session", "key"), ("auth", "key"), ("app", "key"),
        ("application", "key"), ("subscription", "key"), ("routing", "key"),
        ("integration", "key"), ("storage", "key"), ("shared", "key"), ("service", "key"),
        ("connection", "string"), ("conn", "string"), ("conn", "str"),
    }
)  # fmt: skip
# Words for compound single-word keys ("dbpassword", "slacktoken", "sharedaccesskey").
_SECRET_SUFFIXES = (
    "password", "passwd", "passphrase", "secret", "token", "apikey", "accesskey", "secretkey",
    "privatekey", "accountkey", "sessionid", "credential", "credentials", "signature",
    "connectionstring",
)  # fmt: skip
# Trailing words that do not change what a value is ("password_b64", "SECRET_KEY_BASE").
_TRANSPARENT = frozenset(
    {"value", "val", "b", "b64", "base64", "enc", "encoded", "encrypted", "plain", "plaintext",
     "raw", "hash", "hashed", "base", "hex"}
)  # fmt: skip
# Values that say something about a secret without being one.
_PLACEHOLDERS = frozenset(
    {"", "true", "false", "yes", "no", "on", "off", "null", "none", "nil", "n/a", "-", "*",
     "***", "******", "********", "redacted", "<redacted>", "enabled", "disabled", "required",
     "optional", "unset", "empty", "undefined"}
)  # fmt: skip


def _key_words(name: str) -> list[str]:
    return [word.lower() for word in _KEY_WORDS.findall(name[-128:])]


@lru_cache(maxsize=8192)
def is_secret_key(name: str) -> bool:
    """True when a key or label name says its value is a secret (by its head word)."""
    words = _key_words(name)
    while len(words) > 1 and (words[-1] in _TRANSPARENT or words[-1].isdigit()):
        words.pop()
    if not words:
        return False
    head = words[-1]
    if head in _SECRET_WORDS:
        return True
    if len(words) > 1 and (words[-2], head) in _SECRET_PAIRS:
        return True
    return head.endswith(_SECRET_SUFFIXES)


def _secret_kind(name: str) -> str:
    words = _key_words(name)
    if any(word in _PASSWORD_WORDS or word.endswith("password") for word in words):
        return "password"
    return "secret"


def _placeholder(value: str) -> bool:
    return value.strip().lower() in _PLACEHOLDERS or MARKER_PREFIX in value


# --- replacement callbacks --------------------------------------------------------------


def _whole(kind: str) -> Replacement:
    return lambda _match: marker(kind)


def _keep_prefix(kind: str) -> Replacement:
    """Keep group 1 (a key name or scheme), redact the rest of the match."""
    return lambda match: match.group(1) + marker(kind)


def _splice(match: re.Match[str], group: str, kind: str) -> str:
    base = match.start()
    start, end = match.span(group)
    text = match.group(0)
    return text[: start - base] + marker(kind) + text[end - base :]


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = text.replace(" ", "").replace("-", "")
    if 13 <= len(digits) <= 19 and digits[0] != "0" and _luhn_ok(digits):
        return marker("card_number")
    return text


def _email(match: re.Match[str]) -> str:
    text = match.group(0)
    # A real domain ends in a name (letters); ``runbook@1.2.0`` is an id at a version.
    if not any(char.isalpha() for char in text.rsplit(".", 1)[-1]):
        return text
    return marker("email")


def _ipv6(match: re.Match[str]) -> str:
    text = match.group(0)
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return text
    groups = [part for part in text.split(":") if part]
    # "std::" or "a::b" parse as addresses too; real ones carry more than one group.
    if len(groups) < 2 or len(text) < 6:
        return text
    return marker("ipv6")


def _basic_auth(match: re.Match[str]) -> str:
    token = match.group(2)
    if match.group(1).lower().startswith("authorization"):
        return match.group(1) + marker("basic_auth")
    try:
        decoded = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
    except (binascii.Error, ValueError):
        return match.group(0)
    # Outside an Authorization header only redact what really is base64 "user:password".
    if b":" in decoded:
        return match.group(1) + marker("basic_auth")
    return match.group(0)


def _header(match: re.Match[str]) -> str:
    if _placeholder(match.group("value")):
        return match.group(0)
    kind = "cookie" if "cookie" in match.group("name").lower() else "authorization"
    return _splice(match, "value", kind)


_VALUE_GROUPS = ("dq", "sq", "eq", "uq")


def _key_value(match: re.Match[str]) -> str:
    key = match.group("key")
    if not is_secret_key(key):
        return match.group(0)
    for group in _VALUE_GROUPS:
        value = match.group(group)
        if value is not None:
            if _placeholder(value):
                return match.group(0)
            return _splice(match, group, _secret_kind(key))
    return match.group(0)


# --- high entropy -------------------------------------------------------------------------

_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_HEX = re.compile(r"[0-9a-fA-F]++")
_SEGMENTS = re.compile(r"[-_]")
_CONTEXT = re.compile(
    r"(?i)(?:passw|passphrase|pwd|secret|token|api[_ .-]?key|access[_ .-]?key|private|"
    r"credential|auth|aws|bearer|signature|sig\b|session|cookie|apikey|key\s*[:=])"
)
_DIGEST_CONTEXT = re.compile(r"(?i)(?:sha|commit|digest|revision|\brev\b|image|build|git)")
CONTEXT_WINDOW = 40  # characters before a token searched for a secret-ish word
LONE_MIN = 32  # a token this long is redacted without any context word
NEAR_MIN = 20  # a token this long is redacted after a context word


def shannon_entropy(text: str) -> float:
    """Bits per character of ``text`` (0 for an empty string)."""
    size = len(text)
    if not size:
        return 0.0
    return -sum(n / size * math.log2(n / size) for n in Counter(text).values())


def _random_looking(core: str, threshold: float, min_segment: int) -> bool:
    longest = max(len(part) for part in _SEGMENTS.split(core))
    if longest < min_segment:
        return False  # words joined by dashes: pod names, slugs
    return shannon_entropy(core) >= threshold


def _entropy(match: re.Match[str]) -> str:
    token = match.group(0)
    core = token.rstrip("=")
    size = len(core)
    if size < NEAR_MIN or _UUID.fullmatch(core):
        return token
    upper = any(c.isupper() for c in core)
    lower = any(c.islower() for c in core)
    digit = any(c.isdigit() for c in core)
    start = match.start()
    before = match.string[max(0, start - CONTEXT_WINDOW) : start]
    if upper and lower and digit and size >= LONE_MIN and not _path_like(core):
        # log2 of the length caps what a string can score; random base62 sits near that cap.
        if _random_looking(core, min(4.3, 0.82 * math.log2(size)), 16):
            return marker("high_entropy")
    if not digit or not _CONTEXT.search(before):
        return token
    if _HEX.fullmatch(core):
        if _DIGEST_CONTEXT.search(before):
            return token  # commit SHAs and image digests named as such
        threshold = min(3.5, 0.75 * math.log2(size))
    elif upper or lower:
        threshold = min(4.0, 0.8 * math.log2(size))
    else:
        return token  # digits only: counts, ids, timestamps
    if _random_looking(core, threshold, 12):
        return marker("high_entropy")
    return token


def _path_like(core: str) -> bool:
    if core.startswith("/") or "//" in core:
        return True
    parts = core.split("/")
    return len(parts) >= 3 and len(core) / len(parts) < 10


# --- the patterns -------------------------------------------------------------------------

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"

# Key names that end in one of these are looked up by ``is_secret_key``; the look-behinds only
# keep the regex from calling back for every ``word:`` in the text.
_TRIGGERS = (
    "password", "passwords", "passwd", "passphrase", "passcode", "pwd", "pass", "secret",
    "token", "credential", "credentials", "creds", "auth", "authorization", "cookie",
    "cookies", "signature", "sig", "session", "sessionid", "sessid", "key", "id", "string",
    "str", "value", "val", "b64", "base64", "enc", "encoded", "encrypted", "plain",
    "plaintext", "raw", "hash", "hashed", "base", "hex", "0", "1", "2", "3", "4", "5", "6", "7",
    "8", "9",
)  # fmt: skip
_BY_WIDTH: dict[int, list[str]] = {}
for _word in _TRIGGERS:
    _BY_WIDTH.setdefault(len(_word), []).append(re.escape(_word))
# One look-behind per width (Python needs each to be fixed-width) keeps the checks few.
_TRIGGER = "(?:" + "|".join(f"(?<={'|'.join(words)})" for words in _BY_WIDTH.values()) + ")"
_KEY_VALUE = (
    r"(?i)(?<![A-Za-z0-9_.-])(?P<key>[A-Za-z0-9_.-]{1,128}+)"
    r"(?=\\?[\"']?[ \t]{0,8}+[:=])" + _TRIGGER + r"\\?[\"']?[ \t]{0,8}+[:=](?![=/])[ \t]{0,8}+"
    r"(?:\"(?P<dq>(?:[^\"\\\r\n]|\\.){0,1024}+)\""
    r"|'(?P<sq>[^'\r\n]{0,1024}+)'"
    r"|\\\"(?P<eq>(?:[^\"\\\r\n]|\\[^\"\r\n]){0,1024}+)\\\""
    r"|[\"']?(?P<uq>[^\s\"'`,;&<>\])}|\\]{1,512}+))"
)
_HEADER = (
    r"(?i)(?<![A-Za-z0-9_-])(?P<name>(?:proxy-)?authorization|(?:set-)?cookie)"
    r"\\?[\"']?[ \t]{0,8}+:[ \t]{0,8}+\\?[\"']?(?P<value>[^\r\n\"'\\]{1,4096}+)"
)

# Order matters: specific token formats first, then key names, then the broad shapes.
_BUILTIN: tuple[tuple[str, str, Replacement | str | None, str], ...] = (
    (
        "jwt",
        r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,}+\.eyJ[A-Za-z0-9_-]{4,}+\.[A-Za-z0-9_-]++",
        None,
        "eyj",
    ),
    (
        "bearer_token",
        r"(?i)(?<![A-Za-z0-9])(bearer[ \t]++)[A-Za-z0-9._~+/=-]{8,}+",
        "prefix",
        "bearer",
    ),
    (
        "basic_auth",
        r"(?i)(?<![A-Za-z0-9])((?:authorization:[ \t]{0,10}+)?basic[ \t]++)"
        r"([A-Za-z0-9+/]{8,}+={0,2})",
        _basic_auth,
        "basic",
    ),
    ("aws_key", r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])", None, "akia asia"),
    (
        "aws_secret",
        r"(?i)(aws_?secret(?:_access)?_?key[\"']?[ \t]{0,5}+[:=][ \t]{0,5}+[\"']?)"
        r"[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])",
        "prefix",
        "secret",
    ),
    (
        "github_token",
        r"(?<![A-Za-z0-9_])(?:ghp|gho|ghs|ghu|ghr)_[A-Za-z0-9]{20,255}+",
        None,
        "ghp_ gho_ ghs_ ghu_ ghr_",
    ),
    ("github_token", r"(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{20,255}+", None, "github_pat_"),
    (
        "gitlab_token",
        r"(?<![A-Za-z0-9_-])(?:glpat|glptt|gldt|glrt|glcbt|glsoat|glft|glimt|glagent)"
        r"-[A-Za-z0-9_-]{20,}+",
        None,
        "gl",
    ),
    ("slack_token", r"(?<![A-Za-z0-9_-])(?:xox[a-z]|xapp)-[A-Za-z0-9-]{8,}+", None, "xox xapp"),
    (
        "slack_webhook",
        r"(?i)(hooks\.slack\.com/(?:services|workflows|triggers)/)[A-Za-z0-9_/-]{8,}+",
        "prefix",
        "hooks.slack.com",
    ),
    (
        "discord_webhook",
        r"(?i)(discord(?:app)?\.com/api/webhooks/)[0-9]{5,30}+/[A-Za-z0-9_-]{20,}+",
        "prefix",
        "discord",
    ),
    (
        "stripe_key",
        r"(?<![A-Za-z0-9_])(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}+",
        None,
        "_live_ _test_",
    ),
    ("stripe_key", r"(?<![A-Za-z0-9_])whsec_[A-Za-z0-9+/=]{20,}+", None, "whsec_"),
    ("google_api_key", r"(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}", None, "aiza"),
    ("google_token", r"(?<![A-Za-z0-9_.-])ya29\.[0-9A-Za-z_-]{20,}+", None, "ya29."),
    ("google_token", r"(?<![A-Za-z0-9_-])GOCSPX-[0-9A-Za-z_-]{20,}+", None, "gocspx-"),
    ("openai_key", r"(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{20,}+", None, "sk-"),
    ("npm_token", r"(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{30,}+", None, "npm_"),
    ("pypi_token", r"(?<![A-Za-z0-9_-])pypi-[A-Za-z0-9_-]{40,}+", None, "pypi-"),
    ("huggingface_token", r"(?<![A-Za-z0-9_])hf_[A-Za-z0-9]{30,}+", None, "hf_"),
    ("grafana_token", r"(?<![A-Za-z0-9_])(?:glsa|glc)_[A-Za-z0-9_=+/-]{30,}+", None, "glsa_ glc_"),
    ("shopify_token", r"(?<![A-Za-z0-9_])shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}", None, "shp"),
    ("twilio_key", r"(?<![A-Za-z0-9])SK[0-9a-fA-F]{32}(?![A-Za-z0-9])", None, "sk"),
    (
        "sendgrid_key",
        r"(?<![A-Za-z0-9_-])SG\.[A-Za-z0-9_-]{16,32}+\.[A-Za-z0-9_-]{16,64}+",
        None,
        "sg.",
    ),
    (
        "discord_token",
        r"(?<![A-Za-z0-9_-])[MNO][A-Za-z0-9_-]{23,27}+\.[A-Za-z0-9_-]{6,7}+\.[A-Za-z0-9_-]{27,40}+",
        None,
        ".",
    ),
    ("telegram_token", r"(?<![A-Za-z0-9:])[0-9]{8,10}+:AA[A-Za-z0-9_-]{33}", None, ":aa"),
    (
        "azure_secret",
        r"(?<![A-Za-z0-9_~.-])[A-Za-z0-9_~.-]{3}[78]Q~[A-Za-z0-9_~.-]{31,34}+",
        None,
        "q~",
    ),
    ("header", _HEADER, _header, "authorization cookie"),
    (
        "password",
        r"(?i)(?<![a-z0-9+.-])([a-z][a-z0-9+.-]{1,20}+://[^\s:/@]{0,256}+:)[^\s@/]{1,256}+(?=@)",
        "prefix",
        "://",
    ),
    ("key_value", _KEY_VALUE, _key_value, ": ="),
    ("high_entropy", r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{20,}+=*+", _entropy, ""),
    (
        "email",
        r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}+@[A-Za-z0-9-]{1,63}+(?:\.[A-Za-z0-9-]{1,63}+)+",
        _email,
        "@",
    ),
    ("ipv6", r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}+:){2,7}+[0-9A-Fa-f]{0,4}+(?![\w:])", _ipv6, ":"),
    ("ipv4", rf"(?<![0-9.])(?:{_OCTET}\.){{3}}{_OCTET}(?!\.?[0-9])", None, "."),
    (
        "card_number",
        r"(?<![0-9])(?:[0-9]{13,19}|[0-9]{4}(?:[ -][0-9]{3,6}){2,4})(?![0-9])",
        _card,
        "",
    ),
)

_KEY_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----")
_KEY_END = re.compile(r"-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----")


def _builtin_patterns() -> list[Pattern]:
    patterns: list[Pattern] = []
    for kind, source, how, hints in _BUILTIN:
        if how is None:
            replace = _whole(kind)
        elif how == "prefix":
            replace = _keep_prefix(kind)
        elif callable(how):
            replace = how
        else:
            raise ValueError(f"unknown replacement {how!r}")
        patterns.append(Pattern(kind, re.compile(source), replace, tuple(hints.split())))
    return patterns


def compile_extra(patterns: Iterable[str]) -> list[Pattern]:
    """Compile configured patterns; an invalid one raises ConfigError naming the variable."""
    compiled: list[Pattern] = []
    for source in patterns:
        try:
            regex = re.compile(source)
        except re.error as exc:
            raise ConfigError(f"REDACT_EXTRA_PATTERNS: invalid regex {source!r}: {exc}") from None
        compiled.append(Pattern("custom", regex, _whole("custom")))
    return compiled


def _cut_private_keys(text: str) -> str:
    if "PRIVATE KEY" not in text:
        return text
    pieces: list[str] = []
    position = 0
    while True:
        begin = _KEY_BEGIN.search(text, position)
        if begin is None:
            break
        pieces.append(text[position : begin.start()])
        pieces.append(marker("private_key"))
        end = _KEY_END.search(text, begin.end())
        if end is None:
            # A truncated key is still a secret: drop everything after its header.
            return "".join(pieces)
        position = end.end()
    pieces.append(text[position:])
    return "".join(pieces)


_PAIR_NAMES = ("name", "key", "Name", "Key")
# Short strings are remembered (bounded): 8,192 entries of at most 256 characters.
CACHED_CHARS = 256
CACHE_SIZE = 8192


class Redactor:
    """Replaces secrets and personal data with ``[REDACTED:<kind>]`` markers."""

    def __init__(self, extra_patterns: Iterable[str] = ()) -> None:
        self._patterns = _builtin_patterns() + compile_extra(extra_patterns)
        hints = sorted({h for p in self._patterns for h in p.hints}, key=len, reverse=True)
        # One scan finds every hint present: a lookahead at each position reports the longest
        # hint starting there, and each hint implies the shorter hints it contains.
        self._hint_scan = (
            re.compile("(?=(" + "|".join(re.escape(h) for h in hints) + "))") if hints else None
        )
        self._implied = {h: frozenset(o for o in hints if o in h) for h in hints}
        self._redact_short = lru_cache(maxsize=CACHE_SIZE)(self._redact)
        self._always = tuple(i for i, p in enumerate(self._patterns) if not p.hints)
        self._by_hint = {
            h: tuple(i for i, p in enumerate(self._patterns) if h in p.hints) for h in hints
        }

    def _hints_in(self, lowered: str) -> frozenset[str]:
        if self._hint_scan is None:
            return frozenset()
        found: set[str] = set()
        for match in self._hint_scan.finditer(lowered):
            hint = match.group(1)
            if hint not in found:
                found |= self._implied[hint]
        return frozenset(found)

    def redact(self, text: str) -> str:
        """Return ``text`` with every secret or personal value replaced by a marker.

        Redact before clipping: a cut token no longer matches its rule.
        """
        if not text:
            return text
        if len(text) <= CACHED_CHARS:
            # Label names, severities, service names recur in every alert of a stream.
            return self._redact_short(text)
        return self._redact(text)

    def _redact(self, text: str) -> str:
        text = _cut_private_keys(text)
        # A literal check skips most patterns on most texts; markers never add a hint.
        chosen = set(self._always)
        for hint in self._hints_in(text.lower()):
            chosen.update(self._by_hint[hint])
        for index in sorted(chosen):  # in the patterns' own order: earlier rules win
            pattern = self._patterns[index]
            text = pattern.regex.sub(pattern.replace, text)
        return text

    def redact_value(self, key: str, value: T) -> T:
        """Redact ``value`` as found under ``key``: all of it when the key names a secret."""
        if is_secret_key(key):
            return self._secret(key, value)  # type: ignore[no-any-return]
        return self._walk(value)  # type: ignore[no-any-return]

    def redact_mapping(self, mapping: dict[str, T]) -> dict[str, T]:
        """Redact a labels/annotations/JSON mapping by key name and by content, recursively."""
        return self._walk(mapping)  # type: ignore[no-any-return]

    def redact_obj(self, obj: T) -> T:
        """Redact every string inside dicts, lists and tuples (keys included), recursively.

        A value under a secret-ish key (``is_secret_key``) is replaced whole.
        """
        return self._walk(obj)  # type: ignore[no-any-return]

    def redact_payload_text(self, body: str) -> str:
        """Redact a raw request body; a JSON body stays valid JSON (it is re-serialised)."""
        if body.lstrip()[:1] in ("{", "["):
            try:
                return json.dumps(self._walk(json.loads(body)), ensure_ascii=False)
            except (ValueError, RecursionError):
                pass  # not JSON after all, or nested too deep: treat it as text
        return self.redact(body)

    def _walk(self, obj: Any) -> Any:
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, dict):
            return self._walk_dict(obj)
        if isinstance(obj, list):
            return [self._walk(item) for item in obj]
        if isinstance(obj, tuple):
            return tuple(self._walk(item) for item in obj)
        return obj

    def _walk_dict(self, obj: dict[Any, Any]) -> dict[Any, Any]:
        # {"name": "DB_PASSWORD", "value": "..."}: Kubernetes env entries and the like.
        named = next((obj[k] for k in _PAIR_NAMES if isinstance(obj.get(k), str)), None)
        pair_secret = isinstance(named, str) and is_secret_key(named)
        result: dict[Any, Any] = {}
        for key, value in obj.items():
            name = key if isinstance(key, str) else ""
            secret = is_secret_key(name) or (pair_secret and name.lower() == "value")
            result[self._walk(key)] = self._secret(name, value) if secret else self._walk(value)
        return result

    def _secret(self, key: str, value: Any) -> Any:
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, str):
            return value if _placeholder(value) else marker(_secret_kind(key))
        if isinstance(value, int | float):
            return marker(_secret_kind(key))
        if isinstance(value, dict):
            return {self._walk(k): self._secret(key, v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._secret(key, item) for item in value)
        return value
