"""The shipped policies without their dated freeze windows, for tests that run on the real clock.

The shipped `policies/` carry real calendar freezes (peak season, year end, a weekly billing
run). Tests that drive the running bot with the wall clock must not change outcome with the
date they happen to run on, so they use this copy; freezes are tested with fixed clocks in
tests/unit/policy and policies/tests.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

SHIPPED = Path(__file__).resolve().parent.parent / "policies"


def unfrozen_policy_dir(destination: Path) -> Path:
    """Copy the shipped policies to ``destination`` with every freeze list emptied."""
    shutil.copytree(SHIPPED, destination, dirs_exist_ok=True)
    rules_file = destination / "rules.yaml"
    rules: dict[str, Any] = yaml.safe_load(rules_file.read_text())
    rules["freeze"] = []
    rules_file.write_text(yaml.safe_dump(rules, sort_keys=False))
    services_file = destination / "services.yaml"
    services: dict[str, Any] = yaml.safe_load(services_file.read_text())
    for service in services["services"].values():
        service.pop("freeze", None)
    services_file.write_text(yaml.safe_dump(services, sort_keys=False))
    return destination
