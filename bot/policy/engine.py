"""The policy engine: a pure evaluate(proposal, context) -> Decision with a reason trace."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from bot.models import (
    BOT_ACTOR,
    Approval,
    BreakGlass,
    Category,
    Decision,
    DecisionOutcome,
    Effect,
    Proposal,
    RuleHit,
    Severity,
)
from bot.policy.approvers import tally
from bot.policy.documents import (
    DEPLOYMENT_PARAM,
    ActionSpec,
    ExecutorKind,
    FreezeWindow,
    RulesSpec,
    ServiceSpec,
    Tier,
)
from bot.policy.params import schema_problem, shape_problem, show
from bot.service_names import canonical_service

HUMAN_ONLY_ACTIONS = frozenset({"notify_oncall"})
MAX_ACTION_CHARS = 64
MAX_SERVICE_CHARS = 200
SERVICE_CACHE_SIZE = 4096

DENY = Effect.DENY
REQUIRE = Effect.REQUIRE_APPROVAL
ALLOW = Effect.ALLOW
CRITICAL = Effect.CRITICAL
DENIED = DecisionOutcome.DENY
INFO = Effect.INFO


@dataclass(frozen=True)
class EvaluationContext:
    """Everything besides the proposal that a decision depends on; ``now`` is passed in."""

    category: Category
    severity: Severity
    confidence: float
    now: datetime
    requester: str = BOT_ACTOR
    pending_actions: int = 0
    approvals: tuple[Approval, ...] = ()
    group_members: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # Flags of the service name the incident's alert carried: the proposal names the canonical
    # service, so without these a look-alike alert would be judged as the real service.
    service_flags: tuple[str, ...] = ()
    # A recorded break-glass (who, why): a freeze that allows it then asks for one more
    # approval, from the break-glass group, instead of denying.
    break_glass: BreakGlass | None = None


@dataclass(frozen=True)
class Target:
    """The service a proposal names, as policy understands it."""

    raw: str
    name: str
    spec: ServiceSpec | None
    flags: tuple[str, ...] = ()

    @property
    def critical(self) -> bool:
        """Unknown, suspicious and critical-tier services are all treated as critical."""
        return self.spec is None or bool(self.flags) or self.spec.tier is Tier.CRITICAL


class _Trace:
    def __init__(self) -> None:
        self.hits: list[RuleHit] = []
        self.effects: set[Effect] = set()
        # Denials a break-glass would lift, and freezes a recorded break-glass did lift.
        self.glassable = 0
        self.broken: list[str] = []

    def add(self, rule_id: str, effect: Effect, reason: str) -> None:
        self.hits.append(RuleHit(rule_id=rule_id, effect=effect, reason=reason))
        self.effects.add(effect)

    def fired(self, effect: Effect) -> bool:
        return effect in self.effects


class Policy:
    """A loaded, validated policy folder; build it with ``load_policy``."""

    def __init__(
        self,
        *,
        revision: str,
        actions: dict[str, ActionSpec],
        services: dict[str, ServiceSpec],
        rules: RulesSpec,
    ) -> None:
        self.revision = revision
        self.actions = actions
        self.services = services
        self.rules = rules
        # A handful of service names recur in every alert; names are bounded in length above.
        self._resolve = lru_cache(maxsize=SERVICE_CACHE_SIZE)(self._resolve_uncached)

    def action_names(self) -> list[str]:
        """The allowlist, sorted: the enum the LLM's proposal schema offers."""
        return sorted(self.actions)

    def resolve_service(self, name: object) -> Target:
        """Canonicalise a service name and look it up; look-alikes never match a known entry."""
        if not isinstance(name, str) or len(name) > MAX_SERVICE_CHARS:
            return Target(raw="", name="", spec=None, flags=("invalid",))
        return self._resolve(name)

    def _resolve_uncached(self, name: str) -> Target:
        canonical, flags = canonical_service(name)
        spec = self.services.get(canonical)
        return Target(raw=name, name=canonical, spec=spec, flags=tuple(flags))

    def eligible_approvers(self, service: object, *, break_glass: bool = False) -> list[str]:
        """Slack user and group ids that may approve actions on ``service`` (with the
        break-glass group when the request broke the glass of a freeze)."""
        listed = list(self._approvers(self.resolve_service(service)))
        if break_glass:
            listed += [a for a in self.rules.break_glass_approvers if a not in listed]
        return listed

    def approvals_required(self, action: str, service: object) -> int:
        """Distinct approvals an action on a service needs (by tier and risk)."""
        spec = self.actions.get(action)
        if spec is None:
            return 0
        tier = Tier.CRITICAL if self.resolve_service(service).critical else Tier.STANDARD
        return self.rules.approvals[tier][spec.risk]

    def evaluate(self, proposal: Proposal, context: EvaluationContext) -> Decision:
        """Judge a proposal: deny, require_approval or allow, with every rule that fired."""
        trace = _Trace()
        spec = self._check_action(proposal.action, trace)
        target = self._check_service(proposal.service, trace)
        target = self._check_incident_flags(target, context.service_flags, trace)
        if spec is not None:
            self._check_category(context.category, spec, trace)
            self._check_params(spec, proposal.params, target, trace)
        self._check_pending(context.pending_actions, trace)
        # A confidence that is not a number is garbage in the context: judge it the usual way.
        sane = _number(context.confidence) is not None
        if sane and self._own_oncall_page(spec, proposal, target, context.severity, trace):
            required = 0
        else:
            self._check_freezes(spec, target, _aware(context.now), trace, context.break_glass)
            self._check_confidence(context.confidence, trace)
            required = self._check_approval_need(spec, target, trace)
        if trace.broken:
            required += 1
        outcome = self._conclude(trace, context, target, required)
        denials = sum(1 for hit in trace.hits if hit.effect is DENY)
        return Decision(
            outcome=outcome,
            action=proposal.action[:MAX_ACTION_CHARS] if isinstance(proposal.action, str) else "",
            service=target.name[:MAX_SERVICE_CHARS],
            approvals_required=required if trace.fired(REQUIRE) and outcome is not DENIED else 0,
            eligible_approvers=self.eligible_approvers(
                proposal.service, break_glass=bool(trace.broken)
            ),
            reasons=trace.hits,
            policy_revision=self.revision,
            decided_at=context.now,
            break_glass_possible=outcome is DENIED and denials == trace.glassable > 0,
        )

    def _approvers(self, target: Target) -> tuple[str, ...]:
        return target.spec.approvers if target.spec is not None else self.rules.fallback_approvers

    def _check_action(self, action: object, trace: _Trace) -> ActionSpec | None:
        spec = self.actions.get(action) if isinstance(action, str) else None
        if spec is None:
            trace.add("action.unknown", DENY, f"action {show(action)} is not in the allowlist")
        return spec

    def _check_service(self, service: object, trace: _Trace) -> Target:
        target = self.resolve_service(service)
        if "invalid" in target.flags:
            trace.add("service.invalid", DENY, f"service name {show(service)} is not usable")
            return target
        if target.flags:
            flags = ", ".join(target.flags)
            trace.add(
                "service.suspicious",
                CRITICAL,
                f"service name {show(service)} is suspicious ({flags}): treated as critical",
            )
            if target.spec is None:
                trace.add(
                    "service.lookalike",
                    DENY,
                    f"canonical name {show(target.name)} is not exactly a known service",
                )
        elif target.spec is None:
            trace.add(
                "service.unknown",
                CRITICAL,
                f"service {show(target.name)} is not in services.yaml: treated as critical",
            )
        if target.spec is not None and target.spec.tier is Tier.CRITICAL:
            trace.add("service.tier_critical", CRITICAL, f"{target.name} is a critical service")
        return target

    def _check_incident_flags(self, target: Target, flags: object, trace: _Trace) -> Target:
        if not flags or "invalid" in target.flags:
            return target
        listed = [str(flag) for flag in flags] if isinstance(flags, tuple | list) else ["invalid"]
        trace.add(
            "service.lookalike_incident",
            CRITICAL,
            f"the incident's alert named the service suspiciously ({show(', '.join(listed))}): "
            "treated as critical",
        )
        return replace(target, flags=tuple(sorted({*target.flags, *listed})))

    def _check_category(self, category: object, spec: ActionSpec, trace: _Trace) -> None:
        try:
            known = category if isinstance(category, Category) else Category(str(category))
        except ValueError:
            trace.add("category.invalid", DENY, f"category {show(category)} is not known")
            return
        if known is Category.SECURITY and spec.name not in HUMAN_ONLY_ACTIONS:
            trace.add(
                "category.security", DENY, "security incidents get no automated action: humans only"
            )
        elif known is Category.UNKNOWN and spec.name not in HUMAN_ONLY_ACTIONS:
            trace.add("category.unknown", DENY, "unclassified incidents are notify-only")
        elif spec.name not in self.rules.categories.get(known.value, frozenset()):
            trace.add(
                "category.action_not_allowed",
                DENY,
                f"{spec.name} is not allowed for {known.value} incidents",
            )

    def _check_params(self, spec: ActionSpec, params: Any, target: Target, trace: _Trace) -> None:
        problem = shape_problem(params)
        if problem is None:
            problem = schema_problem(spec.validator, params)
        if problem is not None:
            trace.add("params.invalid", DENY, f"{spec.name} parameters rejected: {problem}")
            return
        deployment = params.get(DEPLOYMENT_PARAM)
        if deployment is None:
            return
        if target.spec is None:
            trace.add(
                "params.deployment_not_owned",
                DENY,
                f"deployment {show(deployment)} cannot be checked for an unknown service",
            )
        elif deployment not in target.spec.deployments:
            trace.add(
                "params.deployment_not_owned",
                DENY,
                f"deployment {show(deployment)} is not one of {target.name}'s deployments",
            )

    def _own_oncall_page(
        self,
        spec: ActionSpec | None,
        proposal: Proposal,
        target: Target,
        severity: object,
        trace: _Trace,
    ) -> bool:
        """A page to the incident service's own on-call at a listed severity needs nobody's
        approval (it changes nothing in production); a page to another team is judged as
        usual, and only to a team that is a known service."""
        if spec is None or spec.executor.kind is not ExecutorKind.PAGE or trace.fired(DENY):
            return False
        params = proposal.params if isinstance(proposal.params, dict) else {}
        team = params.get("team")
        if team is not None and team != target.name:
            if team not in self.services:
                trace.add("page.unknown_team", DENY, f"team {show(team)} is not a known service")
            else:
                trace.add("page.other_team", REQUIRE, f"paging {show(team)}'s on-call")
            return False
        level = str(getattr(severity, "value", severity))
        if target.spec is None or target.flags or level not in self.rules.page_own_oncall:
            return False
        trace.add(
            "page.own_oncall",
            ALLOW,
            f"paging {target.name}'s own on-call for a {level} incident needs no approval",
        )
        return True

    def _check_pending(self, pending: object, trace: _Trace) -> None:
        limit = self.rules.max_pending_actions
        if not isinstance(pending, int) or isinstance(pending, bool) or pending >= limit:
            trace.add(
                "limits.max_pending",
                DENY,
                f"incident already has {show(pending)} open requests (limit {limit})",
            )

    def _check_freezes(
        self,
        spec: ActionSpec | None,
        target: Target,
        now: datetime,
        trace: _Trace,
        glass: BreakGlass | None = None,
    ) -> None:
        scopes: list[tuple[str, tuple[FreezeWindow, ...]]] = [("freeze.global", self.rules.freeze)]
        if target.spec is not None:
            scopes.append(("freeze.service", target.spec.freeze))
        read_only = spec is not None and spec.read_only
        for rule_id, windows in scopes:
            for window in windows:
                if not window.active(now):
                    continue
                if read_only:
                    trace.add(
                        rule_id,
                        REQUIRE,
                        f"freeze {window.id} ({window.reason}): read-only needs approval",
                    )
                elif window.break_glass and self.rules.break_glass_approvers:
                    self._glass(rule_id, window, glass, trace)
                else:
                    trace.add(rule_id, DENY, f"freeze {window.id} ({window.reason}) is in effect")

    def _glass(
        self, rule_id: str, window: FreezeWindow, glass: BreakGlass | None, trace: _Trace
    ) -> None:
        """A freeze that yields to break-glass: denied without one, one more approval with."""
        if glass is None:
            trace.glassable += 1
            trace.add(
                rule_id,
                DENY,
                f"freeze {window.id} ({window.reason}) is in effect; break glass is allowed",
            )
            return
        trace.broken.append(window.id)
        trace.add(
            "freeze.break_glass",
            REQUIRE,
            f"freeze {window.id} broken by {show(glass.by, 24)}: one more approval, "
            "from the break-glass group",
        )

    def _check_confidence(self, confidence: object, trace: _Trace) -> None:
        threshold = self.rules.confidence_threshold
        value = _number(confidence)
        if value is None or value < threshold:
            shown = show(confidence) if value is None else f"{value:g}"
            trace.add("confidence.low", REQUIRE, f"triage confidence {shown} is below {threshold}")

    def _check_approval_need(self, spec: ActionSpec | None, target: Target, trace: _Trace) -> int:
        if spec is None:
            return 0
        tier = Tier.CRITICAL if target.critical else Tier.STANDARD
        required = self.rules.approvals[tier][spec.risk]
        if target.critical:
            trace.add(
                "tier.critical_needs_approval",
                REQUIRE,
                f"critical service: {required} approvals from distinct people",
            )
        if not spec.read_only:
            trace.add("action.state_changing", REQUIRE, f"{spec.name} changes state")
        elif not spec.auto:
            trace.add("action.needs_approval", REQUIRE, f"{spec.name} is not marked auto")
        elif not trace.fired(REQUIRE) and not trace.fired(DENY):
            trace.add(
                "action.read_only_auto",
                ALLOW,
                f"{spec.name} is read-only and auto on a standard service",
            )
        return required

    def _conclude(
        self, trace: _Trace, context: EvaluationContext, target: Target, required: int
    ) -> DecisionOutcome:
        if trace.fired(DENY):
            return DecisionOutcome.DENY
        if not trace.fired(REQUIRE):
            # Allow only when a rule explicitly allowed; nothing is allowed by default.
            return DecisionOutcome.ALLOW if trace.fired(ALLOW) else DecisionOutcome.DENY
        if not context.approvals:
            return DecisionOutcome.REQUIRE_APPROVAL
        if trace.broken:
            return self._judge_glass_votes(trace, context, target, required)
        return self._judge_votes(trace, context, target, required)

    def _judge_glass_votes(
        self, trace: _Trace, context: EvaluationContext, target: Target, required: int
    ) -> DecisionOutcome:
        """A broken freeze: ``required - 1`` approvers as usual plus one more, a different
        person, from the break-glass group."""
        glass_group = self.rules.break_glass_approvers
        both = (*self._approvers(target), *glass_group)
        _, vetoes, by_requester, ineligible = tally(
            context.approvals, both, context.group_members, context.requester
        )
        usual = tally(
            context.approvals, self._approvers(target), context.group_members, context.requester
        )[0]
        glass = tally(context.approvals, glass_group, context.group_members, context.requester)[0]
        if by_requester:
            trace.add(
                "approvals.requester_ignored",
                INFO,
                "the requester cannot approve their own request",
            )
        if ineligible:
            shown = ", ".join(show(user, 24) for user in ineligible[:5])
            trace.add("approvals.ineligible_ignored", INFO, f"not eligible approvers: {shown}")
        if vetoes:
            trace.add("approvals.vetoed", DENY, f"denied by {', '.join(vetoes[:5])}")
            return DecisionOutcome.DENY
        extra = next((b for b in glass if len([u for u in usual if u != b]) >= required - 1), None)
        if extra is not None:
            others = [u for u in usual if u != extra][: required - 1]
            trace.add(
                "approvals.break_glass_satisfied",
                ALLOW,
                f"approved by {', '.join([*others, extra])} ({extra} for the break-glass group)",
            )
            return DecisionOutcome.ALLOW
        trace.add(
            "approvals.insufficient",
            REQUIRE,
            f"{len(usual)} of {required - 1} usual approvals and {len(glass)} of 1 from the "
            "break-glass group recorded (distinct people)",
        )
        return DecisionOutcome.REQUIRE_APPROVAL

    def _judge_votes(
        self, trace: _Trace, context: EvaluationContext, target: Target, required: int
    ) -> DecisionOutcome:
        counted, vetoes, by_requester, ineligible = tally(
            context.approvals, self._approvers(target), context.group_members, context.requester
        )
        if by_requester:
            trace.add(
                "approvals.requester_ignored",
                INFO,
                "the requester cannot approve their own request",
            )
        if ineligible:
            shown = ", ".join(show(user, 24) for user in ineligible[:5])
            trace.add("approvals.ineligible_ignored", INFO, f"not eligible approvers: {shown}")
        if vetoes:
            trace.add("approvals.vetoed", DENY, f"denied by {', '.join(vetoes[:5])}")
            return DecisionOutcome.DENY
        if len(counted) >= required:
            trace.add(
                "approvals.satisfied",
                ALLOW,
                f"approved by {len(counted)} of {required}: {', '.join(counted)}",
            )
            return DecisionOutcome.ALLOW
        trace.add(
            "approvals.insufficient",
            REQUIRE,
            f"{len(counted)} of {required} required approvals recorded",
        )
        return DecisionOutcome.REQUIRE_APPROVAL


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _aware(now: datetime) -> datetime:
    # A naive timestamp is read as UTC rather than crashing comparisons with aware windows.
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)
