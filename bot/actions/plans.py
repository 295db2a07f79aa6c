"""Rendering an approved action into exactly what will run: an argv or an HTTP request."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from bot.errors import ActionError
from bot.policy.documents import INTERPRETERS, ActionSpec, ExecutorKind, RunMode

_PLACEHOLDER = re.compile(r"^\{([a-z_][a-z0-9_]*)\}$")
# Control characters (newlines, NUL, escapes) never belong in an argument.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_ARG_CHARS = 512
_ABSENT = object()


@dataclass(frozen=True)
class ExecutionPlan:
    """What one execution will do, fully rendered; dry runs record exactly this."""

    request_id: str
    action: str
    kind: ExecutorKind
    mode: RunMode
    timeout_seconds: float | None = None
    argv: tuple[str, ...] = ()
    template: tuple[str, ...] = ()
    method: str = ""
    url: str = ""
    body: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description for results, timelines and dry runs."""
        if self.kind is ExecutorKind.COMMAND:
            return {"executor": "command", "argv": list(self.argv)}
        if self.kind is ExecutorKind.HTTP:
            return {"executor": "http", "method": self.method, "url": self.url, "body": self.body}
        return {"executor": "dry_run", "action": self.action}


def render_plan(
    spec: ActionSpec, params: dict[str, Any], *, request_id: str, service: str, namespace: str
) -> ExecutionPlan:
    """Substitute validated parameters into the action's template (whole values only)."""
    values = {**params, "service": service, "namespace": namespace}
    executor = spec.executor
    argv: tuple[str, ...] = ()
    body: dict[str, Any] = {}
    if executor.kind is ExecutorKind.COMMAND:
        argv = tuple(_render_arg(element, values) for element in executor.argv)
        check_argv(argv, executor.argv)
    elif executor.kind is ExecutorKind.HTTP:
        body = _render_body(executor.body, values)
    return ExecutionPlan(
        request_id=request_id,
        action=spec.name,
        kind=executor.kind,
        mode=executor.mode,
        timeout_seconds=executor.timeout_seconds,
        argv=argv,
        template=executor.argv,
        method=executor.method,
        url=executor.url,
        body=body,
    )


def _render_arg(element: str, values: dict[str, Any]) -> str:
    match = _PLACEHOLDER.match(element)
    if match is None:
        return element
    name = match.group(1)
    if name not in values:
        raise ActionError(f"argv placeholder {{{name}}} has no value")
    return safe_argument(name, values[name])


def safe_argument(name: str, value: Any) -> str:
    """One argv element from one parameter; refuses anything a program could misread."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        raise ActionError(f"parameter {name}: {type(value).__name__} cannot be an argument")
    if not text or len(text) > MAX_ARG_CHARS:
        raise ActionError(f"parameter {name}: empty or longer than {MAX_ARG_CHARS} characters")
    if text.startswith("-"):
        raise ActionError(f"parameter {name}: may not start with '-' (it would read as a flag)")
    if _CONTROL.search(text):
        raise ActionError(f"parameter {name}: contains control characters")
    return text


def check_argv(argv: tuple[str, ...], template: tuple[str, ...]) -> None:
    """Refuse an argv that is not its template's shape or that starts an interpreter."""
    if not argv or len(argv) != len(template):
        raise ActionError("argv does not match its template")
    for rendered, element in zip(argv, template, strict=True):
        match = _PLACEHOLDER.match(element)
        if match is None and rendered != element:
            raise ActionError(f"argv element {rendered!r} differs from the template")
        if match is not None:
            safe_argument(match.group(1), rendered)
    if _PLACEHOLDER.match(template[0]) is not None:
        raise ActionError("the program of a command must be literal")
    if PurePath(argv[0]).name.lower() in INTERPRETERS:
        raise ActionError(f"{argv[0]!r} is an interpreter; commands never run through one")


def _render_body(template: Any, values: dict[str, Any]) -> Any:
    if isinstance(template, str):
        match = _PLACEHOLDER.match(template)
        return values.get(match.group(1), _ABSENT) if match else template
    if isinstance(template, dict):
        rendered = {key: _render_body(value, values) for key, value in template.items()}
        return {key: value for key, value in rendered.items() if value is not _ABSENT}
    if isinstance(template, list):
        return [item for item in (_render_body(v, values) for v in template) if item is not _ABSENT]
    return template
