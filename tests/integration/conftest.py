"""Shared fixtures for integration tests: external components are required under CI=true."""

from __future__ import annotations

import os
import shutil

import pytest


def require_binary(name: str) -> str:
    """Path of an external program; missing fails under CI=true and skips otherwise."""
    found = shutil.which(name)
    if found:
        return found
    message = f"{name} is not installed (bash scripts/test.sh installs it)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)
