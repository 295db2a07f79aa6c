"""Triage: turn an incident into a category, severity and proposals (LLM or offline rules).

Public API: ``Triager`` (the port), ``build_triager(settings, store)``, ``RulesEngine``,
``LLMTriager`` and ``Redactor``.
"""

from bot.redaction import Redactor
from bot.triage.base import Triager
from bot.triage.build import RulesTriager, build_triager
from bot.triage.llm import LLMTriager
from bot.triage.rules import RulesEngine

__all__ = ["LLMTriager", "Redactor", "RulesEngine", "RulesTriager", "Triager", "build_triager"]
