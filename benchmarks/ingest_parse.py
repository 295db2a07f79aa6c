"""Parser benchmark: parse_payload against a bare json.loads of the same bytes.

    .venv/bin/python -m benchmarks.ingest_parse [--repeat N]

For each fixture, a large Alertmanager group, a string-heavy 1 MB body and a 100k-deep
nesting attack, prints the median time per payload for ``json.loads`` (the baseline: the
least any JSON endpoint must do) and for ``parse_payload`` (size, content type, UTF-8,
depth scan, parse, validation, normalisation), and their ratio.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from statistics import median

from benchmarks.report import figure
from bot.errors import PayloadError
from bot.ingest import IngestOptions, parse_payload

ROOT = Path(__file__).resolve().parent.parent
PAYLOADS = ROOT / "tests" / "data" / "payloads"
RECEIVED = datetime(2026, 11, 24, tzinfo=UTC)
OPTIONS = IngestOptions(max_body_bytes=4 * 1_048_576)


def _time(work: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        samples.append(time.perf_counter() - started)
    return median(samples)


def _parse(source: str, body: bytes) -> Callable[[], object]:
    def work() -> object:
        try:
            return parse_payload(
                source, body, "application/json", received_at=RECEIVED, options=OPTIONS
            )
        except PayloadError as exc:
            return exc

    return work


def _large_alertmanager(count: int) -> bytes:
    document = json.loads((PAYLOADS / "alertmanager" / "firing_multi.json").read_text())
    template = document["alerts"][0]
    alerts = []
    for index in range(count):
        alert = json.loads(json.dumps(template))
        alert["labels"]["instance"] = f"checkout-{index}:8080"
        alert["fingerprint"] = f"{index:016x}"
        alerts.append(alert)
    document["alerts"] = alerts
    return json.dumps(document).encode()


def _string_heavy() -> bytes:
    # Quotes, escapes and brackets inside strings: the worst case for the depth scan.
    noisy = '[{\\"x\\": [1]}] ' * 60
    labels = {f"k{i}": noisy for i in range(1000)}
    return json.dumps({"title": "t", "service": "s", "labels": labels}).encode()


def cases() -> list[tuple[str, str, bytes]]:
    """(name, source, body) for every measured payload."""
    found = [
        (str(path.relative_to(PAYLOADS)), path.parent.name, path.read_bytes())
        for path in sorted(PAYLOADS.glob("*/*.json"))
    ]
    found.append(("alertmanager x1000 alerts", "alertmanager", _large_alertmanager(1000)))
    found.append(("generic string-heavy", "generic", _string_heavy()))
    found.append(("nesting attack 100k deep", "generic", b"[" * 100_000 + b"]" * 100_000))
    return found


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    print(f"{'payload':34} {'bytes':>9} {'json.loads':>12} {'parse':>12} {'ratio':>7}")
    for name, source, body in cases():
        repeat = max(5, args.repeat // max(1, len(body) // 20_000))

        def baseline(body: bytes = body) -> object:
            try:
                return json.loads(body)
            except RecursionError as exc:
                return exc

        base = _time(baseline, repeat)
        ours = _time(_parse(source, body), repeat)
        print(
            f"{name:34} {len(body):>9} {base * 1e6:>10.1f}us {ours * 1e6:>10.1f}us "
            f"{ours / base:>6.1f}x"
        )
        figure(f"parse {name}", ours * 1e6, "us", baseline=base * 1e6)


if __name__ == "__main__":
    main()
