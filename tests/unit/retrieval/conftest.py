"""Fixtures for retrieval tests: a copy of the shipped runbooks and the default embedder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT
from bot.retrieval.embedders import Embedder, load_embedder

SHIPPED = PROJECT_ROOT / "runbooks"
# Same cache the CLI uses when run from the repository root: where a model distilled on the
# spot lives (the shipped one, bot/data/models, comes first).
MODEL_DIR = PROJECT_ROOT / "var" / "models"


@pytest.fixture
def runbook_dir(tmp_path: Path) -> Path:
    """A writable copy of the shipped runbooks (folder named ``runbooks``)."""
    target = tmp_path / "runbooks"
    shutil.copytree(SHIPPED, target, ignore=shutil.ignore_patterns("schema"))
    return target


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real default embedder: the static model shipped in bot/data/models."""
    model = load_embedder("auto", MODEL_DIR)
    assert model is not None
    return model
