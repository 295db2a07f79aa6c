"""Typed reads from decoded JSON; every complaint names the field path it is about."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

from bot.errors import PayloadError

JsonObject = dict[str, object]

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?"
)


def at(path: str, key: str | int) -> str:
    """The path of ``key`` inside ``path``: ``alerts[2].labels``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def invalid(path: str, problem: str) -> PayloadError:
    """A 422 naming the field path and what is wrong with it."""
    return PayloadError(f"{path or 'payload'}: {problem}", 422)


def kind(value: object) -> str:
    """How a JSON value reads in an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def as_object(value: object, path: str) -> JsonObject:
    """``value`` as a JSON object, else 422."""
    if not isinstance(value, dict):
        raise invalid(path, f"expected an object, got {kind(value)}")
    return value


def as_list(value: object, path: str) -> list[object]:
    """``value`` as a JSON array, else 422."""
    if not isinstance(value, list):
        raise invalid(path, f"expected an array, got {kind(value)}")
    return value


def scalar_text(value: object, path: str) -> str:
    """A string, number or boolean as text (JSON spelling for booleans); else 422."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise invalid(path, f"expected a string, number or boolean, got {kind(value)}")


def string(value: object, path: str) -> str:
    """``value`` as a JSON string, else 422 (a number is not silently taken as text)."""
    if not isinstance(value, str):
        raise invalid(path, f"expected a string, got {kind(value)}")
    return value


def text(obj: JsonObject, key: str, path: str, *, required: bool = False) -> str:
    """A string member, stripped; missing or null reads as "" unless required; else 422."""
    return _member_text(obj, key, path, string, required)


def scalar(obj: JsonObject, key: str, path: str, *, required: bool = False) -> str:
    """A string, number or boolean member as text, for fields a source may send as either."""
    return _member_text(obj, key, path, scalar_text, required)


def _member_text(
    obj: JsonObject,
    key: str,
    path: str,
    read: Callable[[object, str], str],
    required: bool,
) -> str:
    value = obj.get(key)
    if value is None:
        if required:
            raise invalid(at(path, key), "required field is missing")
        return ""
    found = read(value, at(path, key)).strip()
    if required and not found:
        raise invalid(at(path, key), "must not be empty")
    return found


def member_object(obj: JsonObject, key: str, path: str, *, required: bool = False) -> JsonObject:
    """An object member; missing or null reads as {} unless required."""
    value = obj.get(key)
    if value is None:
        if required:
            raise invalid(at(path, key), "required field is missing")
        return {}
    return as_object(value, at(path, key))


def member_list(obj: JsonObject, key: str, path: str, *, required: bool = False) -> list[object]:
    """An array member; missing or null reads as [] unless required."""
    value = obj.get(key)
    if value is None:
        if required:
            raise invalid(at(path, key), "required field is missing")
        return []
    return as_list(value, at(path, key))


def string_map(obj: JsonObject, key: str, path: str, *, required: bool = False) -> dict[str, str]:
    """A flat object of strings (labels, annotations); any other value is 422 naming it."""
    source = member_object(obj, key, path, required=required)
    where = at(path, key)
    return {name: string(value, at(where, name)) for name, value in source.items()}


def scalar_map(obj: JsonObject, key: str, path: str) -> dict[str, str]:
    """A flat object of scalars as text (null reads as ""); nested values are 422 naming them."""
    source = member_object(obj, key, path)
    where = at(path, key)
    return {
        name: "" if value is None else scalar_text(value, at(where, name))
        for name, value in source.items()
    }


def number_map(obj: JsonObject, key: str, path: str) -> dict[str, float | int]:
    """A flat object of numbers (null entries skipped); any other value is 422 naming it."""
    source = member_object(obj, key, path)
    where = at(path, key)
    found: dict[str, float | int] = {}
    for name, value in source.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise invalid(at(where, name), f"expected a number, got {kind(value)}")
        found[name] = value
    return found


def count(obj: JsonObject, key: str, path: str) -> int:
    """A non-negative integer member (missing or null is 0)."""
    value = obj.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise invalid(at(path, key), f"expected a non-negative integer, got {kind(value)}")
    return value


def timestamp(obj: JsonObject, key: str, path: str) -> datetime | None:
    """An RFC 3339 time member in UTC; missing, empty or Go's zero time reads as None."""
    value = obj.get(key)
    if value is None or value == "":
        return None
    where = at(path, key)
    if not isinstance(value, str):
        raise invalid(where, f"expected an RFC 3339 time string, got {kind(value)}")
    return parse_rfc3339(value, where)


def parse_rfc3339(value: str, where: str) -> datetime | None:
    """Parse an RFC 3339 time (any fraction length, offset optional: UTC); 0001-01-01 is None."""
    match = _RFC3339.fullmatch(value.strip())
    if match is None:
        raise invalid(where, f"expected an RFC 3339 time, got {value[:40]!r}")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    if int(year) <= 1:
        return None
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        zone = UTC
        if sign:
            offset = timedelta(hours=int(off_h), minutes=int(off_m))
            zone = timezone(-offset if sign == "-" else offset)
        parsed = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micros, zone
        )
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise invalid(where, f"not a real date and time: {value[:40]!r}") from None


def epoch_time(obj: JsonObject, key: str, path: str) -> datetime | None:
    """An epoch time in seconds or milliseconds (number or numeric string), or RFC 3339."""
    value = obj.get(key)
    if value is None or value == "":
        return None
    where = at(path, key)
    if isinstance(value, str) and not re.fullmatch(r"\d+(\.\d+)?", value.strip()):
        return parse_rfc3339(value, where)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise invalid(where, f"expected an epoch time, got {kind(value)}")
    try:
        seconds = float(value)
        # Values past the year 33658 in seconds are taken to be milliseconds.
        if seconds > 1e12:
            seconds /= 1000
        return datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError):
        raise invalid(where, f"not a usable epoch time: {str(value)[:40]!r}") from None
