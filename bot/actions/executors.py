"""Executors: dry_run (the shipped default), http (POST a JSON body), command (argv, no shell),
prometheus_query (read-only, through the ``Metrics`` port)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from pydantic import SecretStr

from bot.actions.plans import ExecutionPlan, check_argv
from bot.errors import EvidenceError
from bot.evidence.series import summarise
from bot.ports import Metrics, RunReport

log = logging.getLogger(__name__)

MAX_OUTPUT_CHARS = 4000
# The only variables a command inherits from the bot (whose environment holds its tokens).
INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ")
# The request id, so a program can refuse to do twice what one request asked once.
REQUEST_ID_ENV = "INCIDENT_BOT_REQUEST_ID"
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


def command_env(request_id: str, parent: Mapping[str, str] | None = None) -> dict[str, str]:
    """A command's whole environment: a few locale/path variables and the request id."""
    source = os.environ if parent is None else parent
    env = {name: source[name] for name in INHERITED_ENV if name in source}
    env.setdefault("PATH", DEFAULT_PATH)
    env[REQUEST_ID_ENV] = request_id
    return env


def _tail(text: str) -> str:
    return text if len(text) <= MAX_OUTPUT_CHARS else "…" + text[-MAX_OUTPUT_CHARS:]


class DryRunExecutor:
    """Records exactly what would run and runs nothing."""

    async def run(self, plan: ExecutionPlan) -> RunReport:
        """Report the rendered plan as the result."""
        return RunReport(ok=True, detail={"dry_run": True, "would_run": plan.describe()})


class CommandExecutor:
    """Runs an argv with ``create_subprocess_exec``: no shell, whole-argument parameters only.

    The child gets a minimal environment (``command_env``): never the bot's own secrets, and
    ``INCIDENT_BOT_REQUEST_ID`` as its idempotency key.
    """

    def __init__(self, default_timeout: float) -> None:
        self.default_timeout = default_timeout

    async def run(self, plan: ExecutionPlan) -> RunReport:
        """Start the program, wait up to the timeout, report exit status and output."""
        # The template check already ran at render time; repeat it at the door.
        check_argv(plan.argv, plan.template)
        timeout = plan.timeout_seconds or self.default_timeout
        process = await asyncio.create_subprocess_exec(
            *plan.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=command_env(plan.request_id),
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            return RunReport(
                ok=False, detail={"argv": list(plan.argv)}, error=f"timed out after {timeout}s"
            )
        detail = {
            "argv": list(plan.argv),
            "exit_code": process.returncode,
            "stdout": _tail(out.decode("utf-8", "replace")),
            "stderr": _tail(err.decode("utf-8", "replace")),
        }
        if process.returncode != 0:
            return RunReport(ok=False, detail=detail, error=f"exit code {process.returncode}")
        return RunReport(ok=True, detail=detail)


class HttpExecutor:
    """POSTs the rendered JSON body to the action's URL with a bearer token and a timeout.

    ``Idempotency-Key`` carries the request id: a receiver that honours it does a retried or
    repeated delivery of one request once.
    """

    def __init__(self, token: SecretStr | None, default_timeout: float) -> None:
        self._token = token
        self.default_timeout = default_timeout

    async def run(self, plan: ExecutionPlan) -> RunReport:
        """Send the request; 2xx is success, anything else (or no answer) is failure."""
        timeout = aiohttp.ClientTimeout(total=plan.timeout_seconds or self.default_timeout)
        headers = {
            "User-Agent": "incident-bot",
            "X-Incident-Bot-Request": plan.request_id,
            "Idempotency-Key": plan.request_id,
        }
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        detail: dict[str, Any] = {"method": plan.method, "url": plan.url}
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.request(
                    plan.method, plan.url, json=plan.body, headers=headers, allow_redirects=False
                ) as response,
            ):
                text = await response.text(errors="replace")
        except (aiohttp.ClientError, TimeoutError) as exc:
            return RunReport(ok=False, detail=detail, error=f"request failed: {exc!r}")
        detail.update(status=response.status, response=_tail(text))
        if not 200 <= response.status < 300:
            return RunReport(ok=False, detail=detail, error=f"HTTP {response.status}")
        return RunReport(ok=True, detail=detail)


class PrometheusQueryExecutor:
    """Runs a read-only PromQL query: instant, or a range up to now; reports a summary.

    The server, its credentials and TLS settings come from settings (``metrics``); a plan
    carries only the query. Without a configured server every run fails with that reason.
    """

    def __init__(self, metrics: Metrics | None) -> None:
        self._metrics = metrics

    async def run(self, plan: ExecutionPlan) -> RunReport:
        """Query, then report how many series came back and their min / max / latest."""
        detail: dict[str, Any] = {"query": plan.query}
        if self._metrics is None:
            return RunReport(ok=False, detail=detail, error="no Prometheus is configured")
        end = datetime.now(UTC)
        try:
            if plan.range_seconds:
                start = end - timedelta(seconds=plan.range_seconds)
                step = plan.step_seconds or max(plan.range_seconds / 240, 1.0)
                series = await self._metrics.query_range(plan.query, start, end, step)
            else:
                series = await self._metrics.query(plan.query)
        except EvidenceError as exc:
            return RunReport(ok=False, detail=detail, error=str(exc))
        summary = summarise(plan.query, series)
        detail["series"] = len(series)
        detail["summary"] = summary.as_data() if summary else None
        detail["text"] = summary.text() if summary else "no data"
        return RunReport(ok=True, detail=detail)
