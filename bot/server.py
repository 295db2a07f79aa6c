"""``incident-bot serve``: build the services and run them under uvicorn (or Socket Mode)."""

from __future__ import annotations

import asyncio
import logging

import uvicorn

from bot.app import LazyRunbooks, build_services
from bot.config import Settings
from bot.web import create_app

log = logging.getLogger(__name__)


def serve(settings: Settings, *, host: str, port: int, socket_mode: bool = False) -> int:
    """Run until interrupted; returns the process exit code."""
    settings.check_serve(socket_mode)
    services = build_services(settings)
    runbooks = services.pipeline.runbooks
    if isinstance(runbooks, LazyRunbooks):
        warm = runbooks.warm

        async def warm_runbooks() -> None:
            # Not awaited: start-up must not wait for indexing (or a one-off model distil).
            asyncio.get_running_loop().run_in_executor(None, warm)

        services.on_start.append(warm_runbooks)
    extra_routes = []
    if settings.slack_enabled:
        from bot.slack.wiring import attach_slack

        extra_routes = attach_slack(services, socket_mode=socket_mode)
    else:
        log.warning(
            "Slack is not configured (SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET unset): alerts "
            "are stored and triaged, nothing is posted to Slack"
        )
    from bot.scheduler import attach_scheduler

    attach_scheduler(services)
    app = create_app(services, extra_routes)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    return 0
