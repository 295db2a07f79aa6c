"""Actions: the request state machine, approvals, executors and execute(), the only door."""

from bot.actions.execution import ExecutionOutcome, execute, execution_problems
from bot.actions.executors import (
    CommandExecutor,
    DryRunExecutor,
    ExecutionResult,
    Executor,
    Executors,
    HttpExecutor,
    build_executors,
)
from bot.actions.lifecycle import evaluation_context, expire_due, open_request, transition
from bot.actions.plans import ExecutionPlan, render_plan
from bot.actions.votes import VoteOutcome, VoteStatus, record_vote

__all__ = [
    "CommandExecutor",
    "DryRunExecutor",
    "ExecutionOutcome",
    "ExecutionPlan",
    "ExecutionResult",
    "Executor",
    "Executors",
    "HttpExecutor",
    "VoteOutcome",
    "VoteStatus",
    "build_executors",
    "evaluation_context",
    "execute",
    "execution_problems",
    "expire_due",
    "open_request",
    "record_vote",
    "render_plan",
    "transition",
]
