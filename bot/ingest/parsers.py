"""The entry point: raw bytes from a named source to normalised alerts."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from bot.errors import PayloadError
from bot.ingest import alertmanager, bodies, datadog, generic, grafana, pagerduty, slack
from bot.ingest.values import DEFAULT_OPTIONS, IngestOptions, ParsedPayload

log = logging.getLogger(__name__)

Parser = Callable[[object, datetime, IngestOptions], ParsedPayload]

PARSERS: dict[str, Parser] = {
    alertmanager.SOURCE: alertmanager.parse,
    grafana.SOURCE: grafana.parse,
    datadog.SOURCE: datadog.parse,
    pagerduty.SOURCE: pagerduty.parse,
    generic.SOURCE: generic.parse,
    slack.SOURCE: slack.parse,
}
SOURCES: tuple[str, ...] = tuple(PARSERS)


def parse_payload(
    source: str,
    body: bytes,
    content_type: str | None,
    *,
    received_at: datetime,
    options: IngestOptions = DEFAULT_OPTIONS,
) -> ParsedPayload:
    """Parse one payload into alerts; raise PayloadError(message, status) for anything refused."""
    parser = PARSERS.get(source)
    if parser is None:
        raise PayloadError(
            f"unknown alert source {source[:60]!r}; known sources: {', '.join(SOURCES)}", 404
        )
    try:
        document = bodies.decode_json(
            body, content_type, options.max_body_bytes, options.max_json_depth
        )
        parsed = parser(document, received_at, options)
        _check_count(parsed, options.max_alerts)
        return parsed
    except PayloadError as exc:
        log.info("payload refused", extra={"source": source, "status": exc.status})
        raise


def _check_count(parsed: ParsedPayload, limit: int) -> None:
    count = len(parsed.alerts)
    if count > limit:
        raise PayloadError(
            f"payload has {count:,} alerts, more than the limit of {limit:,} per payload "
            "(ALERT_MAX_PER_PAYLOAD): send them in smaller batches",
            413,
        )
