"""Start-up time and idle resident memory of `incident-bot serve` vs a bare uvicorn app.

    .venv/bin/python -m benchmarks.serve_footprint

Targets: idle RSS <= 150 MiB. The baseline is the bare Starlette app of benchmarks/ingest.py
under the same uvicorn, started the same way in the same run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from benchmarks.report import figure

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def measure(argv: list[str], env: dict[str, str], port: int, probe: str) -> tuple[float, float]:
    """(seconds until the first HTTP answer, RSS in MiB after 3 s idle)."""
    began = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"exited early: {argv}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}{probe}", timeout=1)
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                time.sleep(0.01)
        started = time.perf_counter() - began
        time.sleep(3.0)
        return started, _rss_mib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="footprint-") as tmp:
        env = dict(
            os.environ,
            SQLITE_PATH=f"{tmp}/bot.db",
            RUNBOOK_INDEX_PATH=f"{tmp}/rb.db",
            LOG_LEVEL="WARNING",
            ALERT_WEBHOOK_ALLOW_UNAUTHENTICATED="true",
        )
        port = _free_port()
        ours = measure(
            [sys.executable, "-m", "bot.cli", "serve", "--port", str(port)], env, port, "/healthz"
        )
        port = _free_port()
        bare = measure(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "benchmarks.bare_ingest_app:app",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            dict(os.environ),
            port,
            "/",
        )
    print(f"{'process':<28}{'start-up s':>12}{'idle RSS MiB':>14}")
    print(f"{'bare uvicorn + Starlette':<28}{bare[0]:>12.2f}{bare[1]:>14.1f}")
    print(f"{'incident-bot serve':<28}{ours[0]:>12.2f}{ours[1]:>14.1f}")
    figure("serve start-up", ours[0], "s", baseline=bare[0])
    figure(
        "serve idle RSS", ours[1], "MiB", baseline=bare[1], target="<= 150 MiB", met=ours[1] <= 150
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
