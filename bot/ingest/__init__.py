"""Alert ingestion: raw webhook bytes from a named source in, normalised Alerts out."""

from bot.ingest.parsers import SOURCES, parse_payload
from bot.ingest.services import canonical_service
from bot.ingest.values import IngestOptions, ParsedPayload

__all__ = ["SOURCES", "IngestOptions", "ParsedPayload", "canonical_service", "parse_payload"]
