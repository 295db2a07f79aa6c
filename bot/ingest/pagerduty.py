"""PagerDuty v3 webhook payloads: one incident event per request.

Only events that describe an incident's state become alerts; others (notes, responder
requests, status updates, service changes, pings) are refused with a 422 that says so,
because an alert with no state would open or touch incidents for nothing.
"""

from __future__ import annotations

from datetime import datetime

from bot.ingest import fields
from bot.ingest.alerts import Draft, build_alert
from bot.ingest.fields import JsonObject
from bot.ingest.values import IngestOptions, ParsedPayload
from bot.models import AlertStatus

SOURCE = "pagerduty"
INCIDENT_EVENTS: tuple[str, ...] = (
    "incident.triggered",
    "incident.acknowledged",
    "incident.unacknowledged",
    "incident.resolved",
    "incident.reopened",
    "incident.escalated",
    "incident.reassigned",
    "incident.delegated",
    "incident.priority_updated",
)
_PAIRED_EVENTS = frozenset({"incident.triggered", "incident.resolved"})


def _summary(obj: JsonObject, key: str, path: str) -> str:
    value = obj.get(key)
    if isinstance(value, dict):
        return fields.text(value, "summary", fields.at(path, key))
    return fields.text(obj, key, path)


def _assignees(data: JsonObject) -> str:
    names = []
    for index, item in enumerate(fields.member_list(data, "assignees", "event.data")):
        entry = fields.as_object(item, fields.at("event.data.assignees", index))
        names.append(fields.text(entry, "summary", fields.at("event.data.assignees", index)))
    return ", ".join(name for name in names if name)


def _annotations(event: JsonObject, data: JsonObject) -> dict[str, str]:
    bridge = fields.member_object(data, "conference_bridge", "event.data")
    reason = data.get("resolve_reason")
    found = {
        "agent": _summary(event, "agent", "event"),
        "assignees": _assignees(data),
        "escalation_policy": _summary(data, "escalation_policy", "event.data"),
        "conference_url": fields.text(bridge, "conference_url", "event.data.conference_bridge"),
        "conference_number": fields.text(
            bridge, "conference_number", "event.data.conference_bridge"
        ),
        "resolve_reason": _summary(data, "resolve_reason", "event.data")
        if not isinstance(reason, dict)
        else fields.text(reason, "type", "event.data.resolve_reason"),
    }
    return {name: value for name, value in found.items() if value}


def read_event(root: JsonObject) -> Draft:
    """The incident event in a PagerDuty webhook body as a Draft."""
    event = fields.member_object(root, "event", "", required=True)
    event_type = fields.text(event, "event_type", "event", required=True)
    if event_type not in INCIDENT_EVENTS:
        raise fields.invalid(
            "event.event_type",
            f"PagerDuty event {event_type[:60]!r} does not describe an incident's state; "
            f"accepted: {', '.join(INCIDENT_EVENTS)}",
        )
    data = fields.member_object(event, "data", "event", required=True)
    status = fields.text(data, "status", "event.data")
    resolved = event_type == "incident.resolved" or status == "resolved"
    occurred = fields.timestamp(event, "occurred_at", "event")
    service = fields.member_object(data, "service", "event.data")
    priority = _summary(data, "priority", "event.data")
    urgency = fields.text(data, "urgency", "event.data")
    labels = {
        "pagerduty_event": event_type,
        "pagerduty_status": status,
        "pagerduty_service": fields.text(service, "summary", "event.data.service"),
        "pagerduty_service_id": fields.text(service, "id", "event.data.service"),
        "incident_number": fields.scalar(data, "number", "event.data"),
        "incident_key": fields.text(data, "incident_key", "event.data"),
        "priority": priority,
        "urgency": urgency,
    }
    created = fields.timestamp(data, "created_at", "event.data")
    return Draft(
        title=fields.text(data, "title", "event.data", required=True),
        labels={name: value for name, value in labels.items() if value},
        annotations=_annotations(event, data),
        status=AlertStatus.RESOLVED if resolved else AlertStatus.FIRING,
        # Triggered and resolved share the incident's creation time, so they pair up; other
        # state changes (ack, reopen, escalation) carry their own time so the store keeps
        # each one once instead of dropping it as a resend of the trigger.
        starts_at=(created or occurred) if event_type in _PAIRED_EVENTS else (occurred or created),
        ends_at=occurred if resolved else None,
        url=fields.text(data, "html_url", "event.data"),
        fingerprint=fields.text(data, "id", "event.data", required=True),
        service_fallbacks=(labels["pagerduty_service"],),
        severity_words=(priority, urgency),
    )


def parse(document: object, received_at: datetime, options: IngestOptions) -> ParsedPayload:
    """The alert in a PagerDuty v3 webhook body."""
    root = fields.as_object(document, "")
    return ParsedPayload(alerts=[build_alert(SOURCE, read_event(root), received_at, options)])
