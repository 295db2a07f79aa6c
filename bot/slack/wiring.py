"""Build the Bolt app from Services and attach it: one /slack/events route, or Socket Mode."""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.app import Services
from bot.config import Settings
from bot.errors import ConfigError
from bot.metrics import SLACK_API_RETRIES
from bot.redaction import Redactor
from bot.slack import commands, events, interactions
from bot.slack.approvers import ApproverDirectory
from bot.slack.notifier import SlackNotifier
from bot.slack.outbox import Outbox
from bot.slack.runtime import SlackRuntime
from bot.web import BackgroundWork
from bot.webguard import SlackEventsGuard

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
API_TIMEOUT_SECONDS = 10
RETRIES = 2
READINESS_CACHE_SECONDS = 30.0


class _CountedRateLimitRetry(AsyncRateLimitErrorRetryHandler):
    """Waits out a 429 as Retry-After says, and counts it."""

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        SLACK_API_RETRIES.labels(reason="rate_limited").inc()
        await super().prepare_for_next_attempt_async(
            state=state, request=request, response=response, error=error
        )


class _CountedConnectionRetry(AsyncConnectionErrorRetryHandler):
    """Retries a dropped connection, and counts it."""

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        SLACK_API_RETRIES.labels(reason="connection").inc()
        await super().prepare_for_next_attempt_async(
            state=state, request=request, response=response, error=error
        )


def build_client(settings: Settings) -> AsyncWebClient:
    """The Web API client: SLACK_API_URL as base, retries on 429 and dropped connections."""
    if settings.slack_bot_token is None:
        raise ConfigError("SLACK_BOT_TOKEN must be set to talk to Slack")
    return AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=API_TIMEOUT_SECONDS,
        retry_handlers=[
            _CountedRateLimitRetry(max_retry_count=RETRIES),
            _CountedConnectionRetry(max_retry_count=RETRIES),
        ],
    )


def build_app(client: AsyncWebClient, signing_secret: str) -> AsyncApp:
    """A Bolt app that answers as soon as the listener returns (listeners ack first)."""
    app = AsyncApp(client=client, signing_secret=signing_secret, process_before_response=True)
    app.error(_on_error)
    return app


async def _on_error(error: Exception, body: dict[str, Any]) -> None:
    correlation = secrets.token_hex(4)
    log.error(
        "slack listener failed",
        exc_info=error,
        extra={"correlation_id": correlation, "payload_type": body.get("type", "?")},
    )


class SlackProbe:
    """Readiness: auth.test succeeds (cached briefly so probes do not hammer Slack)."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client
        self._cached: tuple[float, dict[str, str]] | None = None

    async def check(self) -> dict[str, str]:
        """``{"slack": "ok (...)"}`` or ``{"slack": "error: ..."}``."""
        now = time.monotonic()
        if self._cached and self._cached[0] > now:
            return self._cached[1]
        try:
            response = await self._client.auth_test()
            result = {"slack": f"ok ({response.get('team', '?')}/{response.get('user', '?')})"}
        except SlackApiError as exc:
            result = {"slack": f"error: {exc.response.get('error', '?')}"}
        except (SlackClientError, OSError) as exc:
            result = {"slack": f"error: {exc!r}"}
        self._cached = (now + READINESS_CACHE_SECONDS, result)
        return result


def build_runtime(services: Services, client: AsyncWebClient) -> SlackRuntime:
    """The Slack side of the bot; installs the SlackNotifier into the pipeline."""
    settings = services.settings
    redactor = Redactor(settings.redact_extra_patterns)
    outbox = Outbox(client, redactor.redact)
    notifier = SlackNotifier(outbox, services.store, redactor, settings.slack_incident_channel)
    services.pipeline.notifier = notifier
    return SlackRuntime(
        services=services,
        outbox=outbox,
        notifier=notifier,
        approvers=ApproverDirectory(client, settings.slack_usergroup_cache_seconds),
        redactor=redactor,
        work=BackgroundWork(),
    )


def attach_slack(services: Services, socket_mode: bool) -> list[BaseRoute]:
    """Wire Slack into the services; returns the HTTP routes to serve (none in Socket Mode)."""
    settings = services.settings
    if settings.slack_signing_secret is None:
        raise ConfigError("SLACK_SIGNING_SECRET must be set to talk to Slack")
    client = build_client(settings)
    runtime = build_runtime(services, client)
    app = build_app(client, settings.slack_signing_secret.get_secret_value())
    commands.attach(app, runtime)
    interactions.attach(app, runtime)
    events.attach(app, runtime)
    services.readiness.append(SlackProbe(client).check)
    services.on_stop.append(runtime.work.drain)
    if socket_mode:
        _attach_socket_mode(services, app, settings)
        return []
    handler = AsyncSlackRequestHandler(app)

    async def slack_events(request: Request) -> Response:
        return await handler.handle(request)

    guard = Middleware(
        SlackEventsGuard,
        signing_secret=settings.slack_signing_secret.get_secret_value().encode(),
        max_body_bytes=settings.slack_max_body_bytes,
        read_timeout_seconds=settings.webhook_read_timeout_seconds,
    )
    return [Route(EVENTS_PATH, slack_events, methods=["POST"], middleware=[guard])]


def _attach_socket_mode(services: Services, app: AsyncApp, settings: Settings) -> None:
    if settings.slack_app_token is None:
        raise ConfigError("SLACK_APP_TOKEN must be set for --socket-mode")
    app_token = settings.slack_app_token.get_secret_value()
    # Imported here: the aiohttp Socket Mode client is only needed in this mode.
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    holder: list[AsyncSocketModeHandler] = []

    async def connect() -> None:
        # The handler opens an aiohttp session, so it must be built inside the running loop.
        handler = AsyncSocketModeHandler(app, app_token)
        holder.append(handler)
        await handler.connect_async()  # type: ignore[no-untyped-call]
        log.info("connected to Slack over Socket Mode")

    async def disconnect() -> None:
        for handler in holder:
            await handler.close_async()  # type: ignore[no-untyped-call]

    services.on_start.append(connect)
    services.on_stop.append(disconnect)
