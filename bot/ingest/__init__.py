"""Alert ingestion: raw webhook bytes from a named source in, normalised Alerts out."""

from bot.ingest.parsers import SOURCES, parse_payload
from bot.ingest.values import IngestOptions, ParsedPayload
from bot.service_names import canonical_service

__all__ = ["SOURCES", "IngestOptions", "ParsedPayload", "canonical_service", "parse_payload"]
