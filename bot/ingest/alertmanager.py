"""Prometheus Alertmanager webhook payloads (version "4"); Grafana reuses the alert reader."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.ingest import fields
from bot.ingest.alerts import Draft, build_alert
from bot.ingest.fields import JsonObject, at
from bot.ingest.values import IngestOptions, ParsedPayload
from bot.models import AlertStatus

SOURCE = "alertmanager"


@dataclass(frozen=True)
class Group:
    """What the payload says about all its alerts at once."""

    key: str
    status: AlertStatus | None
    common_annotations: dict[str, str]


def read_status(obj: JsonObject, key: str, path: str) -> AlertStatus | None:
    """``firing`` or ``resolved`` (any case); missing reads as None, anything else is 422."""
    value = fields.text(obj, key, path).lower()
    if not value:
        return None
    if value not in ("firing", "resolved"):
        raise fields.invalid(at(path, key), f'expected "firing" or "resolved", got {value[:40]!r}')
    return AlertStatus(value)


def read_group(root: JsonObject) -> Group:
    """The group-level fields every alert in the payload shares."""
    # Read only to refuse a contradicting type: a reader elsewhere would see other labels.
    fields.string_map(root, "groupLabels", "")
    fields.string_map(root, "commonLabels", "")
    fields.text(root, "receiver", "")
    fields.text(root, "externalURL", "")
    return Group(
        key=fields.text(root, "groupKey", ""),
        status=read_status(root, "status", ""),
        common_annotations=fields.string_map(root, "commonAnnotations", ""),
    )


def read_alerts(root: JsonObject) -> list[tuple[JsonObject, str]]:
    """The non-empty ``alerts`` array as (object, path) pairs."""
    items = fields.member_list(root, "alerts", "", required=True)
    if not items:
        raise fields.invalid("alerts", "the payload contains no alerts")
    return [
        (fields.as_object(item, at("alerts", i)), at("alerts", i)) for i, item in enumerate(items)
    ]


def _title(labels: dict[str, str], annotations: dict[str, str]) -> str:
    alertname = labels.get("alertname", "")
    summary = annotations.get("summary", "") or annotations.get("title", "")
    if alertname and summary:
        return f"{alertname}: {summary}"
    return alertname or summary or annotations.get("description", "")


def read_alert(item: JsonObject, path: str, group: Group) -> Draft:
    """One Alertmanager-shaped alert (labels, annotations, times, fingerprint)."""
    labels = fields.string_map(item, "labels", path, required=True)
    annotations = fields.string_map(item, "annotations", path)
    status = read_status(item, "status", path) or group.status
    if status is None:
        raise fields.invalid(at(path, "status"), "required field is missing")
    merged = {**group.common_annotations, **annotations}
    return Draft(
        title=_title(labels, merged),
        labels=labels,
        annotations=annotations,
        description=merged.get("description", "") or merged.get("summary", ""),
        status=status,
        starts_at=fields.timestamp(item, "startsAt", path),
        ends_at=fields.timestamp(item, "endsAt", path),
        url=fields.text(item, "generatorURL", path),
        fingerprint=fields.text(item, "fingerprint", path),
        group_key=group.key,
    )


def parse(document: object, received_at: datetime, options: IngestOptions) -> ParsedPayload:
    """Alerts from an Alertmanager webhook body."""
    root = fields.as_object(document, "")
    group = read_group(root)
    drafts = [read_alert(item, path, group) for item, path in read_alerts(root)]
    return ParsedPayload(
        alerts=[build_alert(SOURCE, draft, received_at, options) for draft in drafts],
        truncated=fields.count(root, "truncatedAlerts", ""),
    )
