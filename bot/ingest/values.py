"""The values ingestion takes and returns: parsing options and a parsed payload."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.models import Alert

DEFAULT_SERVICE_LABEL_ORDER: tuple[str, ...] = (
    "service",
    "app.kubernetes.io/name",
    "app",
    "k8s_app",
    "job",
    "container",
    "namespace",
)


@dataclass(frozen=True)
class IngestOptions:
    """Limits and service-label preferences applied to every inbound payload."""

    max_body_bytes: int = 1_048_576
    max_json_depth: int = 32
    # More alerts than this in one payload is refused whole (413), never silently cut.
    max_alerts: int = 500
    service_label_order: tuple[str, ...] = DEFAULT_SERVICE_LABEL_ORDER


DEFAULT_OPTIONS = IngestOptions()


@dataclass(frozen=True)
class ParsedPayload:
    """The alerts found in one payload, plus how many the source said it left out."""

    alerts: list[Alert] = field(default_factory=list)
    truncated: int = 0
