"""Checks on untrusted action parameters: bounded shape first, then the action's JSON Schema."""

from __future__ import annotations

import math
from typing import Any

from jsonschema_rs import Validator

from bot.policy.files import format_path

MAX_DEPTH = 6
MAX_NODES = 200
MAX_TEXT_CHARS = 20_000
MAX_MESSAGE_CHARS = 300


def shape_problem(params: Any) -> str | None:
    """Why ``params`` is too large, too deep or not JSON-shaped; None when it is fine."""
    if not isinstance(params, dict):
        return f"parameters must be an object, got {type(params).__name__}"
    # Iterative walk: a hostile, deeply nested value must not exhaust the Python stack.
    pending: list[tuple[Any, int]] = [(params, 1)]
    nodes = 0
    text = 0
    while pending:
        value, depth = pending.pop()
        nodes += 1
        if nodes > MAX_NODES:
            return f"parameters have more than {MAX_NODES} values"
        if depth > MAX_DEPTH:
            return f"parameters nest deeper than {MAX_DEPTH} levels"
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    return "parameter names must be strings"
                text += len(key)
                pending.append((item, depth + 1))
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            text += len(value)
        elif isinstance(value, float) and not math.isfinite(value):
            return "parameters must not contain NaN or infinity"
        elif value is not None and not isinstance(value, bool | int | float):
            return f"parameter values must be JSON values, got {type(value).__name__}"
        if text > MAX_TEXT_CHARS:
            return f"parameters carry more than {MAX_TEXT_CHARS} characters of text"
    return None


def schema_problem(validator: Validator, params: dict[str, Any]) -> str | None:
    """The first schema violation as ``path: message`` (bounded length), or None."""
    try:
        if validator.is_valid(params):
            return None
        error = next(iter(validator.iter_errors(params)), None)
    except (ValueError, TypeError, OverflowError) as exc:
        return clip(f"parameters cannot be checked: {exc}")
    if error is None:
        return "parameters do not match the action's schema"
    where = format_path(error.instance_path) if error.instance_path else "params"
    return clip(f"{where}: {error.message}")


def clip(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Shorten text for reasons and logs; hostile inputs can be megabytes long."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def show(value: object, limit: int = 80) -> str:
    """A bounded, escaped rendering of an untrusted value for a reason string."""
    if isinstance(value, str):
        return clip(ascii(value[: limit + 1]), limit)
    return f"<{type(value).__name__}>"
