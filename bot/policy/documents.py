"""Typed, immutable views of the three policy files, built after schema validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from jsonschema_rs import Validator


class Risk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Tier(StrEnum):
    CRITICAL = "critical"
    STANDARD = "standard"


class ExecutorKind(StrEnum):
    DRY_RUN = "dry_run"
    HTTP = "http"
    COMMAND = "command"
    # Read-only: an instant or range query against the configured Prometheus.
    PROMETHEUS_QUERY = "prometheus_query"
    # Pages a service's on-call through its paging provider (services.yaml ``oncall.paging``).
    PAGE = "page"


class RunMode(StrEnum):
    DRY_RUN = "dry_run"
    LIVE = "live"


# Template names every action may use besides its own parameters.
BUILTIN_PLACEHOLDERS = frozenset({"service", "namespace"})

# The parameter whose value must be one of the target service's own deployments.
DEPLOYMENT_PARAM = "deployment"

# Programs that would interpret an argument as code; a command template may never start one.
INTERPRETERS = frozenset(
    {
        "sh",
        "bash",
        "dash",
        "zsh",
        "ksh",
        "csh",
        "tcsh",
        "fish",
        "ash",
        "busybox",
        "env",
        "xargs",
        "cmd",
        "cmd.exe",
        "powershell",
        "pwsh",
        "python",
        "python3",
        "perl",
        "ruby",
        "node",
        "sudo",
    }
)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class ExecutorSpec:
    """How an action runs: which executor, in which mode, with which template."""

    kind: ExecutorKind
    mode: RunMode
    timeout_seconds: float | None = None  # None: the executor's configured default
    argv: tuple[str, ...] = ()
    url: str = ""
    method: str = "POST"
    body: dict[str, Any] = field(default_factory=dict)
    # prometheus_query: the PromQL template; a range query over this many seconds (0: instant)
    query: str = ""
    range_seconds: float = 0.0
    step_seconds: float = 0.0


@dataclass(frozen=True)
class VerifySpec:
    """How to tell that an action worked: an expression that must hold, or the incident's
    alerts resolving, within ``within_seconds`` of its success."""

    within_seconds: float
    expr: str = ""
    alerts_resolve: bool = False


class CaptureSource(StrEnum):
    """Where a captured value is read from in a pre-check's output."""

    JSON_PATH = "json_path"
    REGEX = "regex"


@dataclass(frozen=True)
class CaptureSpec:
    """One value read before an action changes anything, so the change can be undone: a
    read-only pre-check (its own executor template) and the rule that picks the value out of
    its output (a dotted JSON path, or a regex's first group), converted to ``as_type``."""

    name: str
    executor: ExecutorSpec
    source: CaptureSource
    rule: str
    as_type: str = "string"  # string | integer | number | boolean


@dataclass(frozen=True)
class InverseSpec:
    """The action that undoes this one, and its parameters: whole-value ``{name}`` templates
    over the original parameters and the captured values."""

    action: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ActionSpec:
    """One allowlisted action."""

    name: str
    description: str
    risk: Risk
    read_only: bool
    auto: bool
    executor: ExecutorSpec
    params_schema: dict[str, Any]
    validator: Validator = field(compare=False, repr=False)
    verify: VerifySpec | None = None
    captures: tuple[CaptureSpec, ...] = ()
    inverse: InverseSpec | None = None


@dataclass(frozen=True)
class FreezeWindow:
    """A change freeze: one absolute period, or a weekly recurring one in a time zone."""

    id: str
    reason: str
    start: datetime | None = None
    end: datetime | None = None
    days: frozenset[int] = frozenset()
    daily_start: time | None = None
    daily_minutes: int = 0
    zone: ZoneInfo | None = None
    # A written justification and one more approval, from the break-glass group, let a
    # state-changing action through this freeze (rules.yaml ``break_glass``).
    break_glass: bool = False

    def active(self, now: datetime) -> bool:
        """True when ``now`` (timezone-aware) falls inside the window."""
        if self.start is not None and self.end is not None:
            return self.start <= now < self.end
        if self.daily_start is None or self.zone is None:
            return False
        local = now.astimezone(self.zone)
        # Check today's and yesterday's occurrence so windows crossing midnight still match.
        for back in (0, 1):
            day = local.date() - timedelta(days=back)
            if day.weekday() not in self.days:
                continue
            opens = datetime.combine(day, self.daily_start, tzinfo=self.zone)
            if opens <= local < opens + timedelta(minutes=self.daily_minutes):
                return True
        return False


class PagingProvider(StrEnum):
    PAGERDUTY = "pagerduty"
    OPSGENIE = "opsgenie"


@dataclass(frozen=True)
class PagingSpec:
    """How to reach a service's on-call: the provider and the name under which the
    ``PAGING_KEYS`` setting holds its key; never the key itself."""

    provider: PagingProvider
    key: str
    # Opsgenie responders (team names); PagerDuty routes by the routing key alone.
    responders: tuple[str, ...] = ()


@dataclass(frozen=True)
class OnCallSpec:
    """Who answers for a service: the commander of its alert-born incidents, whom escalation
    reaches after the commander, who joins a new incident channel, and how it is paged."""

    commander: str | None = None
    escalation: tuple[str, ...] = ()
    responders: tuple[str, ...] = ()
    paging: PagingSpec | None = None


@dataclass(frozen=True)
class ServiceSpec:
    """One known service."""

    name: str
    tier: Tier
    namespace: str
    owners: tuple[str, ...]
    approvers: tuple[str, ...]
    deployments: frozenset[str]
    freeze: tuple[FreezeWindow, ...] = ()
    oncall: OnCallSpec = field(default_factory=OnCallSpec)


@dataclass(frozen=True)
class RulesSpec:
    """Category allowlists, approval counts, limits and global freezes."""

    confidence_threshold: float
    max_pending_actions: int
    approvals: dict[Tier, dict[Risk, int]]
    fallback_approvers: tuple[str, ...]
    categories: dict[str, frozenset[str]]
    freeze: tuple[FreezeWindow, ...] = ()
    # Severities at which paging a service's own on-call needs no approval (rules.yaml
    # ``paging.own_oncall_without_approval``).
    page_own_oncall: frozenset[str] = frozenset()
    # Who gives the extra approval a break-glass request needs (rules.yaml).
    break_glass_approvers: tuple[str, ...] = ()
