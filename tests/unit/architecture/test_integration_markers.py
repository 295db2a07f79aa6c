"""Every test module that talks to real servers carries ``pytest.mark.integration``.

CI and developers select tiers with ``-m integration`` / ``-m "not integration"``; a module in
``tests/integration`` or ``tests/contract`` without the mark would silently run in the fast
tier (or be skipped by the slow one). Modules are parsed, not imported.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
# Folders whose tests start real servers on 127.0.0.1 (tests/contract runs every store backend,
# the Cosmos protocol server included).
SERVER_TIERS = ("tests/integration", "tests/contract")


def _test_modules() -> list[Path]:
    found: list[Path] = []
    for tier in SERVER_TIERS:
        for path in sorted((ROOT / tier).rglob("test_*.py")):
            if "node_modules" not in path.parts:
                found.append(path)
    return found


def _marks(node: ast.expr) -> list[str]:
    """Dotted names in a ``pytestmark`` value: one mark, or a list / tuple of them."""
    items = node.elts if isinstance(node, ast.List | ast.Tuple) else [node]
    names = []
    for item in items:
        target = item.func if isinstance(item, ast.Call) else item
        names.append(ast.unparse(target))
    return names


def module_marks(source: str) -> list[str]:
    """The marks a module's top-level ``pytestmark`` assigns (empty when it has none)."""
    marks: list[str] = []
    for statement in ast.parse(source).body:
        if isinstance(statement, ast.Assign):
            names = [t.id for t in statement.targets if isinstance(t, ast.Name)]
            value = statement.value
        elif isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            names, value = [statement.target.id], statement.value
        else:
            continue
        if "pytestmark" in names and value is not None:
            marks.extend(_marks(value))
    return marks


MODULES = _test_modules()


def test_the_server_tiers_have_test_modules() -> None:
    assert len(MODULES) >= 15, [p.relative_to(ROOT) for p in MODULES]


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(ROOT)) for p in MODULES])
def test_server_tier_module_is_marked_integration(path: Path) -> None:
    marks = module_marks(path.read_text(encoding="utf-8"))
    assert "pytest.mark.integration" in marks, (
        f"{path.relative_to(ROOT)} needs `pytestmark = pytest.mark.integration` at module level"
    )


def test_the_integration_marker_is_registered_and_strict() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert any(m.startswith("integration:") for m in config["markers"])
    # A misspelt mark (pytest.mark.integraton) must fail collection, not pass unnoticed.
    assert "--strict-markers" in config.get("addopts", "")


@pytest.mark.parametrize(
    ("source", "marked"),
    [
        ("import pytest\npytestmark = pytest.mark.integration\n", True),
        ("import pytest\npytestmark = [pytest.mark.integration, pytest.mark.slow]\n", True),
        ("import pytest\npytestmark = pytest.mark.skipif(True, reason='x')\n", False),
        ("import pytest\ndef test_x():\n    pytestmark = pytest.mark.integration\n", False),
        ("import pytest\n", False),
    ],
)
def test_the_check_reads_module_level_marks_only(source: str, marked: bool) -> None:
    assert ("pytest.mark.integration" in module_marks(source)) is marked
