"""Redaction cost: ``Redactor.redact`` per KiB of realistic alert text and of hostile text.

    .venv/bin/python -m benchmarks.redaction [--repeat N]

Realistic text is every bundled source payload (tests/data/payloads) with a few secrets
mixed in; the baseline measured in the same run is ``str.lower`` over the same text (one
pass that touches every character, the least any scan must do). ``redact_payload_text`` is
compared with a bare ``json.loads`` + ``json.dumps`` round trip of the same body. Hostile
inputs are 1 MiB strings built to make backtracking patterns go quadratic.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median

from benchmarks.report import figure
from bot.redaction import Redactor

ROOT = Path(__file__).resolve().parent.parent
PAYLOADS = ROOT / "tests" / "data" / "payloads"
SECRETS = (
    "DB_PASSWORD=hunter2 token=ghp_0123456789abcdefghijklmnopqrstuvwxyzAB "
    "https://hooks.slack.com/services/T0A1B2C3D/B0A1B2C3D/aBcDeFgHiJkLmNoPqRsTuVwX "
    "aws secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY ops@example.com 10.0.0.7\n"
)
HOSTILE = {
    "key_value": "token: " * 150_000,
    "quotes": 'token="' * 150_000,
    "entropy": "aB3xY7pQ9zK2mN5vL8wR1tS " * 43_000,
    "url": "a://a:" * 175_000,
    "email": "a@" * 524_288,
}


def _time(work: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        samples.append(time.perf_counter() - started)
    return median(samples)


def realistic_text() -> str:
    """All bundled payloads, each followed by a line of planted secrets."""
    bodies = [path.read_text() for path in sorted(PAYLOADS.glob("*/*.json"))]
    return "".join(body + "\n" + SECRETS for body in bodies)


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    redactor = Redactor()
    text = realistic_text()
    kib = len(text.encode()) / 1024
    base = _time(text.lower, args.repeat)
    ours = _time(lambda: redactor.redact(text), args.repeat)
    print(f"realistic text {kib:.0f} KiB: redact {ours / kib * 1e6:.1f} us/KiB, "
          f"str.lower {base / kib * 1e6:.2f} us/KiB, {ours / base:.0f}x")  # fmt: skip
    figure("redact realistic alert text", ours / kib * 1e6, "us/KiB", baseline=base / kib * 1e6)

    bodies = [path.read_text() for path in sorted(PAYLOADS.glob("*/*.json"))]
    size = sum(len(body.encode()) for body in bodies) / 1024
    base = _time(lambda: [json.dumps(json.loads(body)) for body in bodies], args.repeat)
    ours = _time(lambda: [redactor.redact_payload_text(body) for body in bodies], args.repeat)
    print(f"payload bodies {size:.0f} KiB: {ours / size * 1e6:.1f} us/KiB, {ours / base:.0f}x")
    figure("redact_payload_text", ours / size * 1e6, "us/KiB", baseline=base / size * 1e6)

    for name, hostile in HOSTILE.items():
        mib = len(hostile.encode()) / 1_048_576
        base = _time(hostile.lower, 3)
        ours = _time(lambda hostile=hostile: redactor.redact(hostile), 3)  # type: ignore[misc]
        print(f"hostile {name:10} {ours / mib * 1e3:8.1f} ms/MiB  {ours / base:.0f}x")
        figure(
            f"redact hostile {name}",
            ours / mib * 1e3,
            "ms/MiB",
            baseline=base / mib * 1e3,
            target="< 1000 ms/MiB",
            met=ours / mib < 1.0,
        )


if __name__ == "__main__":
    main()
