"""Shadow replay: re-decide past proposals under a changed policy and say what would change.

Pure: a ``Filed`` (a proposal, the context it was judged in and the decision it got) and a
policy in, a ``Replayed`` with the new decision and the kinds of change out. Loosening means
closer to running without people: the outcome moves towards allow, fewer approvals are
required, or more people may approve.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.models import Decision, DecisionOutcome, Proposal
from bot.policy.engine import EvaluationContext, Policy

_STRICTNESS = {
    DecisionOutcome.ALLOW: 0,
    DecisionOutcome.REQUIRE_APPROVAL: 1,
    DecisionOutcome.DENY: 2,
}
_SHORT = {
    DecisionOutcome.ALLOW: "allow",
    DecisionOutcome.REQUIRE_APPROVAL: "approval",
    DecisionOutcome.DENY: "deny",
}


class ChangeKind(StrEnum):
    """One way a decision can change; the outcome changes read ``before->after``."""

    ALLOW_TO_APPROVAL = "allow->approval"
    ALLOW_TO_DENY = "allow->deny"
    APPROVAL_TO_DENY = "approval->deny"
    APPROVAL_TO_ALLOW = "approval->allow"
    DENY_TO_APPROVAL = "deny->approval"
    DENY_TO_ALLOW = "deny->allow"
    APPROVERS_ADDED = "approvers added"
    APPROVERS_REMOVED = "approvers removed"
    APPROVALS_UP = "approvals_required up"
    APPROVALS_DOWN = "approvals_required down"

    @property
    def loosens(self) -> bool:
        """True when the change lets an action run with less human agreement."""
        return self in _LOOSENING


_LOOSENING = frozenset(
    {
        ChangeKind.APPROVAL_TO_ALLOW,
        ChangeKind.DENY_TO_APPROVAL,
        ChangeKind.DENY_TO_ALLOW,
        ChangeKind.APPROVERS_ADDED,
        ChangeKind.APPROVALS_DOWN,
    }
)


@dataclass(frozen=True)
class Filed:
    """One past decision: the proposal, the context it was judged in, what it got."""

    request_id: str
    incident_id: str
    proposal: Proposal
    context: EvaluationContext
    decision: Decision


@dataclass(frozen=True)
class Replayed:
    """A past decision re-made under the new policy."""

    filed: Filed
    after: Decision
    changes: tuple[ChangeKind, ...]
    critical: bool

    @property
    def loosens(self) -> bool:
        """True when any change loosens the decision."""
        return any(change.loosens for change in self.changes)

    @property
    def gates(self) -> bool:
        """True when the change loosens a decision on a critical service (fails the replay)."""
        return self.loosens and self.critical


def classify(before: Decision, after: Decision) -> tuple[ChangeKind, ...]:
    """Every kind of change between two decisions on the same proposal (empty: unchanged)."""
    changes: list[ChangeKind] = []
    if before.outcome is not after.outcome:
        changes.append(ChangeKind(f"{_SHORT[before.outcome]}->{_SHORT[after.outcome]}"))
    approval = DecisionOutcome.REQUIRE_APPROVAL
    if before.outcome is approval and after.outcome is approval:
        if after.approvals_required > before.approvals_required:
            changes.append(ChangeKind.APPROVALS_UP)
        elif after.approvals_required < before.approvals_required:
            changes.append(ChangeKind.APPROVALS_DOWN)
    if DecisionOutcome.DENY not in (before.outcome, after.outcome):
        had, has = set(before.eligible_approvers), set(after.eligible_approvers)
        if has - had:
            changes.append(ChangeKind.APPROVERS_ADDED)
        if had - has:
            changes.append(ChangeKind.APPROVERS_REMOVED)
    return tuple(changes)


def redecide(filed: Filed, new: Policy, old: Policy | None = None) -> Replayed:
    """Judge ``filed`` again under ``new``; critical if either policy (or the incident's
    service-name flags) says the service is critical, unknown or suspicious."""
    after = new.evaluate(filed.proposal, filed.context)
    service = filed.proposal.service
    critical = (
        bool(filed.context.service_flags)
        or new.resolve_service(service).critical
        or (old is not None and old.resolve_service(service).critical)
    )
    return Replayed(filed, after, classify(filed.decision, after), critical)


@dataclass(frozen=True)
class ChangeGroup:
    """Decisions that changed the same way for the same action and service."""

    change: tuple[ChangeKind, ...]
    action: str
    service: str
    critical: bool
    requests: tuple[str, ...]
    incidents: tuple[str, ...]

    @property
    def gates(self) -> bool:
        """True when this group loosens decisions on a critical service."""
        return self.critical and any(change.loosens for change in self.change)


def group(replayed: Iterable[Replayed]) -> list[ChangeGroup]:
    """The changed decisions grouped by (changes, action, service); gating groups first."""
    buckets: dict[tuple[tuple[ChangeKind, ...], str, str, bool], list[Replayed]] = {}
    for item in replayed:
        if not item.changes:
            continue
        key = (item.changes, item.filed.proposal.action, item.after.service, item.critical)
        buckets.setdefault(key, []).append(item)
    groups = [
        ChangeGroup(
            change=changes,
            action=action,
            service=service,
            critical=critical,
            requests=tuple(i.filed.request_id for i in items),
            incidents=_unique(i.filed.incident_id for i in items),
        )
        for (changes, action, service, critical), items in buckets.items()
    ]
    return sorted(groups, key=lambda g: (not g.gates, [c.value for c in g.change], g.action))


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def summary(replayed: Sequence[Replayed]) -> dict[str, int]:
    """Counts: replayed, unchanged, changed, loosened, tightened, gating."""
    changed = [r for r in replayed if r.changes]
    return {
        "replayed": len(replayed),
        "unchanged": len(replayed) - len(changed),
        "changed": len(changed),
        "loosened": sum(r.loosens for r in changed),
        "tightened": sum(any(not c.loosens for c in r.changes) for r in changed),
        "gating": sum(r.gates for r in changed),
    }
