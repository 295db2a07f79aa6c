"""One summary line per figure, printed by every benchmark and collected by benchmarks.run_all.

BENCH {"name": ..., "value": ..., "unit": ..., "baseline": ..., "target": ..., "met": ...}
"""

from __future__ import annotations

import json
from typing import Any

PREFIX = "BENCH "


def figure(
    name: str,
    value: float,
    unit: str,
    *,
    baseline: float | None = None,
    target: str = "",
    met: bool | None = None,
) -> None:
    """Print one machine-readable figure (and its ratio to the baseline measured in the run)."""
    row: dict[str, Any] = {"name": name, "value": round(value, 4), "unit": unit}
    if baseline:
        row["baseline"] = round(baseline, 4)
        row["ratio"] = round(value / baseline, 3)
    if target:
        row["target"] = target
    if met is not None:
        row["met"] = met
    print(PREFIX + json.dumps(row), flush=True)
