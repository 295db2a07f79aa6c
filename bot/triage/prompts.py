"""Prompt assembly from template files: partials, variables, delimiters and the reply schema.

Templates live in PROMPT_DIR (``triage.system.md``, ``triage.user.md``, ``partials/*.md``,
``triage.schema.json`` and ``VERSION``). ``{{> name}}`` includes ``partials/name.md``;
``{{name}}`` is a variable. Alert text is untrusted: it is redacted, Unicode-normalised and
stripped of anything that looks like our delimiters before it goes between them.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.errors import ConfigError
from bot.models import Alert, Category, Incident, RunbookChunk
from bot.ports import ChatMessage
from bot.redaction import Redactor
from bot.triage.context import TriageContext

_PARTIAL = re.compile(r"\{\{>\s*([A-Za-z0-9_-]+)\s*\}\}")
_VARIABLE = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")
VARIABLES = frozenset(
    {
        "incident_id",
        "allowed_actions",
        "allowed_services",
        "incident_json",
        "alerts_json",
        "runbooks",
        "errors",
    }
)
_ANGLES = re.compile(r"<{2,}|>{2,}")
_DELIMITER_WORDS = re.compile(
    r"(?i)\b(begin|end)[\s_-]*+(untrusted[\s_-]*+alert[\s_-]*+data|runbook[\s_-]*+context)"
)
# Bounds on what one triage sends: enough context, no runaway prompts.
TEXT_LIMIT = 2000
RUNBOOK_TEXT_LIMIT = 3000


def neutralise(text: str) -> str:
    """Make untrusted text unable to open or close our delimited blocks."""
    text = unicodedata.normalize("NFKC", text)
    text = _ANGLES.sub(lambda m: ("‹" if m.group(0)[0] == "<" else "›") * len(m.group(0)), text)
    return _DELIMITER_WORDS.sub("[delimiter removed]", text)


def _expand(text: str, partials: Path, depth: int = 0) -> str:
    if depth > 5:
        raise ConfigError(f"PROMPT_DIR: partials nested too deeply in {partials}")

    def include(match: re.Match[str]) -> str:
        path = partials / f"{match.group(1)}.md"
        try:
            body = path.read_text(encoding="utf-8").rstrip("\n")
        except OSError as exc:
            raise ConfigError(f"PROMPT_DIR: missing partial {path}: {exc}") from None
        return _expand(body, partials, depth + 1)

    return _PARTIAL.sub(include, text)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"PROMPT_DIR: cannot read {path}: {exc}") from None


@dataclass(frozen=True)
class PromptSet:
    """The loaded triage prompt: expanded templates, reply schema, version and hash."""

    version: str
    hash: str
    system: str
    user: str
    retry: str
    schema: dict[str, Any]

    @classmethod
    def load(cls, prompt_dir: Path) -> PromptSet:
        """Read, expand and check the prompt files; problems raise ConfigError."""
        partials = prompt_dir / "partials"
        system = _expand(_read(prompt_dir / "triage.system.md"), partials)
        user = _expand(_read(prompt_dir / "triage.user.md"), partials)
        retry = _expand(_read(prompt_dir / "triage.retry.md"), partials)
        schema_text = _read(prompt_dir / "triage.schema.json")
        version = _read(prompt_dir / "VERSION").strip()
        try:
            schema = json.loads(schema_text)
            categories = schema["properties"]["category"]["enum"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"PROMPT_DIR: bad triage.schema.json: {exc}") from None
        if sorted(categories) != sorted(c.value for c in Category):
            raise ConfigError("PROMPT_DIR: triage.schema.json category enum differs from Category")
        for name in set(_VARIABLE.findall(system + user + retry)) - VARIABLES:
            raise ConfigError(f"PROMPT_DIR: unknown template variable {{{{{name}}}}}")
        digest = hashlib.sha256()
        for part in (version, system, user, retry, schema_text):
            digest.update(part.encode("utf-8"))
            digest.update(b"\0")
        return cls(version, digest.hexdigest(), system, user, retry, schema)

    def reply_schema(
        self, allowed_actions: list[str], allowed_services: list[str]
    ) -> dict[str, Any]:
        """The JSON Schema with the action and service enums filled for this triage."""
        schema = copy.deepcopy(self.schema)
        proposals = schema["properties"]["proposals"]
        actions = sorted(set(allowed_actions))
        if not actions or not allowed_services:
            # Nothing may be proposed: an always-empty list keeps the schema valid everywhere.
            schema["properties"]["proposals"] = {
                "type": "array",
                "maxItems": 0,
                "items": {"type": "string"},
            }
            return schema
        item = proposals["items"]["properties"]
        item["action"]["enum"] = actions
        item["service"]["enum"] = list(dict.fromkeys(allowed_services))
        return schema

    def wire_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        """The schema as sent in ``response_format``: annotations stripped."""
        return {k: v for k, v in schema.items() if k not in {"$schema", "$id", "$comment", "title"}}

    def messages(self, ctx: TriageContext, redactor: Redactor) -> list[ChatMessage]:
        """Render the system and user messages for one triage, redacted and delimited."""
        values = {
            "incident_id": ctx.incident.id,
            "allowed_actions": ", ".join(sorted(set(ctx.allowed_actions))) or "(none)",
            "allowed_services": ", ".join(ctx.allowed_services),
            "incident_json": _dump(redactor.redact_obj(_incident_data(ctx.incident, redactor))),
            "alerts_json": _dump(
                redactor.redact_obj([_alert_data(a, redactor) for a in ctx.alerts])
            ),
            "runbooks": "\n\n".join(_runbook_text(c, redactor) for c in ctx.runbooks) or "(none)",
        }
        user = _VARIABLE.sub(lambda m: values[m.group(1)], self.user)
        return [
            ChatMessage("system", self.system),
            ChatMessage("user", redactor.redact(user)),
        ]


def _dump(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True)


def _clean(value: str, limit: int = TEXT_LIMIT) -> str:
    return neutralise(value[: limit * 2])[:limit]


def _incident_data(incident: Incident, redactor: Redactor) -> dict[str, Any]:
    r = redactor.redact  # before _clean clips: a cut secret no longer matches its rule
    return {
        "incident": {
            "title": _clean(r(incident.title)),
            "service": _clean(r(incident.service)),
            "severity": incident.severity.value,
            "alert_count": incident.alert_count,
            # Series summaries and failed checks, newest last (untrusted text: cleaned too).
            "evidence": [_clean(r(note.text), 500) for note in incident.evidence[-3:]],
        }
    }


def _alert_data(alert: Alert, redactor: Redactor) -> dict[str, Any]:
    r, rv = redactor.redact, redactor.redact_value  # before _clean clips
    labels = list(alert.labels.items())[:40]
    annotations = list(alert.annotations.items())[:20]
    return {
        "source": _clean(r(alert.source)),
        "status": alert.status.value,
        "service": _clean(r(alert.service)),
        "title": _clean(r(alert.title)),
        "description": _clean(r(alert.description)),
        "severity_hint": alert.severity_hint.value if alert.severity_hint else None,
        "labels": {_clean(r(k), 200): _clean(rv(k, v), 500) for k, v in labels},
        "annotations": {_clean(r(k), 200): _clean(rv(k, v)) for k, v in annotations},
        "starts_at": alert.starts_at.isoformat() if alert.starts_at else None,
    }


def _runbook_text(chunk: RunbookChunk, redactor: Redactor) -> str:
    header = f"[id: {chunk.chunk_id}] runbook {chunk.runbook_id} {chunk.version}: {chunk.title}"
    if chunk.section:
        header += f" / {chunk.section}"
    return f"{neutralise(header)}\n{_clean(redactor.redact(chunk.text), RUNBOOK_TEXT_LIMIT)}"


def feedback(prompts: PromptSet, errors: list[str], redactor: Redactor) -> ChatMessage:
    """The follow-up message that feeds validation errors back to the model."""
    listed = "\n".join(f"- {error}" for error in errors)
    text = _VARIABLE.sub(lambda m: listed if m.group(1) == "errors" else "", prompts.retry)
    return ChatMessage("user", redactor.redact(text))
