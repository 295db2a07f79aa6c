"""The project's own plain JSON alert: one object or a list of them.

``{"title", "service", "description", "severity", "source", "status", "labels",
"fingerprint", "url", "starts_at"}``; title and service are required.
"""

from __future__ import annotations

from datetime import datetime

from bot.ingest import fields
from bot.ingest.alertmanager import read_status
from bot.ingest.alerts import Draft, build_alert
from bot.ingest.fields import JsonObject
from bot.ingest.severities import severity_hint
from bot.ingest.values import IngestOptions, ParsedPayload
from bot.models import AlertStatus

SOURCE = "generic"


def read_item(item: JsonObject, path: str, received_at: datetime) -> Draft:
    """One generic alert object as a Draft."""
    # Our own format: label values may be any scalar ({"partitions": 24} reads as "24").
    labels = fields.scalar_map(item, "labels", path)
    severity = fields.text(item, "severity", path)
    if severity and severity_hint(severity) is None:
        raise fields.invalid(
            fields.at(path, "severity"),
            f"unknown severity {severity[:40]!r}; use SEV0-SEV3, P0-P5 or "
            "critical/high/warning/info",
        )
    origin = fields.text(item, "source", path)
    if origin:
        labels.setdefault("source", origin)
    if severity:
        labels.setdefault("severity", severity)
    starts_at = fields.timestamp(item, "starts_at", path) or received_at
    return Draft(
        title=fields.text(item, "title", path, required=True),
        labels=labels,
        description=fields.text(item, "description", path),
        status=read_status(item, "status", path) or AlertStatus.FIRING,
        starts_at=starts_at,
        ends_at=fields.timestamp(item, "ends_at", path),
        url=fields.text(item, "url", path),
        fingerprint=fields.text(item, "fingerprint", path),
        service=fields.text(item, "service", path, required=True),
        severity_words=(severity,),
    )


def parse(document: object, received_at: datetime, options: IngestOptions) -> ParsedPayload:
    """Alerts from a generic JSON body (object or array of objects)."""
    if isinstance(document, list):
        if not document:
            raise fields.invalid("", "the list contains no alerts")
        items = [(fields.as_object(item, f"[{i}]"), f"[{i}]") for i, item in enumerate(document)]
    elif isinstance(document, dict):
        items = [(document, "")]
    else:
        raise fields.invalid(
            "", f"expected an alert object or an array of them, got {fields.kind(document)}"
        )
    drafts = [read_item(item, path, received_at) for item, path in items]
    return ParsedPayload(alerts=[build_alert(SOURCE, d, received_at, options) for d in drafts])
