"""Runbook files: markdown with YAML front matter, validated against a JSON Schema on load."""

from __future__ import annotations

import hashlib
import json
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from pydantic import BaseModel, ConfigDict, Field

from bot.errors import ConfigError

log = logging.getLogger(__name__)

# The schema ships beside the runbooks, at the project root (two levels above this package).
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "runbooks" / "schema" / "runbook.schema.json"
_FENCE = "---"
_SKIPPED_NAMES = frozenset({"readme.md"})


class Runbook(BaseModel):
    """One runbook: its validated front matter, its markdown body, and where it came from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    title: str
    services: list[str]
    categories: list[str]
    actions: list[str]
    alerts: list[str] = Field(default_factory=list)
    version: str
    owner: str
    body: str
    path: str = ""
    sha256: str = ""


@lru_cache(maxsize=4)
def _validator(schema_path: Path) -> Draft202012Validator:
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _json_path(error: ValidationError) -> str:
    parts = ""
    for item in error.absolute_path:
        parts += f"[{item}]" if isinstance(item, int) else f".{item}"
    return parts.lstrip(".") or "(root)"


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Split ``---``-fenced YAML front matter from the markdown body; ValueError if malformed."""
    lines = text.lstrip("\ufeff").splitlines(keepends=True)
    if not lines or lines[0].strip() != _FENCE:
        raise ValueError("file must start with '---' and YAML front matter")
    for index, line in enumerate(lines[1:], start=1):
        if line.strip() == _FENCE:
            header = "".join(lines[1:index])
            body = "".join(lines[index + 1 :])
            break
    else:
        raise ValueError("front matter is not closed by a '---' line")
    try:
        data = yaml.safe_load(header)
    except yaml.YAMLError as exc:
        raise ValueError(f"invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("front matter must be a YAML mapping")
    return data, body


def _runbook_problems(display: str, text: str, validator: Draft202012Validator) -> list[str]:
    try:
        data, body = split_front_matter(text)
    except ValueError as exc:
        return [f"{display}: front matter: {exc}"]
    problems = [
        f"{display}: front matter: {_json_path(err)}: {err.message}"
        for err in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    ]
    if not body.strip():
        problems.append(f"{display}: body: runbook has no content")
    return problems


def _parse(display: str, text: str) -> Runbook:
    data, body = split_front_matter(text)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Runbook(**data, body=body, path=display, sha256=digest)


def _runbook_files(runbook_dir: Path) -> list[Path]:
    if not runbook_dir.is_dir():
        raise ConfigError(f"RUNBOOK_DIR: {runbook_dir} is not a directory")
    return sorted(p for p in runbook_dir.glob("*.md") if p.name.lower() not in _SKIPPED_NAMES)


def _display(path: Path, runbook_dir: Path) -> str:
    return f"{runbook_dir.name}/{path.relative_to(runbook_dir).as_posix()}"


def check_runbooks(
    runbook_dir: Path, schema_path: Path = SCHEMA_PATH
) -> tuple[list[Runbook], list[str]]:
    """Parse every runbook; return the valid ones and one message per problem (file + field)."""
    validator = _validator(schema_path)
    runbooks: list[Runbook] = []
    problems: list[str] = []
    seen: dict[str, str] = {}
    for path in _runbook_files(runbook_dir):
        display = _display(path, runbook_dir)
        text = path.read_text(encoding="utf-8")
        found = _runbook_problems(display, text, validator)
        if found:
            problems.extend(found)
            continue
        runbook = _parse(display, text)
        if runbook.id in seen:
            problems.append(
                f"{display}: front matter: id: '{runbook.id}' also used by {seen[runbook.id]}"
            )
            continue
        seen[runbook.id] = display
        runbooks.append(runbook)
    return runbooks, problems


def load_runbooks(runbook_dir: Path, schema_path: Path = SCHEMA_PATH) -> list[Runbook]:
    """Load and validate all runbooks; raise ConfigError naming each bad file and field."""
    runbooks, problems = check_runbooks(runbook_dir, schema_path)
    if problems:
        raise ConfigError("invalid runbooks:\n  " + "\n  ".join(problems))
    if not runbooks:
        log.warning("no runbooks found in %s", runbook_dir)
    return runbooks


def corpus_hash(runbooks: list[Runbook], *extra: str) -> str:
    """A digest of every runbook's content plus ``extra`` tags; changes when anything does."""
    digest = hashlib.sha256()
    for runbook in sorted(runbooks, key=lambda r: r.id):
        digest.update(f"{runbook.id}\0{runbook.path}\0{runbook.sha256}\n".encode())
    for tag in extra:
        digest.update(f"{tag}\n".encode())
    return digest.hexdigest()
