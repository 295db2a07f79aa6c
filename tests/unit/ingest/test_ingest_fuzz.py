"""For any input bytes, every parser returns alerts or raises PayloadError - nothing else."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import PayloadError
from bot.ingest import SOURCES, ParsedPayload

from .payloads import PAYLOADS, parse

FIXTURES = sorted(str(p.relative_to(PAYLOADS)) for p in PAYLOADS.glob("*/*.json"))

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(source: str, body: bytes, content_type: str | None = "application/json") -> str:
    """Parse and classify the outcome; any other exception fails the test by escaping."""
    try:
        result = parse(source, body, content_type)
    except PayloadError as exc:
        assert 400 <= exc.status < 500
        assert str(exc)
        return "refused"
    assert isinstance(result, ParsedPayload)
    assert result.alerts
    for alert in result.alerts:
        alert.model_dump_json()  # everything we accept must also serialise
    return "accepted"


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(paths(child, (*prefix, index)))
    return found


def replaced(document: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copied = copy.deepcopy(document)
    target = copied
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return copied


@FUZZ
@given(source=st.sampled_from(SOURCES), body=st.binary(max_size=512))
def test_arbitrary_bytes(source: str, body: bytes) -> None:
    outcome(source, body)


@FUZZ
@given(
    source=st.sampled_from(SOURCES),
    body=st.binary(max_size=64),
    content_type=st.none() | st.text(max_size=40),
)
def test_arbitrary_content_types(source: str, body: bytes, content_type: str | None) -> None:
    outcome(source, body, content_type)


@FUZZ
@given(source=st.sampled_from(SOURCES), value=json_values)
def test_arbitrary_json_values(source: str, value: Any) -> None:
    outcome(source, json.dumps(value).encode())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(FIXTURES), data=st.data())
def test_fixtures_with_one_part_replaced(name: str, data: st.DataObject) -> None:
    document = json.loads((PAYLOADS / name).read_text())
    path = data.draw(st.sampled_from(paths(document)), label="path")
    new = data.draw(json_values, label="replacement")
    body = json.dumps(replaced(document, path, new), ensure_ascii=False).encode()
    outcome(name.split("/", 1)[0], body)


@FUZZ
@given(name=st.sampled_from(FIXTURES), cut=st.integers(min_value=0, max_value=4000))
def test_truncated_fixtures(name: str, cut: int) -> None:
    body = (PAYLOADS / name).read_bytes()
    outcome(name.split("/", 1)[0], body[: min(cut, len(body))])


@FUZZ
@given(service=st.text(max_size=30), title=st.text(max_size=60))
def test_generic_accepts_any_nonblank_text(service: str, title: str) -> None:
    body = json.dumps({"title": title, "service": service}).encode()
    result = outcome("generic", body)
    if service.strip() and title.strip():
        assert result == "accepted"
