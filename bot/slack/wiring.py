"""The Slack side, built from plain values: the clients, the outbox and notifier first (the
pipeline needs them), then the Bolt app and its listeners on top of the pipeline: one
/slack/events route behind the request guard, or Socket Mode."""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
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

from bot.clock import utcnow
from bot.errors import ConfigError
from bot.metrics import SLACK_API_RETRIES
from bot.pipeline import DeliveryOptions, Dispatcher, Pipeline
from bot.ports import Backend
from bot.redaction import Redactor
from bot.runtime import Runtime
from bot.slack import commands, declare, events, home, interactions, modals, update_form
from bot.slack.approvers import ApproverDirectory
from bot.slack.blocks import make_clean
from bot.slack.notifier import SlackNotifier
from bot.slack.outbox import Outbox, SlackCourier
from bot.slack.people import SlackPeople
from bot.slack.runtime import SlackRuntime
from bot.webguard import SlackEventsGuard

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
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


@dataclass(frozen=True)
class SlackConfig:
    """Everything Slack needs to know, as values (the composition root fills it)."""

    bot_token: str
    signing_secret: str
    api_url: str = "https://slack.com/api/"
    app_token: str | None = None
    incident_channel: str = ""
    security_channel: str = ""
    broadcast_channel: str = ""
    drift_channel: str = ""
    alert_channels: frozenset[str] = frozenset()
    usergroup_cache_seconds: float = 300.0
    user_cache_seconds: float = 3600.0
    runbook_url: str = ""
    max_body_bytes: int = 262_144
    read_timeout_seconds: float = 10.0
    api_timeout_seconds: float = 10.0


@dataclass
class SlackParts:
    """What exists before the pipeline: the Web API client, the outbox and its dispatcher (the
    pipeline sweeps it), the notifier and the directory."""

    client: AsyncWebClient
    outbox: Outbox
    dispatcher: Dispatcher
    notifier: SlackNotifier
    directory: ApproverDirectory
    people: SlackPeople


def build_client(config: SlackConfig) -> AsyncWebClient:
    """The Web API client for calls someone waits on (Bolt, look-ups, ephemeral answers): the
    configured base URL, a couple of quick retries on 429 and dropped connections."""
    return AsyncWebClient(
        token=config.bot_token,
        base_url=config.api_url,
        timeout=int(max(1, config.api_timeout_seconds)),
        retry_handlers=[
            _CountedRateLimitRetry(max_retry_count=RETRIES),
            _CountedConnectionRetry(max_retry_count=RETRIES),
        ],
    )


def build_delivery_client(config: SlackConfig) -> AsyncWebClient:
    """The client the outbox sends with: no retry handlers of its own. The dispatcher retries
    (Retry-After, backoff with jitter, bounded attempts) from the store, so a wait outlives a
    restart and never holds a delivery claim past its deadline."""
    return AsyncWebClient(
        token=config.bot_token,
        base_url=config.api_url,
        timeout=int(max(1, config.api_timeout_seconds)),
        retry_handlers=[],
    )


def build_parts(
    config: SlackConfig,
    redactor: Redactor,
    store: Backend,
    *,
    replica_id: str,
    delivery: DeliveryOptions,
) -> SlackParts:
    """The Slack adapters of the Notifier and Directory ports, over the durable outbox."""
    client = build_client(config)
    courier = SlackCourier(build_delivery_client(config))
    dispatcher = Dispatcher(store, courier, utcnow, replica_id=replica_id, options=delivery)
    outbox = Outbox(client, redactor.redact, dispatcher, courier)
    return SlackParts(
        client=client,
        outbox=outbox,
        dispatcher=dispatcher,
        notifier=SlackNotifier(
            outbox,
            redactor,
            config.incident_channel,
            runbook_url=config.runbook_url,
            security_channel=config.security_channel,
            broadcast_channel=config.broadcast_channel,
            drift_channel=config.drift_channel,
        ),
        directory=ApproverDirectory(client, config.usergroup_cache_seconds),
        people=SlackPeople(client, config.user_cache_seconds),
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


def attach_slack(
    parts: SlackParts,
    pipeline: Pipeline,
    config: SlackConfig,
    runtime: Runtime,
    *,
    socket_mode: bool,
) -> list[BaseRoute]:
    """Attach the listeners; returns the HTTP routes to serve (none in Socket Mode)."""
    listening = SlackRuntime(
        pipeline=pipeline,
        outbox=parts.outbox,
        alert_channels=config.alert_channels,
        people=parts.people,
        incident_channel=config.incident_channel,
    )
    app = build_app(parts.client, config.signing_secret)
    commands.attach(
        app, listening, declare.attach(app, listening), update_form.attach(app, listening)
    )
    interactions.attach(app, listening)
    modals.attach(app, listening)
    events.attach(app, listening)
    home.attach(app, listening, make_clean(parts.notifier.redactor.redact))
    runtime.readiness.append(SlackProbe(parts.client).check)
    runtime.on_stop.append(listening.work.drain)
    if socket_mode:
        _attach_socket_mode(runtime, app, config)
        return []
    handler = AsyncSlackRequestHandler(app)

    async def slack_events(request: Request) -> Response:
        return await handler.handle(request)

    guard = Middleware(
        SlackEventsGuard,
        signing_secret=config.signing_secret.encode(),
        max_body_bytes=config.max_body_bytes,
        read_timeout_seconds=config.read_timeout_seconds,
    )
    return [Route(EVENTS_PATH, slack_events, methods=["POST"], middleware=[guard])]


def _attach_socket_mode(runtime: Runtime, app: AsyncApp, config: SlackConfig) -> None:
    if config.app_token is None:
        raise ConfigError("SLACK_APP_TOKEN must be set for --socket-mode")
    app_token = config.app_token
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

    runtime.on_start.append(connect)
    runtime.on_stop.append(disconnect)
