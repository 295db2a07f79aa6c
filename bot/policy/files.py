"""Reading policy files: strict YAML, JSON Schema validation, error messages with paths."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from bot.errors import PolicyError

MAX_ERRORS_SHOWN = 5


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, which plain YAML silently overwrites."""


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _mapping_without_duplicates,
)


def display_name(path: Path) -> str:
    """The path as people should read it in an error: relative to the cwd when possible."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def format_path(parts: Iterable[str | int]) -> str:
    """``actions.restart_deployment.risk`` / ``categories.latency.actions[2]``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def read_yaml(path: Path) -> tuple[Any, bytes]:
    """Parse one policy YAML file; PolicyError naming the file and line on any problem."""
    name = display_name(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"{name}: cannot read: {exc.strerror or exc}") from None
    try:
        document = yaml.load(raw, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError(f"{name}: {where}invalid YAML: {problem}") from None
    return document, raw


def read_schemas(schema_dir: Path) -> tuple[dict[str, dict[str, Any]], Registry[Any], bytes]:
    """Load every ``*.schema.json`` in ``schema_dir``; returns (by file name, registry, bytes)."""
    schemas: dict[str, dict[str, Any]] = {}
    resources: list[tuple[str, Resource[Any]]] = []
    raw_all = b""
    paths = sorted(schema_dir.glob("*.schema.json"))
    if not paths:
        raise PolicyError(f"{display_name(schema_dir)}: no *.schema.json files found")
    for path in paths:
        try:
            raw = path.read_bytes()
            schema = json.loads(raw)
            Draft202012Validator.check_schema(schema)
        except (OSError, ValueError) as exc:
            raise PolicyError(f"{display_name(path)}: invalid schema file: {exc}") from None
        except Exception as exc:  # jsonschema's SchemaError carries the detail
            raise PolicyError(f"{display_name(path)}: invalid JSON Schema: {exc}") from None
        schemas[path.name] = schema
        raw_all += path.name.encode() + b"\0" + raw + b"\0"
        resource = Resource.from_contents(schema, default_specification=DRAFT202012)
        resources.append((str(schema.get("$id", path.name)), resource))
    return schemas, Registry().with_resources(resources), raw_all


def _describe(error: ValidationError) -> str:
    # oneOf/anyOf failures say little on their own; the closest branch's error says more.
    while error.context:
        deeper = best_match(error.context)
        if deeper is None:
            break
        error = deeper
    return f"{format_path(error.absolute_path)}: {error.message}"


def validate_document(
    document: Any, schema: dict[str, Any], registry: Registry[Any], path: Path
) -> None:
    """Raise PolicyError listing where ``document`` breaks ``schema``."""
    validator = Draft202012Validator(schema, registry=registry)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.path)))
    if not errors:
        return
    name = display_name(path)
    lines = [f"{name}: {_describe(error)}" for error in errors[:MAX_ERRORS_SHOWN]]
    if len(errors) > MAX_ERRORS_SHOWN:
        lines.append(f"{name}: ... and {len(errors) - MAX_ERRORS_SHOWN} more problems")
    raise PolicyError("\n".join(lines))
