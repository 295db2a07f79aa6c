"""Redaction of secrets and personal data before text leaves the process.

Pure and reusable: the LLM gateway, Slack rendering and logging all call ``Redactor.redact``.
Every pattern is compiled once and written to run in linear time on hostile input: each one
starts with a negative look-behind on its own character class (so a match can only begin at
the start of a run) and uses possessive or bounded quantifiers (so a failed attempt never
re-scans the same run). Private key blocks are cut by ``str.find`` instead of a lazy ``.*?``.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from bot.errors import ConfigError

T = TypeVar("T")

Replacement = Callable[[re.Match[str]], str]


def marker(kind: str) -> str:
    """The text that replaces one redacted value, e.g. ``[REDACTED:aws_key]``."""
    return f"[REDACTED:{kind}]"


@dataclass(frozen=True)
class Pattern:
    """One named regex; ``replace`` decides per match (it may keep the text unchanged)."""

    kind: str
    regex: re.Pattern[str]
    replace: Replacement


def _whole(kind: str) -> Replacement:
    return lambda _match: marker(kind)


def _keep_prefix(kind: str) -> Replacement:
    """Keep group 1 (a key name or scheme), redact the rest of the match."""
    return lambda match: match.group(1) + marker(kind)


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


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"

# Order matters: specific token formats first, then the broad shapes (emails, addresses).
_BUILTIN: tuple[tuple[str, str, Replacement | str | None], ...] = (
    (
        "jwt",
        r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,}+\.eyJ[A-Za-z0-9_-]{4,}+\.[A-Za-z0-9_-]++",
        None,
    ),
    ("bearer_token", r"(?i)(?<![A-Za-z0-9])(bearer[ \t]++)[A-Za-z0-9._~+/=-]{8,}+", "prefix"),
    (
        "basic_auth",
        r"(?i)(?<![A-Za-z0-9])((?:authorization:[ \t]{0,10}+)?basic[ \t]++)"
        r"([A-Za-z0-9+/]{8,}+={0,2})",
        _basic_auth,
    ),
    ("aws_key", r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])", None),
    (
        "aws_secret",
        r"(?i)(aws_?secret(?:_access)?_?key[\"']?[ \t]{0,5}+[:=][ \t]{0,5}+[\"']?)"
        r"[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])",
        "prefix",
    ),
    ("github_token", r"(?<![A-Za-z0-9_])(?:ghp|gho|ghs|ghu|ghr)_[A-Za-z0-9]{20,255}+", None),
    ("github_token", r"(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{20,255}+", None),
    ("slack_token", r"(?<![A-Za-z0-9_-])(?:xox[abprs]|xapp)-[A-Za-z0-9-]{8,}+", None),
    ("openai_key", r"(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{20,}+", None),
    (
        "password",
        r"(?i)(?<![a-z0-9+.-])([a-z][a-z0-9+.-]{1,20}+://[^\s:/@]{1,256}+:)[^\s@/]{1,256}+(?=@)",
        "prefix",
    ),
    (
        "password",
        r"(?i)(?<![A-Za-z0-9_])((?:password|passwd|pwd|accountkey|sharedaccesskey)"
        r"[\"']?[ \t]{0,5}+[=:][ \t]{0,5}+[\"']?)[^\s;,\"']{1,256}+",
        "prefix",
    ),
    (
        "email",
        r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}+@[A-Za-z0-9-]{1,63}+(?:\.[A-Za-z0-9-]{1,63}+)+",
        None,
    ),
    ("ipv6", r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}+:){2,7}+[0-9A-Fa-f]{0,4}+(?![\w:])", _ipv6),
    ("ipv4", rf"(?<![0-9.])(?:{_OCTET}\.){{3}}{_OCTET}(?!\.?[0-9])", None),
    (
        "card_number",
        r"(?<![0-9])(?:[0-9]{13,19}|[0-9]{4}(?:[ -][0-9]{3,6}){2,4})(?![0-9])",
        _card,
    ),
)

_KEY_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----")
_KEY_END = re.compile(r"-----END [A-Z0-9 ]{0,40}PRIVATE KEY-----")


def _builtin_patterns() -> list[Pattern]:
    patterns: list[Pattern] = []
    for kind, source, how in _BUILTIN:
        if how is None:
            replace = _whole(kind)
        elif how == "prefix":
            replace = _keep_prefix(kind)
        elif callable(how):
            replace = how
        else:
            raise ValueError(f"unknown replacement {how!r}")
        patterns.append(Pattern(kind, re.compile(source), replace))
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
    if "PRIVATE KEY-----" not in text:
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


class Redactor:
    """Replaces secrets and personal data with ``[REDACTED:<kind>]`` markers."""

    def __init__(self, extra_patterns: Iterable[str] = ()) -> None:
        self._patterns = _builtin_patterns() + compile_extra(extra_patterns)

    def redact(self, text: str) -> str:
        """Return ``text`` with every secret or personal value replaced by a marker."""
        if not text:
            return text
        text = _cut_private_keys(text)
        for pattern in self._patterns:
            text = pattern.regex.sub(pattern.replace, text)
        return text

    def redact_obj(self, obj: T) -> T:
        """Redact every string inside dicts, lists and tuples (keys included), recursively."""
        return self._walk(obj)  # type: ignore[no-any-return]

    def _walk(self, obj: Any) -> Any:
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, dict):
            return {self._walk(key): self._walk(value) for key, value in obj.items()}
        if isinstance(obj, list):
            return [self._walk(item) for item in obj]
        if isinstance(obj, tuple):
            return tuple(self._walk(item) for item in obj)
        return obj
