"""Domain models: plain pydantic values, no I/O, no clock reads."""

from __future__ import annotations

import json
import os
import random
import secrets
import shlex
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Category(StrEnum):
    """The closed set of triage categories (also the LLM schema's enum)."""

    LATENCY = "latency"
    CONNECTIVITY = "connectivity"
    RESOURCE_EXHAUSTION = "resource_exhaustion"
    ERROR_RATE = "error_rate"
    DEPLOYMENT = "deployment"
    SECURITY = "security"
    UNKNOWN = "unknown"


class Severity(StrEnum):
    """SEV0 is a customer-facing outage, SEV3 is minor."""

    SEV0 = "SEV0"
    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"

    @property
    def rank(self) -> int:
        """0 for SEV0 (worst) … 3 for SEV3."""
        return int(self.value[3])


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class IncidentStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class ExecutionStatus(StrEnum):
    """How a triage was produced: by the model, by the fallback, or not at all."""

    COMPLETED = "COMPLETED"
    RECOVERED_FALLBACK = "RECOVERED_FALLBACK"
    FAILED = "FAILED"


class DecisionOutcome(StrEnum):
    DENY = "deny"
    REQUIRE_APPROVAL = "require_approval"
    ALLOW = "allow"


class Effect(StrEnum):
    """What one policy rule says about a proposal; the outcome is decided from all of them."""

    DENY = "deny"
    REQUIRE_APPROVAL = "require_approval"
    ALLOW = "allow"
    CRITICAL = "critical"
    INFO = "info"


class ActionState(StrEnum):
    PROPOSED = "proposed"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    EXECUTING = "executing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DENIED = "denied"
    EXPIRED = "expired"
    BLOCKED = "blocked"
    CANCELLED = "cancelled"
    OUTCOME_UNKNOWN = "outcome_unknown"


ACTION_TRANSITIONS: dict[ActionState, frozenset[ActionState]] = {
    ActionState.PROPOSED: frozenset(
        {
            ActionState.PENDING_APPROVAL,
            ActionState.APPROVED,
            ActionState.BLOCKED,
            ActionState.CANCELLED,
        }
    ),
    ActionState.PENDING_APPROVAL: frozenset(
        {
            ActionState.APPROVED,
            ActionState.DENIED,
            ActionState.EXPIRED,
            ActionState.BLOCKED,
            ActionState.CANCELLED,
        }
    ),
    ActionState.APPROVED: frozenset(
        {ActionState.EXECUTING, ActionState.BLOCKED, ActionState.EXPIRED, ActionState.CANCELLED}
    ),
    ActionState.EXECUTING: frozenset(
        {ActionState.SUCCEEDED, ActionState.FAILED, ActionState.OUTCOME_UNKNOWN}
    ),
    ActionState.SUCCEEDED: frozenset(),
    ActionState.FAILED: frozenset(),
    ActionState.DENIED: frozenset(),
    ActionState.EXPIRED: frozenset(),
    ActionState.BLOCKED: frozenset(),
    ActionState.CANCELLED: frozenset(),
    ActionState.OUTCOME_UNKNOWN: frozenset(),
}


class Verification(StrEnum):
    """Whether a succeeded action did what it was for (its ``verify`` block held in time)."""

    VERIFIED = "verified"
    NOT_VERIFIED = "not_verified"


# Requests that can still change the world: voted on, approved, or about to run.
OPEN_ACTION_STATES = (ActionState.PROPOSED, ActionState.PENDING_APPROVAL, ActionState.APPROVED)


class EventKind(StrEnum):
    """Every kind of timeline entry; one enum so reports and audits can rely on the names."""

    INCIDENT_OPENED = "incident.opened"
    INCIDENT_DECLARED = "incident.declared"
    INCIDENT_RESOLVED = "incident.resolved"
    ALERT_RESOLVED = "alert.resolved"
    # A new alert group filed under the storm incident instead of opening its own.
    STORM_GROUP_JOINED = "storm.group_joined"
    TRIAGE_COMPLETED = "triage.completed"
    TRIAGE_FEEDBACK = "triage.feedback"
    TRIAGE_CORRECTED = "triage.corrected"
    TRIAGE_BUDGET_EXHAUSTED = "triage.budget_exhausted"
    ACTION_PROPOSED = "action.proposed"
    ACTION_PENDING_APPROVAL = "action.pending_approval"
    ACTION_APPROVED = "action.approved"
    ACTION_EXECUTING = "action.executing"
    ACTION_SUCCEEDED = "action.succeeded"
    ACTION_FAILED = "action.failed"
    ACTION_DENIED = "action.denied"
    ACTION_EXPIRED = "action.expired"
    ACTION_BLOCKED = "action.blocked"
    ACTION_CANCELLED = "action.cancelled"
    ACTION_OUTCOME_UNKNOWN = "action.outcome_unknown"
    # An executor reported back after a sweep had already called its outcome unknown.
    ACTION_FINISHED_LATE = "action.finished_late"
    ACTION_VOTE = "action.vote"
    ACTION_VOTE_REFUSED = "action.vote_refused"
    # A pending request's plan re-rendered under a changed policy; earlier votes discarded.
    ACTION_REPLANNED = "action.replanned"
    # What a read-only action that ran by itself returned (redacted, in full).
    ACTION_EVIDENCE = "action.evidence"
    ACTION_REMINDED = "action.reminded"
    ACTION_ESCALATED = "action.escalated"
    # Post-action verification: the window opened, then one verdict.
    ACTION_VERIFYING = "action.verifying"
    ACTION_VERIFIED = "action.verified"
    ACTION_NOT_VERIFIED = "action.not_verified"
    # Values read before a change so it can be undone (or, on a dry run, what would be read).
    ACTION_CAPTURED = "action.captured"
    # An inverse request filed to undo a succeeded one (``ActionRequest.undo_of``).
    ACTION_UNDO_REQUESTED = "action.undo_requested"
    # A freeze-blocked request filed again with a written justification (``break_glass``).
    ACTION_BREAK_GLASS = "action.break_glass"
    # A metrics series summarised (and charted) for an incident.
    EVIDENCE_COLLECTED = "evidence.collected"
    DELIVERY_FAILED = "delivery.failed"
    NOTE = "note"
    # Incident command: someone took it, a role changed hands, a status update, a new severity,
    # the bot asking the commander for an update.
    INCIDENT_ACKNOWLEDGED = "incident.acknowledged"
    INCIDENT_ROLE_ASSIGNED = "incident.role_assigned"
    INCIDENT_STATUS_UPDATE = "incident.status_update"
    INCIDENT_SEVERITY_CHANGED = "incident.severity_changed"
    INCIDENT_UPDATE_REQUESTED = "incident.update_requested"

    @classmethod
    def for_state(cls, state: ActionState) -> EventKind:
        """The entry that records a request reaching ``state``."""
        return cls(f"action.{state.value}")


# The actor the bot writes on the timeline for what it does by itself.
BOT_ACTOR = "incident-bot"


class _IdSource:
    """Random ids without a system call each: a generator seeded from the OS, reseeded in every
    forked child (so forked replicas never share a sequence). Ids name things; they are not
    secrets — every click is authorised from the signed payload, not from its id."""

    def __init__(self) -> None:
        self._random = random.Random(secrets.token_bytes(32))
        os.register_at_fork(after_in_child=self.reseed)

    def reseed(self) -> None:
        """Start a fresh sequence (after fork)."""
        self._random = random.Random(secrets.token_bytes(32))

    def hex(self, digits: int) -> str:
        """``digits`` random hex digits."""
        return f"{self._random.getrandbits(4 * digits):0{digits}x}"


_IDS = _IdSource()


def new_id(prefix: str) -> str:
    """A short random identifier such as ``inc-3f9a1c7e2b``."""
    return f"{prefix}-{_IDS.hex(10)}"


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, validate_assignment=True)


class ConversationRef(Model):
    """Where something lives in the chat tool: a channel and, optionally, a thread or message.

    Vendor ids stay inside this value, so a second chat tool needs an adapter, not a new schema.
    """

    kind: str = "slack"
    channel: str
    thread: str | None = None


class RawPayload(Model):
    """The bytes a source sent, kept unredacted and only in the store."""

    id: str = Field(default_factory=lambda: new_id("raw"))
    source: str
    content_type: str
    body: str
    received_at: datetime


class Alert(Model):
    """One normalised alert from any source."""

    id: str = Field(default_factory=lambda: new_id("alr"))
    source: str
    raw_ref: str | None = None
    fingerprint: str
    group_key: str
    service: str
    service_raw: str = ""
    service_flags: list[str] = Field(default_factory=list)
    title: str
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    severity_hint: Severity | None = None
    status: AlertStatus = AlertStatus.FIRING
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    received_at: datetime
    url: str | None = None
    incident_id: str | None = None

    @property
    def dedup_key(self) -> str:
        """Identity of this alert occurrence: a resend of the same firing alert shares it."""
        started = self.starts_at.isoformat() if self.starts_at else "-"
        return f"{self.source}|{self.fingerprint}|{started}|{self.status.value}"


class EvidenceNote(Model):
    """One piece of gathered evidence (a series summary), kept for the next triage."""

    at: datetime
    source: str
    text: str
    data: dict[str, Any] = Field(default_factory=dict)


class Role(StrEnum):
    """Who does what in an incident; the commander leads (and may resolve)."""

    COMMANDER = "commander"
    SCRIBE = "scribe"
    COMMS = "comms"


# How people say an incident's short number: INC-42.
NUMBER_PREFIX = "INC-"
# The Coordination sequence incident numbers come from.
INCIDENT_SEQUENCE = "incident"


class Correction(Model):
    """A responder's correction of the triaged category (and severity): the ground truth the
    accuracy report scores against, and what the incident is judged by from then on."""

    category: Category
    severity: Severity | None = None
    # What triage had said, and who said it (provider:model, prompt version).
    from_category: Category
    from_severity: Severity
    triage_id: str | None = None
    by: str
    reason: str = ""
    at: datetime


class Incident(Model):
    id: str = Field(default_factory=lambda: new_id("inc"))
    # Short and sayable on a call (``INC-42``): monotonic per store, given at creation.
    number: int | None = None
    title: str
    service: str
    severity: Severity = Severity.SEV3
    status: IncidentStatus = IncidentStatus.OPEN
    category: Category = Category.UNKNOWN
    commander: str | None = None
    group_key: str | None = None
    # Look-alike flags of the service name the first alert carried (``service`` is canonical):
    # policy treats every proposal on a flagged incident as on a suspicious target.
    service_flags: list[str] = Field(default_factory=list)
    conversation: ConversationRef | None = None
    # Where the latest triage card is (its message), so follow-up alerts can refresh its counts.
    card: ConversationRef | None = None
    # Newest last, a few at most (``incidents.add_evidence``): what a re-triage reads.
    evidence: list[EvidenceNote] = Field(default_factory=list)
    alert_count: int = 0
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None = None
    # The latest human correction of the category; a re-triage does not overwrite it.
    correction: Correction | None = None
    # Scribe and comms (the commander has its own field): role -> user id.
    roles: dict[Role, str] = Field(default_factory=dict)
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    # Who last set the severity by hand (``/incident severity``): a re-triage leaves it alone.
    severity_set_by: str | None = None
    # The last status update, and when the bot last asked the commander for one.
    last_update_at: datetime | None = None
    update_requested_at: datetime | None = None
    version: int = 0

    @property
    def reference(self) -> str:
        """How people name it: ``INC-42``, or the id of an incident stored before numbers."""
        return f"{NUMBER_PREFIX}{self.number}" if self.number is not None else self.id


class Proposal(Model):
    """A remediation the triage suggests. Untrusted until policy has judged it."""

    action: str
    service: str
    params: dict[str, Any] = Field(default_factory=dict)
    rationale: str = ""


class RunbookRef(Model):
    id: str
    version: str
    title: str = ""
    section: str = ""
    score: float = 0.0
    # The file under the runbook folder (``runbooks/disk-full.md``), for a link to its source.
    path: str = ""


class RunbookChunk(Model):
    """One heading-delimited section of a runbook, as retrieval returns it."""

    chunk_id: str
    runbook_id: str
    version: str
    title: str
    section: str = ""
    text: str
    services: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    actions: list[str] = Field(default_factory=list)
    path: str = ""
    score: float = 0.0

    def ref(self) -> RunbookRef:
        """The citation a Triage records for this chunk."""
        return RunbookRef(
            id=self.runbook_id,
            version=self.version,
            title=self.title,
            section=self.section,
            score=self.score,
            path=self.path,
        )


class TokenUsage(Model):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float = 0.0

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
            cost_usd=self.cost_usd + other.cost_usd,
        )


class Triage(Model):
    id: str = Field(default_factory=lambda: new_id("tri"))
    incident_id: str
    category: Category = Category.UNKNOWN
    severity: Severity = Severity.SEV3
    summary: str = ""
    root_cause: str = ""
    reasoning: str = ""
    confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    runbooks: list[RunbookRef] = Field(default_factory=list)
    proposals: list[Proposal] = Field(default_factory=list)
    execution_status: ExecutionStatus = ExecutionStatus.FAILED
    provider: str = "rules"
    model: str = ""
    prompt_version: str = ""
    prompt_hash: str = ""
    usage: TokenUsage = Field(default_factory=TokenUsage)
    raw_responses: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    created_at: datetime
    # False for an incident's first triage, which the store accepts once (exactly-once triage);
    # an explicit re-triage (``/incident triage``, the CLI) is True and may repeat.
    retriage: bool = False


class RuleHit(Model):
    """One rule that fired during evaluation, with the reason it gives."""

    rule_id: str
    effect: Effect
    reason: str


class Decision(Model):
    id: str = Field(default_factory=lambda: new_id("dec"))
    outcome: DecisionOutcome
    action: str
    service: str
    approvals_required: int = 0
    eligible_approvers: list[str] = Field(default_factory=list)
    reasons: list[RuleHit] = Field(default_factory=list)
    policy_revision: str = ""
    decided_at: datetime | None = None
    # True when every refusal is a freeze that yields to break-glass (rules.yaml): the card
    # then offers Break glass.
    break_glass_possible: bool = False

    def reasons_with(self, *effects: Effect) -> list[str]:
        """The reasons of the rules that fired with one of ``effects``, in order."""
        return [hit.reason for hit in self.reasons if hit.effect in effects]

    @property
    def denials(self) -> list[str]:
        """Why policy refuses, if it does."""
        return self.reasons_with(Effect.DENY)


class Vote(StrEnum):
    APPROVE = "approve"
    DENY = "deny"


class Approval(Model):
    request_id: str
    user_id: str
    vote: Vote = Vote.APPROVE
    at: datetime
    comment: str = ""


class Plan(Model):
    """Exactly what a request will do, rendered before anyone is asked: the card shows it and
    the approval is bound to it (``ActionRequest.plan_hash``, safety invariant 8).

    Secrets are masked: parameters pass through the redactor, and an HTTP executor's bearer
    token comes from settings at run time and is never part of a plan.
    """

    kind: str  # the executor: a ``policy.documents.ExecutorKind`` value (command, http, …)
    mode: str  # ``live`` or ``dry_run`` (records what it would do, runs nothing)
    read_only: bool = False
    argv: list[str] = Field(default_factory=list)
    method: str = ""
    url: str = ""
    body: dict[str, Any] = Field(default_factory=dict)
    summary: str  # one plain sentence: what happens, and whether anything really runs

    @property
    def dry_run(self) -> bool:
        """True when the executor only records what it would do."""
        return self.mode == "dry_run"

    def shown(self) -> str:
        """The plan as a person reads it in a code block: the command line, or the request."""
        if self.argv:
            return shlex.join(self.argv)
        if self.method or self.url:
            body = json.dumps(self.body, indent=2, sort_keys=True, ensure_ascii=False)
            return f"{self.method} {self.url}\n{body}" if self.body else f"{self.method} {self.url}"
        if self.body:
            # a page or a query: what would be sent, not the summary said a second time
            return json.dumps(self.body, indent=2, sort_keys=True, ensure_ascii=False)
        return self.summary


class Captured(Model):
    """One value read by a pre-check before the action ran, kept so the change can be undone.

    On a dry run nothing is read: ``simulated`` is True, ``value`` None, and ``read`` says what
    the pre-check would have run. A value is usable for undo only when it was really read.
    """

    name: str
    value: Any = None
    read: str = ""  # the pre-check as run (command line, request or query), masked
    simulated: bool = False
    error: str | None = None

    @property
    def usable(self) -> bool:
        """Read for real, without error: an inverse may be filed with it."""
        return not self.simulated and self.error is None and self.value is not None


class BreakGlass(Model):
    """Who broke the glass of a freeze for a request, when, and why (their own words)."""

    by: str
    at: datetime
    justification: str
    # The blocked request this one files again.
    of_request: str
    freezes: list[str] = Field(default_factory=list)


class ActionRequest(Model):
    id: str = Field(default_factory=lambda: new_id("act"))
    incident_id: str
    triage_id: str | None = None
    proposal: Proposal
    decision: Decision
    state: ActionState = ActionState.PROPOSED
    requested_by: str
    approvals: list[Approval] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None = None
    reminded_at: datetime | None = None
    claimed_by: str | None = None
    claim_expires_at: datetime | None = None
    # The request this one asks again for (after it failed or its outcome became unknown).
    retry_of: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    card: ConversationRef | None = None
    # What the card shows and approvers approve; None when it could not be rendered (blocked).
    plan: Plan | None = None
    # sha256 of (action, canonical service, params, rendered plan, policy revision): a vote
    # must carry it and execution recomputes it (``actions.plans.plan_hash``).
    plan_hash: str = ""
    # After success, an action with a ``verify`` block is watched until this instant; the
    # verdict lands in ``verification`` (None while watching, or when nothing is watched).
    verify_until: datetime | None = None
    verification: Verification | None = None
    # Read before the change by the action's ``capture`` pre-checks (empty when it has none).
    captures: list[Captured] = Field(default_factory=list)
    # The succeeded request this one undoes (its inverse, with that request's captures).
    undo_of: str | None = None
    # Set when this request files a freeze-blocked one again through break-glass.
    break_glass: BreakGlass | None = None
    version: int = 0

    def can_move_to(self, target: ActionState) -> bool:
        """True when the state machine permits ``self.state -> target``."""
        return target in ACTION_TRANSITIONS[self.state]

    @property
    def approvers(self) -> list[str]:
        """Distinct user ids that voted approve, in order."""
        seen: list[str] = []
        for approval in self.approvals:
            if approval.vote is Vote.APPROVE and approval.user_id not in seen:
                seen.append(approval.user_id)
        return seen


class Event(Model):
    """One timeline entry: who did what, when, and why."""

    id: str = Field(default_factory=lambda: new_id("evt"))
    incident_id: str
    at: datetime
    actor: str
    kind: EventKind
    message: str
    data: dict[str, Any] = Field(default_factory=dict)
    seq: int = 0
    # The hash chain (bot/audit.py): the link of the incident's previous event, and this
    # event's own hash over it. Empty on events stored before the chain existed.
    prev_hash: str = ""
    hash: str = ""


class Feedback(Model):
    id: str = Field(default_factory=lambda: new_id("fbk"))
    incident_id: str
    triage_id: str | None = None
    user_id: str
    helpful: bool
    comment: str = ""
    at: datetime
