"""A real Prometheus on loopback scraping a tiny exporter the test moves by hand.

``Exporter`` serves ``/metrics`` in Prometheus's text format with gauges whose values the test
sets; ``PrometheusServer`` runs Debian's ``prometheus`` binary scraping it every second.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.integration.slack.harness import free_port


class Exporter:
    """``/metrics`` with one gauge family per name: {name: {label value tuple: value}}."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._gauges: dict[tuple[str, str, str], float] = {}
        self.served: dict[tuple[str, str, str], list[float]] = {}
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                body = exporter.text().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def set(self, name: str, label: str, value_of_label: str, value: float) -> None:
        """Move one gauge; every value it ever held is remembered in ``served``."""
        key = (name, label, value_of_label)
        with self._lock:
            self._gauges[key] = value
            self.served.setdefault(key, []).append(value)

    def text(self) -> str:
        with self._lock:
            items = sorted(self._gauges.items())
        lines: list[str] = []
        for name in sorted({key[0] for key, _ in items}):
            lines += [f"# HELP {name} test gauge", f"# TYPE {name} gauge"]
            for (gauge, label, value_of_label), value in items:
                if gauge == name:
                    lines.append(f'{name}{{{label}="{value_of_label}"}} {value}')
        return "\n".join(lines) + "\n"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class PrometheusServer:
    """Debian's prometheus, scraping ``target`` every second, TSDB in ``workdir``."""

    def __init__(self, workdir: Path, target_port: int) -> None:
        self.port = free_port()
        self.workdir = workdir
        config = workdir / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: exporter\n"
            f"    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
        )
        binary = shutil.which("prometheus")
        if binary is None:
            raise RuntimeError("prometheus is not installed (scripts/test.sh installs it)")
        self._log = (workdir / "prometheus.log").open("wb")
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("prometheus exited early")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"prometheus not ready in {timeout}s")

    def query_range(self, expr: str, seconds: float) -> list[list[float]]:
        """The samples of ``expr`` over the last ``seconds`` (one series), oldest first."""
        end = time.time()
        query = urllib.parse.urlencode(
            {"query": expr, "start": end - seconds, "end": end, "step": 1}
        )
        with urllib.request.urlopen(f"{self.url}/api/v1/query_range?{query}", timeout=5) as a:
            result = json.load(a)["data"]["result"]
        return [[float(t), float(v)] for t, v in result[0]["values"]] if result else []

    def wait_until(self, expr: str, holds: Any, timeout: float = 30.0) -> list[list[float]]:
        """Poll a range query until ``holds(samples)``; AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        samples: list[list[float]] = []
        while time.monotonic() < deadline:
            samples = self.query_range(expr, 600)
            if holds(samples):
                return samples
            time.sleep(0.2)
        raise AssertionError(f"{expr} never held in {timeout}s: {samples[-5:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self._log.close()


@contextmanager
def running_prometheus(workdir: Path) -> Iterator[tuple[Exporter, PrometheusServer]]:
    """An exporter and a Prometheus scraping it, both stopped afterwards."""
    exporter = Exporter()
    server = PrometheusServer(workdir, exporter.port)
    try:
        server.wait_ready()
        yield exporter, server
    finally:
        server.stop()
        exporter.stop()
