"""Datadog webhook integration payloads: the default template and common custom ones.

The payload is whatever the user's template makes of Datadog's variables, and a template may
leave a numeric one unquoted (``"alert_id": $ALERT_ID``), so scalars of any kind read as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from bot.ingest import fields
from bot.ingest.alerts import Draft, build_alert
from bot.ingest.fields import JsonObject
from bot.ingest.fingerprints import keyed_fingerprint
from bot.ingest.values import IngestOptions, ParsedPayload
from bot.models import AlertStatus

SOURCE = "datadog"
_BRACKET = re.compile(r"\s*\[([^\]]*)\]\s*")
_PRIORITY = re.compile(r"P[0-5]", re.IGNORECASE)
_TRANSITION = re.compile(
    r"((?:Re-)?(?:Triggered|Recovered|Warn|No Data)|Renotify)(?: on \{?([^}]*)\}?)?",
    re.IGNORECASE,
)
_RESOLVED_TRANSITIONS = frozenset({"recovered", "re-recovered"})


@dataclass
class TitleParts:
    """A Datadog title split into its bracketed prefixes and the monitor's own title."""

    title: str
    transition: str = ""
    priority: str = ""
    scope: dict[str, str] = field(default_factory=dict)


def split_tags(raw: str) -> dict[str, str]:
    """``"service:x, env:prod, canary"`` as labels; a bare tag gets an empty value."""
    labels: dict[str, str] = {}
    for tag in raw.split(","):
        name, _, value = tag.strip().partition(":")
        if name:
            labels.setdefault(name.strip(), value.strip())
    return labels


def split_title(title: str) -> TitleParts:
    """Peel ``[P1] [Triggered on {host:web-1}]`` prefixes off a Datadog event title."""
    text = title.strip()
    parts = TitleParts(title=text)
    position = 0
    while match := _BRACKET.match(text, position):
        inner = match.group(1).strip()
        transition = _TRANSITION.fullmatch(inner)
        if _PRIORITY.fullmatch(inner):
            parts.priority = inner.upper()
        elif transition:
            parts.transition = transition.group(1)
            parts.scope.update(split_tags(transition.group(2) or ""))
        else:
            break
        position = match.end()
    parts.title = text[position:]
    return parts


def _tags(root: JsonObject) -> dict[str, str]:
    raw = root.get("tags")
    if raw is None:
        return {}
    if isinstance(raw, list):
        joined = ",".join(
            fields.scalar_text(tag, fields.at("tags", i)) for i, tag in enumerate(raw)
        )
        return split_tags(joined)
    return split_tags(fields.scalar_text(raw, "tags"))


def _org_name(root: JsonObject) -> str:
    org = root.get("org")
    if isinstance(org, dict):
        return fields.scalar(org, "name", "org")
    return fields.scalar(root, "org", "")


def _labels(root: JsonObject, parts: TitleParts, transition: str, priority: str) -> dict[str, str]:
    labels = {**parts.scope, **split_tags(fields.scalar(root, "alert_scope", "")), **_tags(root)}
    extras = {
        "datadog_transition": transition,
        "datadog_event_type": fields.scalar(root, "event_type", ""),
        "datadog_alert_type": fields.scalar(root, "alert_type", ""),
        "monitor_id": fields.scalar(root, "alert_id", ""),
        "metric": fields.scalar(root, "alert_metric", ""),
        "priority": priority,
        "host": fields.scalar(root, "hostname", ""),
        "datadog_org": _org_name(root),
    }
    for name, value in extras.items():
        if value:
            labels.setdefault(name, value)
    return labels


def _annotations(root: JsonObject) -> dict[str, str]:
    wanted = {
        "alert_status": "status_summary",
        "alert_query": "query",
        "snapshot": "snapshot_url",
        "id": "datadog_event_id",
        "user": "user",
        "alert_cycle_key": "alert_cycle_key",
    }
    found = {name: fields.scalar(root, key, "") for key, name in wanted.items()}
    return {name: value for name, value in found.items() if value}


def read_event(root: JsonObject) -> Draft:
    """One Datadog notification as a Draft."""
    raw_title = (
        fields.scalar(root, "title", "")
        or fields.scalar(root, "event_title", "")
        or fields.scalar(root, "alert_title", "")
    )
    if not raw_title:
        raise fields.invalid("title", "required field is missing ($EVENT_TITLE in the template)")
    parts = split_title(raw_title)
    transition = fields.scalar(root, "alert_transition", "") or parts.transition
    priority = fields.scalar(root, "alert_priority", "") or parts.priority
    resolved = transition.lower() in _RESOLVED_TRANSITIONS or (
        fields.scalar(root, "alert_type", "").lower() == "success"
    )
    labels = _labels(root, parts, transition, priority)
    alert_id = fields.scalar(root, "alert_id", "")
    aggregation = fields.scalar(root, "aggreg_key", "") or fields.scalar(
        root, "aggregation_key", ""
    )
    # A notification's own time; a resend of one event keeps it, a new cycle does not.
    happened = fields.epoch_time(root, "date", "") or fields.epoch_time(root, "last_updated", "")
    return Draft(
        title=parts.title or raw_title,
        labels=labels,
        annotations=_annotations(root),
        description=fields.scalar(root, "body", "") or fields.scalar(root, "event_msg", ""),
        status=AlertStatus.RESOLVED if resolved else AlertStatus.FIRING,
        starts_at=happened,
        ends_at=happened if resolved else None,
        url=fields.scalar(root, "link", "") or fields.scalar(root, "url", ""),
        fingerprint=keyed_fingerprint(SOURCE, alert_id, aggregation)
        if alert_id or aggregation
        else "",
        service_fallbacks=(labels.get("host", ""),),
        severity_words=(priority, fields.scalar(root, "priority", ""), transition),
    )


def parse(document: object, received_at: datetime, options: IngestOptions) -> ParsedPayload:
    """The alert in a Datadog webhook body."""
    root = fields.as_object(document, "")
    return ParsedPayload(alerts=[build_alert(SOURCE, read_event(root), received_at, options)])
