"""The offline rules engine: deterministic triage from alert text, honestly labelled as rules.

Rules are data (``keywords.yaml``): weighted regex terms per category, severity hints and default
proposals. Loading reads the file once; ``RulesEngine.triage`` is pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from bot.errors import ConfigError
from bot.models import (
    Alert,
    Category,
    ExecutionStatus,
    Incident,
    Proposal,
    RunbookChunk,
    Severity,
    Triage,
)
from bot.triage.context import NOTIFY_ACTION, NOTIFY_ONLY_CATEGORIES

RULES_PROVIDER = "rules"
# Text beyond this many characters per field adds no signal, only matching time.
FIELD_LIMIT = 4000
FIELDS = ("title", "alertname", "description", "labels", "annotations")


@dataclass(frozen=True)
class Term:
    regex: re.Pattern[str]
    weight: float


@dataclass(frozen=True)
class ProposalTemplate:
    action: str
    rationale: str
    params_from: dict[str, str]


@dataclass(frozen=True)
class CategoryRules:
    category: Category
    severity: Severity
    terms: tuple[Term, ...]
    proposals: tuple[ProposalTemplate, ...]


@dataclass(frozen=True)
class RuleSet:
    """A parsed rules file."""

    version: str
    threshold: float
    confidence_cap: float
    field_weights: dict[str, float]
    severity_terms: tuple[tuple[re.Pattern[str], Severity], ...]
    categories: tuple[CategoryRules, ...]


@dataclass(frozen=True)
class Classification:
    """The outcome of scoring: category, severity, confidence and why."""

    category: Category
    severity: Severity
    confidence: float
    scores: dict[Category, float]
    matched: list[str]


def _compile(pattern: Any, where: str) -> re.Pattern[str]:
    if not isinstance(pattern, str) or not pattern:
        raise ConfigError(f"{where}: 'match' must be a non-empty regex string")
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ConfigError(f"{where}: invalid regex: {exc}") from None


def _category_rules(name: str, body: Any, where: str) -> CategoryRules:
    try:
        category = Category(name)
        severity = Severity(body.get("severity", "SEV3"))
        terms = tuple(
            Term(_compile(t.get("match"), f"{where}.terms[{i}]"), float(t.get("weight", 1.0)))
            for i, t in enumerate(body.get("terms") or [])
        )
        proposals = tuple(
            ProposalTemplate(
                action=str(p["action"]),
                rationale=str(p.get("rationale", "")),
                params_from={str(k): str(v) for k, v in (p.get("params_from") or {}).items()},
            )
            for p in body.get("proposals") or []
        )
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return CategoryRules(category, severity, terms, proposals)


def parse_rules(data: Any, source: str) -> RuleSet:
    """Build a RuleSet from parsed YAML; errors name the file and the path inside it."""
    if not isinstance(data, dict) or not isinstance(data.get("categories"), dict):
        raise ConfigError(f"{source}: expected a mapping with 'categories'")
    categories = tuple(
        _category_rules(str(name), body, f"{source}: categories.{name}")
        for name, body in data["categories"].items()
    )
    severity_terms = []
    for i, item in enumerate(data.get("severity_terms") or []):
        where = f"{source}: severity_terms[{i}]"
        try:
            severity = Severity(item["severity"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: {exc}") from None
        severity_terms.append((_compile(item.get("match"), where), severity))
    weights = {str(k): float(v) for k, v in (data.get("field_weights") or {}).items()}
    return RuleSet(
        version=str(data.get("version", "rules-v1")),
        threshold=float(data.get("threshold", 2.0)),
        confidence_cap=min(1.0, float(data.get("confidence_cap", 0.8))),
        field_weights={field: weights.get(field, 1.0) for field in FIELDS},
        severity_terms=tuple(severity_terms),
        categories=categories,
    )


def load_rules(path: Path) -> RuleSet:
    """Read and parse a rules file; a missing or invalid file raises ConfigError."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"TRIAGE_RULES_PATH: cannot load {path}: {exc}") from None
    return parse_rules(data, str(path))


def _fields(incident: Incident, alerts: list[Alert]) -> dict[str, str]:
    parts: dict[str, list[str]] = {field: [] for field in FIELDS}
    parts["title"].append(incident.title)
    for alert in alerts:
        parts["title"].append(alert.title)
        parts["alertname"].append(alert.labels.get("alertname", ""))
        parts["description"].append(alert.description)
        parts["labels"].extend(v for k, v in alert.labels.items() if k != "alertname")
        parts["annotations"].extend(alert.annotations.values())
    return {field: "\n".join(values)[:FIELD_LIMIT] for field, values in parts.items()}


class RulesEngine:
    """Keyword/regex classification with weights; never pretends to be an LLM."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules

    @classmethod
    def from_file(cls, path: Path) -> RulesEngine:
        """Load the engine from a rules YAML file."""
        return cls(load_rules(path))

    @property
    def model(self) -> str:
        """The rules version, recorded as the Triage's model."""
        return self.rules.version

    def classify(self, incident: Incident, alerts: list[Alert]) -> Classification:
        """Score every category on the alert text and pick the best one."""
        fields = _fields(incident, alerts)
        scores: dict[Category, float] = {}
        matched: list[str] = []
        for rules in self.rules.categories:
            score = 0.0
            for term in rules.terms:
                for field, text in fields.items():
                    hit = term.regex.search(text)
                    if hit:
                        score += term.weight * self.rules.field_weights[field]
                        matched.append(f"{rules.category.value}:{field}:{hit.group(0)[:40]!r}")
            scores[rules.category] = score
        ranked = sorted(scores.items(), key=lambda item: -item[1])
        best, top = ranked[0] if ranked else (Category.UNKNOWN, 0.0)
        second = ranked[1][1] if len(ranked) > 1 else 0.0
        if top < self.rules.threshold:
            best = Category.UNKNOWN
            confidence = 0.0
        else:
            # Honest: a clear margin over the runner-up earns confidence, never certainty.
            confidence = self.rules.confidence_cap * top / (top + second + 2.0)
        severity = self._severity(best, alerts, fields)
        return Classification(best, severity, round(confidence, 3), scores, matched)

    def _severity(
        self, category: Category, alerts: list[Alert], fields: dict[str, str]
    ) -> Severity:
        candidates = [a.severity_hint for a in alerts if a.severity_hint is not None]
        text = "\n".join(fields.values())
        candidates += [sev for regex, sev in self.rules.severity_terms if regex.search(text)]
        if candidates:
            return min(candidates, key=lambda sev: sev.rank)
        for rules in self.rules.categories:
            if rules.category is category:
                return rules.severity
        return Severity.SEV3

    def triage(
        self,
        incident: Incident,
        alerts: list[Alert],
        runbooks: list[RunbookChunk],
        allowed_actions: list[str],
        now: datetime,
    ) -> Triage:
        """Classify and propose the category's default actions that the allowlist permits."""
        found = self.classify(incident, alerts)
        title = alerts[0].title if alerts else incident.title
        summary = f"{found.category.value} on {incident.service}: {title}"[:500]
        top = sorted(found.scores.items(), key=lambda item: -item[1])[:3]
        reasoning = (
            f"Offline rules engine {self.model} (keyword matching, no language model). "
            f"Scores: {', '.join(f'{c.value}={s:g}' for c, s in top)}. "
            f"Matched: {'; '.join(found.matched[:8]) or 'nothing'}."
        )
        cited = _cited_runbooks(found.category, incident.service, runbooks)
        return Triage(
            incident_id=incident.id,
            category=found.category,
            severity=found.severity,
            summary=summary,
            root_cause=(
                "Not determined: the rules engine matches keywords only."
                if found.category is not Category.UNKNOWN
                else "Unknown: no rule matched strongly enough; a human should look."
            ),
            reasoning=reasoning,
            confidence=found.confidence,
            runbooks=[chunk.ref() for chunk in cited],
            proposals=self._proposals(found, incident, alerts, allowed_actions, summary),
            execution_status=ExecutionStatus.COMPLETED,
            provider=RULES_PROVIDER,
            model=self.model,
            created_at=now,
        )

    def _proposals(
        self,
        found: Classification,
        incident: Incident,
        alerts: list[Alert],
        allowed_actions: list[str],
        summary: str,
    ) -> list[Proposal]:
        templates = next(
            (r.proposals for r in self.rules.categories if r.category is found.category), ()
        )
        allowed = set(allowed_actions)
        proposals: list[Proposal] = []
        for template in templates:
            if template.action not in allowed:
                continue
            if found.category in NOTIFY_ONLY_CATEGORIES and template.action != NOTIFY_ACTION:
                continue
            params = _params(template.params_from, found.severity, alerts, summary)
            proposals.append(
                Proposal(
                    action=template.action,
                    service=incident.service,
                    params=params,
                    rationale=template.rationale,
                )
            )
        return proposals


def _params(
    sources: dict[str, str], severity: Severity, alerts: list[Alert], summary: str
) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, source in sources.items():
        if source == "summary":
            params[name] = summary
        elif source == "urgency":
            params[name] = "high" if severity.rank <= 1 else "low"
        elif source.startswith("label:"):
            label = source.removeprefix("label:")
            value = next((a.labels[label] for a in alerts if a.labels.get(label)), None)
            # Unknown values stay out: policy then denies or asks a human, never guesses.
            if value is not None:
                params[name] = value
    return params


def _cited_runbooks(
    category: Category, service: str, runbooks: list[RunbookChunk]
) -> list[RunbookChunk]:
    matching = [c for c in runbooks if category.value in c.categories]
    if not matching:
        matching = [c for c in runbooks if service in c.services]
    first_per_runbook: dict[str, RunbookChunk] = {}
    for chunk in matching:
        first_per_runbook.setdefault(chunk.runbook_id, chunk)
    return list(first_per_runbook.values())
