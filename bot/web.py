"""HTTP edge: alert webhooks, health, readiness (and Slack events when Slack is configured)."""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
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
from bot.app import Services
from bot.clock import utcnow
from bot.errors import BotError, PayloadError, StoreError
from bot.ingest import SOURCES
from bot.webguard import BodyGuard, pagerduty_signature_valid

log = logging.getLogger(__name__)


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


class BackgroundWork:
    """Tasks started after a response is sent; kept referenced and drained on shutdown."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, work: Awaitable[None], name: str) -> None:
        """Run ``work`` in the background, logging (never raising) its failure."""

        async def guarded() -> None:
            try:
                await work
            except Exception:
                log.exception("background work failed", extra={"work": name})

        task = asyncio.get_running_loop().create_task(guarded(), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait for running tasks (bounded) so a clean shutdown loses no triage."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    def __len__(self) -> int:
        return len(self._tasks)


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


def _authorised(request: Request, services: Services, source: str, body: bytes) -> bool:
    settings = services.settings
    pagerduty_secret = settings.pagerduty_signing_secret
    if source == "pagerduty" and pagerduty_secret is not None:
        signature = request.headers.get("x-pagerduty-signature")
        secret = pagerduty_secret.get_secret_value().encode()
        if pagerduty_signature_valid(secret, signature, body):
            return True
        if settings.alert_webhook_token is None:
            return False
    token = settings.alert_webhook_token
    if token is None:
        return settings.alert_webhook_allow_unauthenticated
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), token.get_secret_value().encode())


def alert_endpoint(services: Services, work: BackgroundWork) -> Callable[..., Awaitable[Response]]:
    """POST /alerts/{source}: 202 at once with what was filed, triage in the background."""

    async def receive(request: Request) -> Response:
        source = request.path_params["source"]
        try:
            body = await read_body(request, services.settings.alert_max_body_bytes)
        except PayloadError as exc:
            return _error(exc.status, str(exc), source=source)
        if not _authorised(request, services, source, body):
            return _error(401, "missing or wrong bearer token (Authorization: Bearer <token>)")
        if source not in SOURCES:
            return _error(404, f"unknown alert source {source!r}; known: {', '.join(SOURCES)}")
        try:
            receipt = await services.pipeline.ingest(
                source, body, request.headers.get("content-type"), utcnow()
            )
        except PayloadError as exc:
            metrics.ALERTS_RECEIVED.labels(source, "rejected").inc()
            return _error(exc.status, str(exc), source=source)
        except StoreError as exc:
            log.error("store unavailable while ingesting", extra={"error": str(exc)})
            return _error(503, "store unavailable; retry later", source=source)
        for incident_id in receipt.new_incident_ids:
            work.start(services.triage_in_background(incident_id), f"triage:{incident_id}")
        return JSONResponse(
            {
                "source": source,
                "received": receipt.received,
                "accepted": receipt.stored,
                "duplicates": receipt.duplicates,
                "unmatched_resolved": receipt.unmatched_resolved,
                "truncated": receipt.truncated,
                "incident_ids": receipt.incident_ids,
                "new_incident_ids": receipt.new_incident_ids,
            },
            status_code=202,
        )

    return receive


def health_endpoints(services: Services) -> list[BaseRoute]:
    """/healthz (process up), /readyz (store reachable, policy loaded), /metrics."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        checks: dict[str, str] = {}
        try:
            await services.store.ping()
            checks["store"] = "ok"
        except BotError as exc:
            checks["store"] = f"error: {exc}"
        checks["policy"] = f"ok ({services.policy.revision[:12]})"
        checks.update(await services.extra_readiness())
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


def create_app(services: Services, extra_routes: list[BaseRoute] | None = None) -> Starlette:
    """The ASGI app for ``incident-bot serve``."""
    work = BackgroundWork()
    routes: list[BaseRoute] = [
        Route(
            "/alerts/{source}",
            alert_endpoint(services, work),
            methods=["POST"],
            middleware=[
                Middleware(
                    BodyGuard,
                    max_body_bytes=services.settings.alert_max_body_bytes,
                    read_timeout_seconds=services.settings.webhook_read_timeout_seconds,
                )
            ],
        ),
        *health_endpoints(services),
        *(extra_routes or []),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await services.start()
        try:
            yield
        finally:
            await work.drain()
            await services.stop()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error},
        middleware=[Middleware(RequestIds)],
    )
    app.state.background = work
    return app
