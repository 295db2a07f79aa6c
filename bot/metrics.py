"""Prometheus metrics: one registry for the process, exposed at /metrics."""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bot.models import TokenUsage

REGISTRY = CollectorRegistry(auto_describe=True)

ALERTS_RECEIVED = Counter(
    "incident_bot_alerts_received",
    "Alerts received, by source and outcome (stored, duplicate, unmatched_resolved, rejected).",
    ["source", "outcome"],
    registry=REGISTRY,
)
INCIDENTS_OPENED = Counter(
    "incident_bot_incidents_opened", "Incidents opened, by source.", ["source"], registry=REGISTRY
)
TRIAGE_QUEUE_DEPTH = Gauge(
    "incident_bot_triage_queue_depth", "Incidents waiting for a triage worker.", registry=REGISTRY
)
STORM_ACTIVE = Gauge(
    "incident_bot_storm_active",
    "1 while this replica last found new incidents opening faster than STORM_THRESHOLD.",
    registry=REGISTRY,
)
STORM_ALERTS = Counter(
    "incident_bot_storm_alerts",
    "Alerts filed under a storm incident instead of opening incidents of their own.",
    registry=REGISTRY,
)
TRIAGE_QUEUE_REFUSED = Counter(
    "incident_bot_triage_queue_refused",
    "Incidents the full triage queue left to the sweep.",
    registry=REGISTRY,
)
TRIAGE_SECONDS = Histogram(
    "incident_bot_triage_duration_seconds",
    "Time to triage one incident (retrieval, model or rules, validation).",
    ["provider"],
    buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
TRIAGES = Counter(
    "incident_bot_triages",
    "Triages, by execution status and provider.",
    ["execution_status", "provider"],
    registry=REGISTRY,
)
LLM_TOKENS = Counter(
    "incident_bot_llm_tokens",
    "LLM tokens used, by provider, model and kind (prompt, completion).",
    ["provider", "model", "kind"],
    registry=REGISTRY,
)
LLM_COST = Counter(
    "incident_bot_llm_cost_usd",
    "Estimated LLM cost in US dollars, by provider and model.",
    ["provider", "model"],
    registry=REGISTRY,
)
LLM_CALLS_IN_FLIGHT = Gauge(
    "incident_bot_llm_calls_in_flight",
    "Model calls being answered now, by provider (bounded by LLM_MAX_CONCURRENCY).",
    ["provider"],
    registry=REGISTRY,
)
LLM_CALLS_WAITING = Gauge(
    "incident_bot_llm_calls_waiting",
    "Model calls waiting for a free slot under LLM_MAX_CONCURRENCY, by provider.",
    ["provider"],
    registry=REGISTRY,
)
LLM_SLOT_TIMEOUTS = Counter(
    "incident_bot_llm_slot_timeouts",
    "Model calls that gave up waiting LLM_TIMEOUT_SECONDS for a free slot, by provider.",
    ["provider"],
    registry=REGISTRY,
)
POLICY_DECISIONS = Counter(
    "incident_bot_policy_decisions",
    "Policy decisions, by outcome.",
    ["outcome"],
    registry=REGISTRY,
)
TRIAGE_CORRECTIONS = Counter(
    "incident_bot_triage_corrections",
    "Triage categories corrected by responders, by triaged and corrected category.",
    ["from_category", "to_category"],
    registry=REGISTRY,
)
TRIAGE_CATEGORY_ACCURACY = Gauge(
    "incident_bot_triage_category_accuracy",
    "Share of a category's last DRIFT_MIN_CORRECTED judged (corrected or confirmed) incidents "
    "that triage categorised right, as of the last drift check.",
    ["category"],
    registry=REGISTRY,
)
TRIAGE_CATEGORY_JUDGED = Gauge(
    "incident_bot_triage_category_judged",
    "Judged incidents the category's accuracy is over (at most DRIFT_MIN_CORRECTED).",
    ["category"],
    registry=REGISTRY,
)
ACCURACY_DRIFT_POSTS = Counter(
    "incident_bot_accuracy_drift_posts",
    "Accuracy drift posts sent to DRIFT_CHANNEL, by category (at most one a day each).",
    ["category"],
    registry=REGISTRY,
)
APPROVALS = Counter(
    "incident_bot_approvals",
    "Approval clicks, by outcome (accepted, refused).",
    ["outcome"],
    registry=REGISTRY,
)
ACTIONS_EXECUTED = Counter(
    "incident_bot_actions_executed",
    "Action executions, by result (succeeded, failed, blocked, not_run).",
    ["result"],
    registry=REGISTRY,
)
ACTIONS_VERIFIED = Counter(
    "incident_bot_actions_verified",
    "Verdicts on succeeded actions that declare verify, by action and verdict "
    "(verified, not_verified).",
    ["action", "verdict"],
    registry=REGISTRY,
)
BREAK_GLASS = Counter(
    "incident_bot_break_glass",
    "Freeze-blocked requests filed again through break-glass, by action.",
    ["action"],
    registry=REGISTRY,
)
UNDO_REQUESTS = Counter(
    "incident_bot_undo_requests",
    "Inverse requests filed by Undo, by the action undone.",
    ["action"],
    registry=REGISTRY,
)
EVIDENCE_QUERIES = Counter(
    "incident_bot_evidence_queries",
    "Queries for an alert's series before triage, by result (ok, empty, failed).",
    ["result"],
    registry=REGISTRY,
)
EVIDENCE_CHARTS = Counter(
    "incident_bot_evidence_charts",
    "Evidence charts, by result (shared, failed).",
    ["result"],
    registry=REGISTRY,
)
SLACK_API_ERRORS = Counter(
    "incident_bot_slack_api_errors",
    "Slack Web API calls that failed, by method.",
    ["method"],
    registry=REGISTRY,
)
SLACK_API_RETRIES = Counter(
    "incident_bot_slack_api_retries",
    "Slack Web API retries, by reason (rate_limited, connection).",
    ["reason"],
    registry=REGISTRY,
)


OUTBOX_PENDING = Gauge(
    "incident_bot_outbox_pending",
    "Chat messages written to the outbox and not yet delivered (as of the last sweep).",
    registry=REGISTRY,
)
OUTBOX_OLDEST_PENDING_SECONDS = Gauge(
    "incident_bot_outbox_oldest_pending_seconds",
    "Age of the oldest undelivered chat message (0 when none is pending).",
    registry=REGISTRY,
)
OUTBOX_DELIVERED = Counter(
    "incident_bot_outbox_delivered",
    "Chat messages delivered from the outbox, by kind (card, update, announcement, message).",
    ["kind"],
    registry=REGISTRY,
)
OUTBOX_RETRIES = Counter(
    "incident_bot_outbox_retries",
    "Delivery attempts that will be tried again, by reason (ratelimited, http_500, timeout...).",
    ["reason"],
    registry=REGISTRY,
)
OUTBOX_FAILED = Counter(
    "incident_bot_outbox_failed",
    "Chat messages given up on, by reason (channel_not_found, attempts_exhausted...).",
    ["reason"],
    registry=REGISTRY,
)


def count_usage(provider: str, model: str, usage: TokenUsage) -> None:
    """Add one triage's token usage and estimated cost; a negative or non-finite count adds 0.

    Counters raise on a negative increment, and the counts came from a model: this must never
    be what stops a triage from being stored.
    """
    LLM_TOKENS.labels(provider, model, "prompt").inc(_amount(usage.prompt_tokens))
    LLM_TOKENS.labels(provider, model, "completion").inc(_amount(usage.completion_tokens))
    LLM_COST.labels(provider, model).inc(_amount(usage.cost_usd))


def _amount(value: float) -> float:
    try:
        amount = float(value)
    except (OverflowError, TypeError, ValueError):
        return 0.0
    return amount if math.isfinite(amount) and amount > 0 else 0.0


def exposition() -> tuple[bytes, str]:
    """The current metrics in Prometheus text format, with its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
