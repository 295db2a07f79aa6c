"""The ``Metrics`` port on Prometheus's HTTP API: ``/api/v1/query`` and ``/api/v1/query_range``.

Credentials come from settings (a bearer token, or basic auth), never from a plan or an alert;
TLS is verified unless told otherwise (a CA bundle for a private CA, or ``verify_tls=False`` for
a local server). Every failure — no connection, a timeout, a non-2xx answer, ``status:
error``, a body that is not the documented shape — becomes an ``EvidenceError`` naming the query.
"""

from __future__ import annotations

import json
import math
import ssl
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import SecretStr

from bot.errors import EvidenceError
from bot.evidence.series import MAX_EXPR_CHARS, Series, thinned

# Prometheus refuses a range query of more than 11,000 points per series; stay well under.
MAX_RANGE_POINTS = 10_000
MAX_ANSWER_BYTES = 20 * 1024 * 1024


class PrometheusClient:
    """Queries one Prometheus server (or anything serving its HTTP API: Thanos, Mimir)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_seconds: float = 10.0,
        bearer_token: SecretStr | None = None,
        username: str = "",
        password: SecretStr | None = None,
        ca_bundle: Path | None = None,
        verify_tls: bool = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self._headers = {"User-Agent": "incident-bot", "Accept": "application/json"}
        if bearer_token is not None:
            self._headers["Authorization"] = f"Bearer {bearer_token.get_secret_value()}"
        self._auth = (
            aiohttp.BasicAuth(username, password.get_secret_value() if password else "")
            if username
            else None
        )
        self._ssl: ssl.SSLContext | bool = True
        if not verify_tls:
            self._ssl = False
        elif ca_bundle is not None:
            self._ssl = ssl.create_default_context(cafile=str(ca_bundle))

    async def query(self, expr: str, at: datetime | None = None) -> list[Series]:
        """GET /api/v1/query; a vector or scalar answer becomes one-sample series."""
        params = {"query": _checked(expr)}
        if at is not None:
            params["time"] = f"{at.timestamp():.3f}"
        return _series(await self._get("/api/v1/query", params, expr), expr)

    async def query_range(
        self, expr: str, start: datetime, end: datetime, step_seconds: float
    ) -> list[Series]:
        """GET /api/v1/query_range; the step is widened so no series exceeds the server's cap."""
        span = max(0.0, (end - start).total_seconds())
        step = max(step_seconds, span / MAX_RANGE_POINTS, 0.001)
        params = {
            "query": _checked(expr),
            "start": f"{start.timestamp():.3f}",
            "end": f"{end.timestamp():.3f}",
            "step": f"{step:.3f}",
        }
        return _series(await self._get("/api/v1/query_range", params, expr), expr)

    async def _get(self, path: str, params: dict[str, str], expr: str) -> dict[str, Any]:
        timeout = aiohttp.ClientTimeout(total=self.timeout_seconds)
        what = f"prometheus {path} {expr[:200]!r}"
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(
                    self.base_url + path,
                    params=params,
                    headers=self._headers,
                    auth=self._auth,
                    ssl=self._ssl,
                    allow_redirects=False,
                ) as response,
            ):
                if response.content_length and response.content_length > MAX_ANSWER_BYTES:
                    raise EvidenceError(f"{what}: answer too large")
                body = await response.content.read(MAX_ANSWER_BYTES + 1)
                status = response.status
        except (aiohttp.ClientError, TimeoutError, ssl.SSLError) as exc:
            raise EvidenceError(f"{what}: {type(exc).__name__}: {exc}") from None
        if len(body) > MAX_ANSWER_BYTES:
            raise EvidenceError(f"{what}: answer too large")
        try:
            document = _json(body)
        except ValueError:
            raise EvidenceError(f"{what}: HTTP {status}, not JSON") from None
        if document.get("status") != "success" or not 200 <= status < 300:
            error = str(document.get("error") or "")[:300]
            kind = str(document.get("errorType") or "")[:40]
            raise EvidenceError(f"{what}: HTTP {status} {kind} {error}".rstrip())
        data = document.get("data")
        if not isinstance(data, dict):
            raise EvidenceError(f"{what}: no data in the answer")
        return data


def _json(body: bytes) -> dict[str, Any]:
    document = json.loads(body)
    if not isinstance(document, dict):
        raise ValueError("not an object")
    return document


def _checked(expr: str) -> str:
    expr = expr.strip()
    if not expr or len(expr) > MAX_EXPR_CHARS:
        raise EvidenceError(f"expression empty or longer than {MAX_EXPR_CHARS} characters")
    return expr


def _sample(pair: Any) -> tuple[float, float] | None:
    # [<unix seconds>, "<value>"]; values are strings so NaN and ±Inf survive JSON.
    if not isinstance(pair, list) or len(pair) != 2:
        return None
    try:
        return float(pair[0]), float(pair[1])
    except (TypeError, ValueError):
        return None


def _series(data: dict[str, Any], expr: str) -> list[Series]:
    kind = data.get("resultType")
    result = data.get("result")
    if kind == "scalar":
        sample = _sample(result)
        return [Series({}, (sample,))] if sample else []
    if kind not in ("vector", "matrix") or not isinstance(result, list):
        raise EvidenceError(f"prometheus {expr[:200]!r}: unexpected result type {kind!r}")
    found: list[Series] = []
    for item in result:
        if not isinstance(item, dict):
            continue
        metric = item.get("metric")
        labels = {str(k): str(v) for k, v in metric.items()} if isinstance(metric, dict) else {}
        raw = [item.get("value")] if kind == "vector" else item.get("values") or []
        points = [p for p in (_sample(pair) for pair in raw) if p is not None]
        points = [(t, v) for t, v in points if math.isfinite(t)]
        if points:
            found.append(Series(labels, thinned(points)))
    return found
