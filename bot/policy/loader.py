"""load_policy: read, validate and cross-check the policy folder, or fail closed."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, time
from pathlib import Path, PurePath
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from bot.errors import PolicyError
from bot.evidence.templates import placeholders as query_placeholders
from bot.policy.documents import (
    BUILTIN_PLACEHOLDERS,
    INTERPRETERS,
    WEEKDAYS,
    ActionSpec,
    CaptureSource,
    CaptureSpec,
    ExecutorKind,
    ExecutorSpec,
    FreezeWindow,
    InverseSpec,
    OnCallSpec,
    PagingProvider,
    PagingSpec,
    Risk,
    RulesSpec,
    RunMode,
    ServiceSpec,
    Tier,
    VerifySpec,
)
from bot.policy.engine import Policy
from bot.policy.files import display_name, read_schemas, read_yaml, validate_document

POLICY_FILES = ("actions.yaml", "services.yaml", "rules.yaml")
_PLACEHOLDER = re.compile(r"^\{([a-z_][a-z0-9_]*)\}$")


def load_policy(policy_dir: Path) -> Policy:
    """Load and validate ``policy_dir``; raises PolicyError naming the file and path on failure."""
    if not policy_dir.is_dir():
        raise PolicyError(f"{display_name(policy_dir)}: policy folder not found")
    schemas, registry, schema_bytes = read_schemas(policy_dir / "schema")
    documents: dict[str, Any] = {}
    digest = hashlib.sha256()
    for filename in POLICY_FILES:
        path = policy_dir / filename
        document, raw = read_yaml(path)
        schema = schemas.get(filename.replace(".yaml", ".schema.json"))
        if schema is None:
            raise PolicyError(f"{display_name(path)}: no schema/{filename[:-5]}.schema.json")
        validate_document(document, schema, registry, path)
        documents[filename] = document
        digest.update(filename.encode() + b"\0" + raw + b"\0")
    digest.update(schema_bytes)
    actions = _build_actions(documents["actions.yaml"], policy_dir / "actions.yaml")
    services = _build_services(documents["services.yaml"], policy_dir / "services.yaml")
    rules = _build_rules(documents["rules.yaml"], policy_dir / "rules.yaml", actions)
    _check_inverses(documents["actions.yaml"], actions, policy_dir / "actions.yaml")
    _check_break_glass(rules, services, policy_dir)
    return Policy(revision=digest.hexdigest(), actions=actions, services=services, rules=rules)


def _fail(path: Path, where: str, message: str) -> PolicyError:
    return PolicyError(f"{display_name(path)}: {where}: {message}")


def _placeholders(template: Any) -> list[str]:
    if isinstance(template, str):
        match = _PLACEHOLDER.match(template)
        return [match.group(1)] if match else []
    if isinstance(template, dict):
        return [name for value in template.values() for name in _placeholders(value)]
    if isinstance(template, list):
        return [name for value in template for name in _placeholders(value)]
    return []


def _build_actions(document: dict[str, Any], path: Path) -> dict[str, ActionSpec]:
    defaults = document["defaults"]
    actions: dict[str, ActionSpec] = {}
    for name, raw in document["actions"].items():
        where = f"actions.{name}"
        schema = raw["params"]
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise _fail(
                path, f"{where}.params", f"not a valid JSON Schema: {exc.message}"
            ) from None
        executor = _build_executor(raw["executor"], defaults, schema, path, f"{where}.executor")
        actions[name] = ActionSpec(
            name=name,
            description=raw["description"],
            risk=Risk(raw["risk"]),
            read_only=raw["read_only"],
            auto=bool(raw.get("auto", False)),
            executor=executor,
            params_schema=schema,
            validator=_compile(schema, path, f"{where}.params"),
            verify=_build_verify(raw.get("verify"), schema, path, f"{where}.verify"),
            captures=tuple(
                _build_capture(item, defaults, schema, path, f"{where}.capture[{index}]")
                for index, item in enumerate(raw.get("capture", ()))
            ),
            inverse=(
                InverseSpec(action=raw["inverse"]["action"], params=dict(raw["inverse"]["params"]))
                if "inverse" in raw
                else None
            ),
        )
    return actions


def _build_capture(
    raw: dict[str, Any], defaults: dict[str, Any], schema: dict[str, Any], path: Path, where: str
) -> CaptureSpec:
    executor = _build_executor(raw["read"], defaults, schema, path, f"{where}.read")
    if executor.kind is ExecutorKind.DRY_RUN:
        raise _fail(path, f"{where}.read.type", "a pre-check must read something (not dry_run)")
    source = CaptureSource.JSON_PATH if "json_path" in raw else CaptureSource.REGEX
    rule = raw[source.value]
    if source is CaptureSource.REGEX:
        try:
            compiled = re.compile(rule)
        except re.error as exc:
            raise _fail(path, f"{where}.regex", f"not a regular expression: {exc}") from None
        if compiled.groups < 1:
            raise _fail(path, f"{where}.regex", "needs a group: the value is its first group")
    return CaptureSpec(
        name=raw["name"],
        executor=executor,
        source=source,
        rule=rule,
        as_type=raw.get("as", "string"),
    )


def _check_inverses(document: dict[str, Any], actions: dict[str, ActionSpec], path: Path) -> None:
    # An inverse names a known action and fills its templates only from what will exist then:
    # the original parameters, the built-ins and the captured names.
    for name, spec in actions.items():
        if spec.inverse is None:
            continue
        where = f"actions.{name}.inverse"
        if spec.inverse.action not in actions:
            raise _fail(path, f"{where}.action", f"{spec.inverse.action!r} is not an action")
        captured = [c.name for c in spec.captures]
        if len(set(captured)) != len(captured):
            raise _fail(path, f"actions.{name}.capture", "capture names must be distinct")
        known = set(spec.params_schema.get("properties", {})) | set(captured)
        for placeholder in _placeholders(spec.inverse.params):
            if placeholder not in known:
                raise _fail(
                    path,
                    f"{where}.params",
                    f"placeholder {{{placeholder}}} is neither a parameter nor a captured name",
                )


def _check_break_glass(
    rules: RulesSpec, services: dict[str, ServiceSpec], policy_dir: Path
) -> None:
    # A freeze that allows break-glass needs someone to give the extra approval (fail closed).
    if rules.break_glass_approvers:
        return
    if any(window.break_glass for window in rules.freeze):
        raise _fail(
            policy_dir / "rules.yaml",
            "break_glass_approvers",
            "required when a freeze allows break_glass",
        )
    for name, service in services.items():
        if any(window.break_glass for window in service.freeze):
            raise _fail(
                policy_dir / "services.yaml",
                f"services.{name}.freeze",
                "break_glass needs break_glass_approvers in rules.yaml",
            )


# How long a verify block watches when it does not say (within_seconds).
VERIFY_DEFAULT_SECONDS = 600.0


def _build_verify(
    raw: dict[str, Any] | None, schema: dict[str, Any], path: Path, where: str
) -> VerifySpec | None:
    if raw is None:
        return None
    expr = raw.get("expr", "")
    _check_query_placeholders(expr, schema, path, f"{where}.expr")
    return VerifySpec(
        within_seconds=float(raw.get("within_seconds", VERIFY_DEFAULT_SECONDS)),
        expr=expr,
        alerts_resolve=bool(raw.get("alerts_resolve", False)),
    )


def _check_query_placeholders(query: str, schema: dict[str, Any], path: Path, where: str) -> None:
    # A placeholder inside a query must always have a value: a required parameter or a built-in.
    required = set(schema.get("required", [])) | BUILTIN_PLACEHOLDERS
    for name in query_placeholders(query):
        if name not in required:
            raise _fail(path, where, f"placeholder {{{name}}} must be a required parameter")


def _compile(schema: dict[str, Any], path: Path, where: str) -> jsonschema_rs.Validator:
    # Parameters are checked on every decision, so they get the compiled validator.
    try:
        return jsonschema_rs.Draft202012Validator(schema, offline=True)
    except ValueError as exc:
        raise _fail(path, where, f"not a valid JSON Schema: {exc}") from None


def _build_executor(
    raw: dict[str, Any], defaults: dict[str, Any], schema: dict[str, Any], path: Path, where: str
) -> ExecutorSpec:
    declared = set(schema.get("properties", {})) | BUILTIN_PLACEHOLDERS
    required = set(schema.get("required", [])) | BUILTIN_PLACEHOLDERS
    for name in _placeholders(raw.get("body", {})):
        if name not in declared:
            raise _fail(path, f"{where}.body", f"placeholder {{{name}}} is not a parameter")
    argv = raw.get("argv", [])
    if argv and PurePath(argv[0]).name.lower() in INTERPRETERS:
        raise _fail(path, f"{where}.argv[0]", f"{argv[0]!r} is an interpreter; use a program")
    for index, name in enumerate(_placeholders(argv)):
        if name not in required:
            # An absent optional parameter would leave a hole in the argv.
            raise _fail(
                path,
                f"{where}.argv",
                f"placeholder {{{name}}} (#{index}) must be a required parameter",
            )
    _check_query_placeholders(raw.get("query", ""), schema, path, f"{where}.query")
    return ExecutorSpec(
        kind=ExecutorKind(raw["type"]),
        mode=RunMode(raw.get("mode", defaults["mode"])),
        timeout_seconds=_optional_float(
            raw.get("timeout_seconds", defaults.get("timeout_seconds"))
        ),
        argv=tuple(raw.get("argv", ())),
        url=raw.get("url", ""),
        method=raw.get("method", "POST"),
        body=dict(raw.get("body", {})),
        query=raw.get("query", ""),
        range_seconds=float(raw.get("range_seconds", 0)),
        step_seconds=float(raw.get("step_seconds", 0)),
    )


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _build_services(document: dict[str, Any], path: Path) -> dict[str, ServiceSpec]:
    services: dict[str, ServiceSpec] = {}
    for name, raw in document["services"].items():
        services[name] = ServiceSpec(
            name=name,
            tier=Tier(raw["tier"]),
            namespace=raw.get("namespace", name),
            owners=tuple(raw["owners"]),
            approvers=tuple(raw["approvers"]),
            deployments=frozenset(raw["deployments"]),
            freeze=_build_freezes(raw.get("freeze", []), path, f"services.{name}.freeze"),
            oncall=_build_oncall(raw.get("oncall", {})),
        )
    return services


def _build_oncall(raw: dict[str, Any]) -> OnCallSpec:
    paging = raw.get("paging")
    return OnCallSpec(
        commander=raw.get("commander"),
        escalation=tuple(raw.get("escalation", ())),
        responders=tuple(raw.get("responders", ())),
        paging=PagingSpec(
            provider=PagingProvider(paging["provider"]),
            key=paging["key"],
            responders=tuple(paging.get("responders", ())),
        )
        if paging
        else None,
    )


def _build_rules(document: dict[str, Any], path: Path, actions: dict[str, ActionSpec]) -> RulesSpec:
    categories: dict[str, frozenset[str]] = {}
    for category, raw in document["categories"].items():
        for index, action in enumerate(raw["actions"]):
            if action not in actions:
                where = f"categories.{category}.actions[{index}]"
                raise _fail(path, where, f"{action!r} is not an action in actions.yaml")
        categories[category] = frozenset(raw["actions"])
    approvals = {
        Tier(tier): {Risk(risk): int(count) for risk, count in by_risk.items()}
        for tier, by_risk in document["approvals"].items()
    }
    return RulesSpec(
        confidence_threshold=float(document["confidence_threshold"]),
        max_pending_actions=int(document["max_pending_actions"]),
        approvals=approvals,
        fallback_approvers=tuple(document["fallback_approvers"]),
        categories=categories,
        freeze=_build_freezes(document.get("freeze", []), path, "freeze"),
        break_glass_approvers=tuple(document.get("break_glass_approvers", ())),
        page_own_oncall=frozenset(
            document.get("paging", {}).get("own_oncall_without_approval", ())
        ),
    )


def _build_freezes(raw: list[dict[str, Any]], path: Path, where: str) -> tuple[FreezeWindow, ...]:
    return tuple(_build_freeze(item, path, f"{where}[{i}]") for i, item in enumerate(raw))


def _build_freeze(raw: dict[str, Any], path: Path, where: str) -> FreezeWindow:
    if "weekly" not in raw:
        start = _timestamp(raw["start"], path, f"{where}.start")
        end = _timestamp(raw["end"], path, f"{where}.end")
        if end <= start:
            raise _fail(path, f"{where}.end", "must be after start")
        return FreezeWindow(
            id=raw["id"],
            reason=raw["reason"],
            start=start,
            end=end,
            break_glass=bool(raw.get("break_glass", False)),
        )
    weekly = raw["weekly"]
    zone_name = weekly.get("timezone", "UTC")
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _fail(path, f"{where}.weekly.timezone", f"unknown time zone {zone_name!r}") from None
    opens = _minutes(weekly["start"])
    closes = _minutes(weekly["end"])
    # An end at or before the start means the window runs past midnight.
    length = closes - opens if closes > opens else closes + 24 * 60 - opens
    return FreezeWindow(
        id=raw["id"],
        reason=raw["reason"],
        days=frozenset(WEEKDAYS.index(day) for day in weekly["days"]),
        daily_start=time(opens // 60, opens % 60),
        daily_minutes=length,
        zone=zone,
        break_glass=bool(raw.get("break_glass", False)),
    )


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def _timestamp(text: str, path: Path, where: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _fail(path, where, f"{text!r} is not an RFC 3339 timestamp") from None
    if value.tzinfo is None:
        raise _fail(path, where, f"{text!r} needs a time zone offset")
    return value
