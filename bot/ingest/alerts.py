"""Assemble a normalised Alert from what a source parser read out of its payload."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.ingest.fingerprints import group_key, stable_fingerprint
from bot.ingest.severities import severity_hint
from bot.ingest.values import IngestOptions
from bot.models import Alert, AlertStatus
from bot.service_names import resolve_service

MAX_TITLE_CHARS = 300
MAX_DESCRIPTION_CHARS = 8000
SEVERITY_LABELS = ("severity", "priority", "sev", "level", "urgency")


@dataclass
class Draft:
    """One alert as a source parser understood it, before identity and service resolution."""

    title: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    description: str = ""
    status: AlertStatus = AlertStatus.FIRING
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    url: str = ""
    fingerprint: str = ""
    group_key: str = ""
    service: str = ""
    service_fallbacks: tuple[str, ...] = ()
    severity_words: tuple[str, ...] = ()


def _clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def build_alert(source: str, draft: Draft, received_at: datetime, options: IngestOptions) -> Alert:
    """Resolve service, severity, fingerprint and group key, and return the Alert."""
    service, service_raw, flags = resolve_service(
        draft.labels,
        options.service_label_order,
        explicit=draft.service,
        fallbacks=draft.service_fallbacks,
    )
    label_words = tuple(draft.labels.get(name, "") for name in SEVERITY_LABELS)
    title = _clip(" ".join(draft.title.split()) or "untitled alert", MAX_TITLE_CHARS)
    alertname = draft.labels.get("alertname", "")
    return Alert(
        source=source,
        fingerprint=draft.fingerprint
        or stable_fingerprint(source, {"service": service, **draft.labels}, title),
        group_key=draft.group_key or group_key(source, service, alertname, title),
        service=service,
        service_raw=service_raw,
        service_flags=flags,
        title=title,
        description=_clip(draft.description.strip(), MAX_DESCRIPTION_CHARS),
        labels=draft.labels,
        annotations=draft.annotations,
        severity_hint=severity_hint(*draft.severity_words, *label_words),
        status=draft.status,
        starts_at=draft.starts_at,
        ends_at=draft.ends_at,
        received_at=received_at,
        url=draft.url or None,
    )
