"""Grafana unified-alerting webhook payloads (version "1"): Alertmanager's shape plus extras."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from bot.ingest import fields
from bot.ingest.alertmanager import read_alert, read_alerts, read_group
from bot.ingest.alerts import Draft, build_alert
from bot.ingest.fields import JsonObject
from bot.ingest.values import IngestOptions, ParsedPayload

SOURCE = "grafana"
_LINKS = ("dashboardURL", "panelURL", "silenceURL", "imageURL")


def _values(item: JsonObject, path: str) -> str:
    # "values" maps query refIds to numbers: {"B": 44.2, "C": 1}
    found = fields.number_map(item, "values", path)
    return ", ".join(f"{ref}={value}" for ref, value in sorted(found.items()))


def _grafana_alert(item: JsonObject, path: str, draft: Draft, message: str) -> Draft:
    annotations = dict(draft.annotations)
    for link in _LINKS:
        value = fields.text(item, link, path)
        if value:
            annotations[link] = value
    values = fields.text(item, "valueString", path) or _values(item, path)
    if values:
        annotations["values"] = values
    return replace(draft, annotations=annotations, description=draft.description or message)


def parse(document: object, received_at: datetime, options: IngestOptions) -> ParsedPayload:
    """Alerts from a Grafana webhook contact point body."""
    root = fields.as_object(document, "")
    if "alerts" not in root and "ruleName" in root:
        raise fields.invalid(
            "alerts",
            "this is a legacy Grafana alerting payload; "
            "use a unified-alerting webhook contact point",
        )
    group = read_group(root)
    message = fields.text(root, "message", "")
    drafts = [
        _grafana_alert(item, path, read_alert(item, path, group), message)
        for item, path in read_alerts(root)
    ]
    return ParsedPayload(
        alerts=[build_alert(SOURCE, draft, received_at, options) for draft in drafts],
        truncated=fields.count(root, "truncatedAlerts", ""),
    )
