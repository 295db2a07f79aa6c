"""Shared fixtures for policy tests: the shipped policy and a writable copy of it."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT
from bot.policy import Policy, load_policy

SHIPPED = PROJECT_ROOT / "policies"
# A Tuesday outside every shipped freeze window.
QUIET_NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def policy() -> Policy:
    return load_policy(SHIPPED)


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    """A private copy of the shipped policy folder that a test may break."""
    target = tmp_path / "policies"
    shutil.copytree(SHIPPED, target)
    return target
