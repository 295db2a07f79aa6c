"""docs/architecture.md's import rules, enforced on the source: who may import what.

Every module of ``bot`` is parsed (not imported), its imports resolved to module names, and the
rules checked. ``TYPE_CHECKING`` blocks are skipped: annotations do not make a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parents[3] / "bot"

# The pure middle: values and rules, talking to the outside only through bot.ports.
MIDDLE = (
    "bot.models",
    "bot.ports",
    "bot.cas",
    "bot.errors",
    "bot.incidents",
    "bot.timeline",
    "bot.redaction",
    "bot.service_names",
    "bot.postmortem",
    "bot.pipeline",
    "bot.policy.engine",
    "bot.policy.approvers",
    "bot.policy.params",
    "bot.actions.lifecycle",
    "bot.actions.votes",
    "bot.actions.execution",
    "bot.actions.plans",
    "bot.triage.validation",
    "bot.triage.rules",
    "bot.triage.output",
    "bot.evidence.series",
    "bot.evidence.verdicts",
    "bot.evidence.templates",
)
# Adapters and edges: what the middle must never reach, directly or through another module.
ADAPTERS = (
    "bot.store",
    "bot.slack",
    "bot.web",
    "bot.webguard",
    "bot.compose",
    "bot.cli",
    "bot.scheduler",
    "bot.config",
    "bot.retrieval",
    "bot.triage.gateway",
    "bot.triage.llm",
    "bot.actions.executors",
    "bot.evidence.prometheus",
    "bot.evidence.charts",
)
VENDOR_IO = (
    "sqlite3",
    "azure",
    "openai",
    "slack_bolt",
    "slack_sdk",
    "starlette",
    "uvicorn",
    "aiohttp",
    "apscheduler",
    "httpx",
    "matplotlib",
)
# library -> the only places allowed to import it
OWNERS = {
    "slack_bolt": ("bot.slack",),
    "slack_sdk": ("bot.slack",),
    "sqlite3": ("bot.store", "bot.retrieval.local"),
    "azure.cosmos": ("bot.store",),
    "openai": ("bot.triage.gateway", "bot.compose"),
    "bot.config": ("bot.compose", "bot.config"),
    "apscheduler": ("bot.scheduler",),
    "uvicorn": ("bot.compose",),
    "matplotlib": ("bot.evidence.charts",),
}


def _name(path: Path) -> str:
    parts = list(path.relative_to(BOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            node.body = []  # annotations only: not a dependency
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in BOT.rglob("*.py"):
        module = _name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[module] = set(_imports(tree, module, path.name == "__init__.py"))
    return graph


GRAPH = _graph()


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _reachable(start: str) -> set[str]:
    """Every bot module ``start`` imports, directly or through other bot modules."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        current = todo.pop()
        for target in GRAPH.get(current, ()):
            # "from bot import actions" names the package bot.actions
            for name in (target, target.rpartition(".")[0]):
                if name in GRAPH and name not in seen:
                    seen.add(name)
                    todo.append(name)
    return seen


def test_the_graph_covers_the_package() -> None:
    assert len(GRAPH) > 80
    assert "bot.pipeline" in GRAPH and "bot.compose" in GRAPH and "bot.ports" in GRAPH


@pytest.mark.parametrize("library", sorted(OWNERS))
def test_only_the_owner_imports(library: str) -> None:
    owners = OWNERS[library]
    offenders = sorted(
        module
        for module, targets in GRAPH.items()
        if any(_within(t, (library,)) for t in targets) and not _within(module, owners)
    )
    assert offenders == [], f"{library} may only be imported by {owners}"


@pytest.mark.parametrize("module", [m for m in sorted(GRAPH) if _within(m, MIDDLE)])
def test_the_middle_reaches_no_adapter(module: str) -> None:
    reached = _reachable(module) | {module}
    adapters = sorted(m for m in reached if _within(m, ADAPTERS))
    vendors = sorted({t for m in reached for t in GRAPH.get(m, ()) if _within(t, VENDOR_IO)})
    assert adapters == [] and vendors == [], f"{module} reaches {adapters} {vendors}"


def test_the_rules_can_fail() -> None:
    """The checker itself notices a violation when one exists."""
    GRAPH["bot.models__probe"] = {"bot.store.sqlite", "sqlite3"}
    try:
        assert _within("bot.store.sqlite", ADAPTERS)
        assert "bot.store.sqlite" in _reachable("bot.models__probe")
    finally:
        del GRAPH["bot.models__probe"]
