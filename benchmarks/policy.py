"""Policy benchmark: evaluate() decisions per second on the shipped policies.

    .venv/bin/python -m benchmarks.policy [--decisions N] [--repeat R]

The workload is every case in policies/tests/*.yaml (allow, approval, deny, look-alikes,
freezes, recorded approvals), cycled. The baseline, measured in the same run on the same
inputs, is the least an allowlist check can do: two dict lookups (action, then service).
Prints the best and median rate of each (runs alternate, so machine load hits both alike) and
evaluate's cost as a multiple of the baseline's.
Target: >= 20,000 decisions per second on one core.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median

from benchmarks.report import figure
from bot.models import Proposal
from bot.policy import EvaluationContext, load_policy
from bot.policy.cases import load_cases

ROOT = Path(__file__).resolve().parent.parent
TARGET_PER_SECOND = 20_000


def _rates(
    baseline: Callable[[], int], engine: Callable[[], int], repeat: int
) -> tuple[list[float], list[float]]:
    # Alternate the two so that load from other processes on the machine hits both alike.
    base_rates: list[float] = []
    engine_rates: list[float] = []
    for _ in range(repeat):
        for work, rates in ((baseline, base_rates), (engine, engine_rates)):
            started = time.perf_counter()
            done = work()
            rates.append(done / (time.perf_counter() - started))
    return base_rates, engine_rates


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    policy = load_policy(ROOT / "policies")
    cases = load_cases(ROOT / "policies")
    inputs: list[tuple[Proposal, EvaluationContext]] = [(c.proposal, c.context) for c in cases]
    work = [inputs[i % len(inputs)] for i in range(args.decisions)]
    allowlist = {name: True for name in policy.actions}
    services = {name: spec.tier for name, spec in policy.services.items()}

    def baseline() -> int:
        allowed = 0
        for proposal, _ in work:
            if allowlist.get(proposal.action) and services.get(proposal.service) is not None:
                allowed += 1
        return len(work)

    def evaluate() -> int:
        for proposal, context in work:
            policy.evaluate(proposal, context)
        return len(work)

    evaluate()  # warm caches (regex compilation, service-name resolution)
    base_rates, engine_rates = _rates(baseline, evaluate, args.repeat)
    base, engine = max(base_rates), max(engine_rates)
    print(
        f"workload: {len(inputs)} distinct policy cases, {args.decisions} decisions per run, "
        f"{args.repeat} alternating runs each, one core (best run; median in brackets)"
    )
    print(
        f"baseline dict-lookup allowlist check: {base:>12,.0f} checks/s ({median(base_rates):,.0f})"
    )
    print(
        f"policy.evaluate (full trace):         {engine:>12,.0f} decisions/s "
        f"({median(engine_rates):,.0f})"
    )
    print(
        f"evaluate costs {base / engine:,.0f}x the baseline per decision; "
        f"target {TARGET_PER_SECOND:,}/s: {'met' if engine >= TARGET_PER_SECOND else 'MISSED'}"
    )
    figure(
        "evaluate decisions/s (best)",
        engine,
        "per s",
        baseline=base,
        target=f">= {TARGET_PER_SECOND:,}/s",
        met=engine >= TARGET_PER_SECOND,
    )
    figure(
        "evaluate decisions/s (median)", median(engine_rates), "per s", baseline=median(base_rates)
    )


if __name__ == "__main__":
    main()
