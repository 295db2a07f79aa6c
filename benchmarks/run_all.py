"""Run every benchmark and print one table of figures, ratios and targets.

    .venv/bin/python -m benchmarks.run_all [--quick]

Each benchmark runs as its own process (its full output goes to var/benchmarks/NAME.log) and
reports its figures as `BENCH {...}` lines (benchmarks/report.py), collected here.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.report import PREFIX

ROOT = Path(__file__).resolve().parent.parent

# (module, arguments for a full run, arguments for --quick)
BENCHMARKS: list[tuple[str, list[str], list[str]]] = [
    ("benchmarks.ingest", [], ["--requests", "1000", "--storm", "2000"]),
    ("benchmarks.growth", [], ["--quick"]),
    ("benchmarks.flood", [], ["--flood", "1000", "--requests", "200"]),
    ("benchmarks.ingest_parse", [], []),
    ("benchmarks.redaction", [], ["--repeat", "5"]),
    ("benchmarks.policy", [], []),
    ("benchmarks.triage_eval", [], []),
    ("benchmarks.retrieval", [], []),
    ("benchmarks.slack_ack", [], []),
    ("benchmarks.serve_footprint", [], []),
    ("benchmarks.evidence", [], ["--uploads", "10", "--rounds", "3"]),
]


def run(module: str, args: list[str], logs: Path) -> tuple[list[dict[str, Any]], int, float]:
    """Run one benchmark; returns its figures, exit code and wall time."""
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True
    )
    (logs / f"{module.split('.')[-1]}.log").write_text(done.stdout + done.stderr)
    rows = [
        json.loads(line[len(PREFIX) :])
        for line in done.stdout.splitlines()
        if line.startswith(PREFIX)
    ]
    return rows, done.returncode, time.perf_counter() - began


def _fmt(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def main() -> int:
    parser = argparse.ArgumentParser(description="run every benchmark, print one table")
    parser.add_argument("--quick", action="store_true", help="smaller workloads")
    args = parser.parse_args()
    logs = ROOT / "var" / "benchmarks"
    logs.mkdir(parents=True, exist_ok=True)
    table: list[tuple[str, dict[str, Any]]] = []
    failed = []
    for module, full, quick in BENCHMARKS:
        name = module.split(".")[-1]
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows, code, seconds = run(module, quick if args.quick else full, logs)
        if code != 0 or not rows:
            failed.append(f"{name} (exit {code}, see var/benchmarks/{name}.log)")
        table += [(name, row) for row in rows]
        print(f"  done in {seconds:.0f} s", file=sys.stderr, flush=True)
    header = (
        f"{'benchmark':<16}{'figure':<34}{'value':>12} {'unit':<9}{'baseline':>11}"
        f"{'ratio':>8}  {'target':<22}{'met':<5}"
    )
    print(header)
    print("-" * len(header))
    for name, row in table:
        met = {True: "yes", False: "NO"}.get(row.get("met"), "-")
        print(
            f"{name:<16}{row['name']:<34}{_fmt(row['value']):>12} {row['unit']:<9}"
            f"{_fmt(row.get('baseline')):>11}{_fmt(row.get('ratio')):>8}  "
            f"{row.get('target', '-'):<22}{met:<5}"
        )
    for problem in failed:
        print(f"FAILED: {problem}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
