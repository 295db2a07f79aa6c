"""Raw bytes to a JSON value: size, content type, UTF-8, nesting depth, syntax.

Every refusal is a PayloadError carrying the HTTP status the web edge answers with.
"""

from __future__ import annotations

import json
import re

from bot.errors import PayloadError

_ACCEPTED_CHARSETS = frozenset({"utf-8", "utf8"})
# Escaped pairs are consumed whole so an escaped quote never toggles the string state.
_STRUCTURE = re.compile(r'\\.|["\[\]{}]', re.DOTALL)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def check_size(body: bytes, max_body_bytes: int) -> None:
    """Refuse bodies over the configured limit (413)."""
    if len(body) > max_body_bytes:
        raise PayloadError(
            f"payload is {len(body)} bytes; the limit is {max_body_bytes} bytes", 413
        )


def check_content_type(content_type: str | None) -> None:
    """Accept JSON media types in UTF-8; no content type at all is taken as JSON (else 415)."""
    if content_type is None or not content_type.strip():
        return
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    is_json = media in ("application/json", "text/json") or (
        media.startswith("application/") and media.endswith("+json")
    )
    if not is_json:
        shown = media[:80] or "(blank)"
        raise PayloadError(
            f"unsupported content type {shown!r}: send application/json "
            "(for a Datadog webhook, untick 'Encode as form')",
            415,
        )
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() != "charset":
            continue
        charset = value.strip().strip('"').lower()
        if charset not in _ACCEPTED_CHARSETS:
            raise PayloadError(
                f"unsupported charset {charset[:40]!r}: JSON payloads must be UTF-8", 415
            )


def decode_text(body: bytes) -> str:
    """UTF-8 bytes to text, dropping a leading byte-order mark (else 400)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(
            f"payload is not valid UTF-8: bad byte 0x{body[exc.start]:02x} at offset {exc.start}",
            400,
        ) from None
    return text.removeprefix("\ufeff")


def _position(text: str, index: int) -> str:
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"line {line}, column {column}"


def check_depth(text: str, max_depth: int) -> None:
    """Refuse nesting deeper than ``max_depth`` without recursing (422)."""
    if text.count("[") + text.count("{") <= max_depth:
        return
    depth = 0
    in_string = False
    for match in _STRUCTURE.finditer(text):
        token = match.group()
        if token == '"':
            in_string = not in_string
        elif in_string or token[0] == "\\":
            continue
        elif token in "[{":
            depth += 1
            if depth > max_depth:
                where = _position(text, match.start())
                raise PayloadError(
                    f"JSON is nested deeper than {max_depth} levels (at {where})", 422
                )
        else:
            depth -= 1


def _reject_constant(name: str) -> object:
    raise PayloadError(f"invalid JSON: {name} is not a JSON number", 400)


def load_json(text: str) -> object:
    """Parse JSON text; syntax errors say where (400)."""
    if not text.strip():
        raise PayloadError("payload is empty: expected a JSON document", 400)
    try:
        value: object = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise PayloadError(
            f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", 400
        ) from None
    except RecursionError:
        raise PayloadError("JSON is nested too deeply to parse", 422) from None
    except ValueError as exc:
        # e.g. an integer literal longer than the interpreter's digit limit
        raise PayloadError(f"invalid JSON: {exc}", 400) from None
    if _SURROGATE_ESCAPE.search(text):
        _check_surrogates(value)
    return value


def _check_surrogates(value: object) -> None:
    # A lone \ud800 escape decodes to a str that cannot be encoded again, which would
    # fail later in storage or Slack; refuse it here instead.
    pending: list[object] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise PayloadError(
                    "invalid JSON: a string contains an unpaired UTF-16 surrogate escape", 400
                ) from None
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def decode_json(
    body: bytes, content_type: str | None, max_body_bytes: int, max_depth: int
) -> object:
    """Run every body check in order and return the decoded JSON value."""
    check_size(body, max_body_bytes)
    check_content_type(content_type)
    text = decode_text(body)
    check_depth(text, max_depth)
    return load_json(text)
