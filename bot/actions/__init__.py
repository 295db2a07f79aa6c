"""Actions: the request state machine, approvals, plans and execute(), the only door.

The executors themselves (``bot.actions.executors``: dry_run, http, command) are adapters: the
composition root builds them and hands them to ``execute``; nothing here imports them.
"""

from bot.actions.execution import ClaimTerms, ExecutionOutcome, execute, execution_problems
from bot.actions.lifecycle import (
    cancel_open,
    evaluation_context,
    expire_due,
    open_request,
    replan,
    settle_lapsed,
    transition,
)
from bot.actions.plans import (
    ExecutionPlan,
    PlanBinding,
    bind_plan,
    card_hash,
    card_matches,
    current_hash,
    render_plan,
)
from bot.actions.votes import VoteResult, VoteStatus, record_vote

__all__ = [
    "ClaimTerms",
    "ExecutionOutcome",
    "ExecutionPlan",
    "PlanBinding",
    "VoteResult",
    "VoteStatus",
    "bind_plan",
    "cancel_open",
    "card_hash",
    "card_matches",
    "current_hash",
    "evaluation_context",
    "execute",
    "execution_problems",
    "expire_due",
    "open_request",
    "record_vote",
    "render_plan",
    "replan",
    "settle_lapsed",
    "transition",
]
