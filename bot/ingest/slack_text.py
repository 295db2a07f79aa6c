"""Deterministic heuristics over the text alert bots post into Slack.

Recognised titles: Alertmanager's and Grafana's ``[FIRING:2] ...`` / ``[RESOLVED] ...``,
Datadog's ``Triggered: ...`` / ``Recovered: ...`` and ``[Triggered on {host:x}] ...``.
Recognised key/value lines: ``*Key:* value`` (bold key, Alertmanager templates) and
``- key = value`` (Grafana's default message).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from bot.ingest.datadog import split_tags, split_title
from bot.models import AlertStatus

_GROUP_TITLE = re.compile(
    r"\[(FIRING|RESOLVED)(?::\d+)?(?:,\s*RESOLVED:\d+)?\]\s*(.*)", re.IGNORECASE | re.DOTALL
)
# Only the transition word is matched by a pattern; the rest is split with str methods,
# so a hostile title cannot make the match backtrack.
_TRANSITION_WORD = re.compile(
    r"((?:Re-)?(?:Triggered|Recovered|Warn|No Data)|Renotify)\b", re.IGNORECASE
)
_LINK = re.compile(r"<([^<>|]*)\|([^<>]*)>|<([^<>]*)>")
# [ \t] rather than \s: \s would run across blank lines and rescan them from every line.
_BOLD_PAIR = re.compile(r"^[ \t]*[-•]?[ \t]*\*([^*\n]{1,40}?):?\*:?[ \t]*(.+)$", re.MULTILINE)
_EQUALS_PAIR = re.compile(r"^[ \t]*[-•][ \t]*([\w.\-/]{1,60})[ \t]*=[ \t]*(.+)$", re.MULTILINE)
_KEY_JUNK = re.compile(r"[^\w.\-/]+")
_RESOLVED_COLORS = frozenset({"good", "#36a64f", "#2eb886", "#2eb67d", "#00ff00"})
_RESOLVED_WORDS = frozenset({"resolved", "recovered", "ok"})
_LEADING_EMOJI = re.compile(r"^(?::[a-z0-9_+\-]+:\s*)+")
# Keys whose values are prose about the alert, not identity: they become annotations.
PROSE_KEYS = frozenset({"alert", "summary", "description", "message", "details", "text", "value"})


@dataclass
class TitleInfo:
    """What a bot's title line says: the alert title, its status, scope labels."""

    title: str
    status: AlertStatus | None = None
    labels: dict[str, str] = field(default_factory=dict)


def clean(text: str) -> str:
    """Slack mrkdwn to plain text: links to their labels, entities unescaped."""

    def link(match: re.Match[str]) -> str:
        label, bare = match.group(2), match.group(3)
        if bare is not None:
            return bare.lstrip("!#@")
        return label

    return html.unescape(_LINK.sub(link, text)).strip()


def read_title(raw: str) -> TitleInfo:
    """Split a bot's title into status, title and any labels it carries."""
    line = _LEADING_EMOJI.sub("", clean(raw).split("\n", 1)[0].strip())
    if match := _GROUP_TITLE.fullmatch(line):
        status = AlertStatus.FIRING if match.group(1).upper() == "FIRING" else AlertStatus.RESOLVED
        return TitleInfo(title=match.group(2).strip() or line, status=status)
    if colon := _colon_title(line):
        transition, scope, rest = colon
        parts = split_title(rest)
        return TitleInfo(
            title=parts.title or line,
            status=_transition_status(transition),
            labels={**split_tags(scope.strip().strip("{}")), **_priority(parts.priority)},
        )
    parts = split_title(line)
    if parts.transition or parts.priority:
        return TitleInfo(
            title=parts.title or line,
            status=_transition_status(parts.transition) if parts.transition else None,
            labels={**parts.scope, **_priority(parts.priority)},
        )
    return TitleInfo(title=line)


def _colon_title(line: str) -> tuple[str, str, str] | None:
    # "Triggered: title" or "Triggered on {scope}: title" -> (transition, scope, title)
    match = _TRANSITION_WORD.match(line)
    if match is None:
        return None
    rest = line[match.end() :]
    scope = ""
    if rest.startswith(" on "):
        scope, separator, rest = rest[4:].partition(": ")
        if not separator:
            return None
        rest = ": " + rest
    if not rest.startswith(":") or not rest[1:2].isspace():
        return None
    return match.group(1), scope, rest[2:]


def _priority(priority: str) -> dict[str, str]:
    return {"priority": priority} if priority else {}


def _transition_status(transition: str) -> AlertStatus:
    if transition.lower() in ("recovered", "re-recovered"):
        return AlertStatus.RESOLVED
    return AlertStatus.FIRING


def label_key(raw: str) -> str:
    """A field title as a label name: ``Severity Level`` -> ``severity_level``."""
    return _KEY_JUNK.sub("_", raw.strip().strip(":*").strip().lower()).strip("_")


def _value(raw: str) -> str:
    return raw.strip().strip("`*_").strip()


def pairs(text: str) -> dict[str, str]:
    """Key/value lines in a bot message; the first occurrence of a key wins."""
    found: dict[str, str] = {}
    for pattern in (_BOLD_PAIR, _EQUALS_PAIR):
        for match in pattern.finditer(text):
            key, value = label_key(match.group(1)), _value(clean(match.group(2)))
            if key and value:
                found.setdefault(key, value)
    return found


def field_pair(title: str, value: str) -> tuple[str, str]:
    """One attachment field or ``*Key:*\\nvalue`` block field as a label."""
    return label_key(clean(title)), _value(clean(value))


def status_from(labels: dict[str, str], color: str) -> AlertStatus | None:
    """Status said in a ``status`` field, else implied by a green attachment colour."""
    said = labels.get("status", "").lower()
    if said in _RESOLVED_WORDS:
        return AlertStatus.RESOLVED
    if said in ("firing", "alerting", "triggered"):
        return AlertStatus.FIRING
    if color.strip().lower() in _RESOLVED_COLORS:
        return AlertStatus.RESOLVED
    return None
