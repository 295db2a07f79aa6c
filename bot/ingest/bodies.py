"""Raw bytes to a JSON value: size, content type, UTF-8, nesting depth, syntax, unique keys.

Every refusal is a PayloadError carrying the HTTP status the web edge answers with.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate

from bot.errors import PayloadError
from bot.ingest.fields import at

_ACCEPTED_CHARSETS = frozenset({"utf-8", "utf8"})
# A complete string literal, or (second branch) an unterminated one running to the end:
# the fallback keeps the scan linear, since nothing after it is retried as a string start.
_STRINGS = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"|"[\s\S]*')
_BRACKETS_ONLY = re.compile(r"[^\[\]{}]+")
_TOKENS = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"|"|[\[\]{}]')
# Tokens the early-exit scan looks at before handing over to the whole-text pass.
_EARLY_TOKENS = 512
_DELTA = {"[": 1, "{": 1, "]": -1, "}": -1}
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


def _max_depth(text: str) -> int:
    # C-speed pass: drop strings, keep brackets, take the running maximum.
    structure = _BRACKETS_ONLY.sub("", _STRINGS.sub("", text))
    return max(accumulate(map(_DELTA.__getitem__, structure)), default=0)


def _first_excess(text: str, max_depth: int, budget: int | None = None) -> int | None:
    # One step per string or bracket, stopping at the first excess. Returns its offset,
    # None when the text is within the limit, or -1 when ``budget`` tokens ran out first.
    depth = 0
    for seen, match in enumerate(_TOKENS.finditer(text)):
        if budget is not None and seen >= budget:
            return -1
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > max_depth:
                return match.start()
        elif token in "]}":
            depth -= 1
        elif token == '"':
            break  # an unterminated string: nothing after it is structure
    return None


def check_depth(text: str, max_depth: int) -> None:
    """Refuse nesting deeper than ``max_depth`` without recursing (422)."""
    if text.count("[") + text.count("{") <= max_depth:
        return
    # Attacks nest early: a short scan catches them; long bodies get the C-speed pass.
    found = _first_excess(text, max_depth, budget=_EARLY_TOKENS)
    if found == -1:
        found = _first_excess(text, max_depth) if _max_depth(text) > max_depth else None
    if found is not None:
        where = _position(text, found)
        raise PayloadError(f"JSON is nested deeper than {max_depth} levels (at {where})", 422)


def _reject_constant(name: str) -> object:
    raise PayloadError(f"invalid JSON: {name} is not a JSON number", 400)


class _RepeatedKeys(dict[str, object]):
    """An object whose text repeated ``key``; only ever built on the way to a refusal."""

    key: str


def _unique_object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    repeated = _RepeatedKeys(obj)
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            repeated.key = key
            break
        seen.add(key)
    return repeated


def _first_repeated_key(value: object) -> tuple[str, str] | None:
    # Document order, without recursion: the refusal names the first repeated key's path.
    pending: list[tuple[str, object]] = [("", value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, _RepeatedKeys):
            return at(path, item.key), item.key
        if isinstance(item, dict):
            pending.extend((at(path, key), child) for key, child in reversed(item.items()))
        elif isinstance(item, list):
            pending.extend((at(path, i), child) for i, child in reversed(list(enumerate(item))))
    return None


def check_unique_keys(value: object) -> None:
    """Refuse an object that repeats a key at any depth (422 naming the key's path)."""
    found = _first_repeated_key(value)
    if found is not None:
        path, key = found
        raise PayloadError(
            f"{path}: duplicate key {key[:60]!r}; a JSON object must name each key once "
            "(readers disagree on which value counts)",
            422,
        )


def load_json(text: str) -> object:
    """Parse JSON text; syntax errors say where (400), a repeated key says which (422)."""
    if not text.strip():
        raise PayloadError("payload is empty: expected a JSON document", 400)
    repeated = False

    def unique_object(pairs: list[tuple[str, object]]) -> dict[str, object]:
        nonlocal repeated
        obj = _unique_object(pairs)
        repeated = repeated or isinstance(obj, _RepeatedKeys)
        return obj

    try:
        value: object = json.loads(
            text, parse_constant=_reject_constant, object_pairs_hook=unique_object
        )
    except json.JSONDecodeError as exc:
        raise PayloadError(
            f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", 400
        ) from None
    except RecursionError:
        raise PayloadError("JSON is nested too deeply to parse", 422) from None
    except ValueError as exc:
        # e.g. an integer literal longer than the interpreter's digit limit
        raise PayloadError(f"invalid JSON: {exc}", 400) from None
    if repeated:
        check_unique_keys(value)
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
