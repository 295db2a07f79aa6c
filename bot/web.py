"""HTTP edge: alert webhooks, health, readiness (and Slack events when Slack is configured).

It parses and delegates: a webhook becomes one ``Pipeline.receive`` call; nothing here writes
to the store or reads settings (the composition root hands in a ``WebConfig``).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot import logs, metrics
from bot.clock import utcnow
from bot.errors import BotError, PayloadError, StoreError
from bot.ingest import SOURCES
from bot.runtime import Runtime
from bot.webguard import BodyGuard, pagerduty_signature_valid

log = logging.getLogger(__name__)


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


@dataclass(frozen=True)
class WebConfig:
    """What the HTTP edge needs to know, as plain values."""

    webhook_token: bytes | None = None
    allow_unauthenticated: bool = False
    pagerduty_secret: bytes | None = None
    max_body_bytes: int = 1_048_576
    read_timeout_seconds: float = 10.0
    # /readyz asks the store with this deadline; a slow store is "not ready", not a hang.
    ready_timeout_seconds: float = 2.0
    # A webhook that cannot be stored within this answers 503 with Retry-After.
    store_timeout_seconds: float = 5.0


async def read_body(request: Request, limit: int) -> bytes:
    """Read at most ``limit`` bytes; a larger body is refused with 413 before it is buffered."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise PayloadError("Content-Length header is not a number", 400)
        if int(declared) > limit:
            raise PayloadError(f"body of {declared} bytes exceeds the limit of {limit} bytes", 413)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadError(f"body exceeds the limit of {limit} bytes", 413)
            chunks.append(chunk)
    except ClientDisconnect:
        raise PayloadError("client disconnected before the body was complete", 400) from None
    return b"".join(chunks)


def _authorised(request: Request, web: WebConfig, source: str, body: bytes) -> bool:
    if source == "pagerduty" and web.pagerduty_secret is not None:
        signature = request.headers.get("x-pagerduty-signature")
        if pagerduty_signature_valid(web.pagerduty_secret, signature, body):
            return True
        if web.webhook_token is None:
            return False
    if web.webhook_token is None:
        return web.allow_unauthenticated
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), web.webhook_token)


def alert_endpoint(runtime: Runtime, web: WebConfig) -> Callable[..., Awaitable[Response]]:
    """POST /alerts/{source}: 202 at once with what was filed; triage is queued."""

    async def receive(request: Request) -> Response:
        source = request.path_params["source"]
        try:
            # Bounded by BodyGuard already; PagerDuty's signature covers the raw body.
            body = await read_body(request, web.max_body_bytes)
        except PayloadError as exc:
            return _error(exc.status, str(exc), source=source)
        if not _authorised(request, web, source, body):
            return _error(401, "missing or wrong bearer token (Authorization: Bearer <token>)")
        if source not in SOURCES:
            return _error(404, f"unknown alert source {source!r}; known: {', '.join(SOURCES)}")
        try:
            async with asyncio.timeout(web.store_timeout_seconds):
                receipt = await runtime.pipeline.receive(
                    source, body, request.headers.get("content-type"), utcnow()
                )
        except PayloadError as exc:
            metrics.ALERTS_RECEIVED.labels(source, "rejected").inc()
            return _error(exc.status, str(exc), source=source)
        except (StoreError, TimeoutError) as exc:
            log.error("store unavailable while ingesting", extra={"error": repr(exc)})
            answer = _error(503, "store unavailable; retry later", source=source)
            answer.headers["Retry-After"] = "5"
            return answer
        return JSONResponse(receipt.summary(), status_code=202)

    return receive


def health_endpoints(runtime: Runtime, web: WebConfig) -> list[BaseRoute]:
    """/healthz (process up, never touches the store), /readyz (store, policy), /metrics."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(runtime.store.ping(), web.ready_timeout_seconds)
            checks["store"] = "ok"
        except BotError as exc:
            checks["store"] = f"error: {exc}"
        except TimeoutError:
            checks["store"] = f"error: no answer within {web.ready_timeout_seconds:g}s"
        checks["policy"] = f"ok ({runtime.policy.revision[:12]})"
        checks.update(await runtime.extra_readiness())
        ready = all(value.startswith("ok") or value == "off" for value in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    async def metrics_page(request: Request) -> Response:
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    return [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_page),
    ]


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error(exc.status_code, str(exc.detail))


class RequestIds:
    """ASGI middleware: every request gets an id (X-Request-ID or a new one) in logs and reply."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers", [])).get(b"x-request-id", b"").decode("latin-1")
        request_id = given[:64] if given.isprintable() and given else secrets.token_hex(8)
        token = logs.REQUEST_ID.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.append("X-Request-ID", request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            logs.REQUEST_ID.reset(token)


def create_app(
    runtime: Runtime, web: WebConfig, extra_routes: list[BaseRoute] | None = None
) -> Starlette:
    """The ASGI app for ``incident-bot serve``."""
    guard = Middleware(
        BodyGuard,
        max_body_bytes=web.max_body_bytes,
        read_timeout_seconds=web.read_timeout_seconds,
    )
    routes: list[BaseRoute] = [
        Route(
            "/alerts/{source}",
            alert_endpoint(runtime, web),
            methods=["POST"],
            middleware=[guard],
        ),
        *health_endpoints(runtime, web),
        *(extra_routes or []),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error},
        middleware=[Middleware(RequestIds)],
    )
