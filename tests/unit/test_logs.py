"""Logs are an egress too (invariant 4): every string a record carries is redacted."""

from __future__ import annotations

import json
import logging
import sys

from bot.logs import JsonFormatter
from bot.redaction import Redactor

SECRET = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"


def _record(message: str, args: tuple[object, ...] = (), **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("bot.test", logging.WARNING, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


def test_invariant_4_log_message_arguments_and_extras_are_redacted() -> None:
    formatter = JsonFormatter(Redactor().redact)
    record = _record(
        "call failed with token %s",
        (SECRET,),
        incident_id="inc-0000000001",
        detail={"headers": [f"Authorization: Bearer {SECRET}"], "user": "ops@example.com"},
    )
    line = formatter.format(record)
    assert SECRET not in line and "ops@example.com" not in line
    event = json.loads(line)
    assert "[REDACTED" in event["event"]
    assert event["incident_id"] == "inc-0000000001"


def test_invariant_4_tracebacks_are_redacted() -> None:
    formatter = JsonFormatter(Redactor().redact)
    try:
        raise RuntimeError(f"upstream said password={SECRET}")
    except RuntimeError:
        record = _record("boom")
        record.exc_info = sys.exc_info()
    line = formatter.format(record)
    assert SECRET not in line
    assert "RuntimeError" in json.loads(line)["exc"]
