"""Policy: load and validate the YAML policy folder, and judge proposals with evaluate()."""

from bot.policy.engine import EvaluationContext, Policy, Target
from bot.policy.loader import POLICY_FILES, load_policy

__all__ = ["POLICY_FILES", "EvaluationContext", "Policy", "Target", "load_policy"]
