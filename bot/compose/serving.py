"""``incident-bot serve``: the runtime, Slack (when configured), the sweeps, the web app."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from bot.clock import utcnow
from bot.config import Settings
from bot.runtime import Runtime
from bot.scheduler import attach_scheduler
from bot.web import create_app

if TYPE_CHECKING:
    from bot.compose import Root

log = logging.getLogger(__name__)


def slack_config(settings: Settings) -> object:
    """The Slack side's settings as values (Slack must be configured)."""
    from bot.slack.wiring import SlackConfig

    assert settings.slack_bot_token is not None and settings.slack_signing_secret is not None
    return SlackConfig(
        bot_token=settings.slack_bot_token.get_secret_value(),
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        api_url=settings.slack_api_url,
        app_token=settings.slack_app_token.get_secret_value() if settings.slack_app_token else None,
        incident_channel=settings.slack_incident_channel,
        security_channel=settings.security_channel,
        broadcast_channel=settings.broadcast_channel,
        drift_channel=settings.drift_channel,
        alert_channels=frozenset(settings.slack_alert_channels),
        usergroup_cache_seconds=settings.slack_usergroup_cache_seconds,
        user_cache_seconds=settings.slack_user_cache_seconds,
        runbook_url=settings.runbook_repo_url,
        max_body_bytes=settings.slack_max_body_bytes,
        read_timeout_seconds=settings.webhook_read_timeout_seconds,
        api_timeout_seconds=settings.slack_api_timeout_seconds,
    )


def build_app(root: Root, settings: Settings, *, socket_mode: bool = False) -> Starlette:
    """The whole server as one ASGI app: runtime, Slack, sweeps, routes (nothing started)."""
    routes: list[BaseRoute] = []
    if settings.slack_enabled:
        from bot.slack.wiring import SlackConfig, attach_slack, build_parts

        config = slack_config(settings)
        assert isinstance(config, SlackConfig)
        # The store first: the outbox writes every post to it before sending.
        store = root.store()
        parts = build_parts(
            config,
            root.redactor(),
            store,
            replica_id=root.replica_id(),
            delivery=root.delivery_options(),
        )
        runtime = root.runtime(
            store=store,
            notifier=parts.notifier,
            directory=parts.directory,
            dispatcher=parts.dispatcher,
        )
        routes = attach_slack(parts, runtime.pipeline, config, runtime, socket_mode=socket_mode)
    else:
        log.warning(
            "Slack is not configured (SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET unset): alerts "
            "are stored and triaged, nothing is posted to Slack"
        )
        runtime = root.runtime()
    _warm_runbooks(runtime)
    attach_scheduler(runtime, root.sweeps(runtime), utcnow)
    return create_app(runtime, root.web_config(), routes)


def _warm_runbooks(runtime: Runtime) -> None:
    search = runtime.pipeline.runbooks
    if search is None:
        return
    warm = search.warm

    async def warm_runbooks() -> None:
        # Not awaited: start-up must not wait for indexing (or a one-off model distil).
        asyncio.get_running_loop().run_in_executor(None, warm)

    runtime.on_start.append(warm_runbooks)


def serve(
    root: Root, settings: Settings, *, host: str, port: int, socket_mode: bool = False
) -> int:
    """Run until interrupted; returns the process exit code."""
    app = build_app(root, settings, socket_mode=socket_mode)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    return 0
