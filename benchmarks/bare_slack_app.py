"""Baseline for benchmarks/slack_ack.py: a Bolt AsyncApp whose listeners only ack.

    python -m benchmarks.bare_slack_app --port P --api-url URL [--default-bolt]

Same stack as the bot (Bolt + Starlette adapter + uvicorn, signature checks on), nothing else.
``--default-bolt`` leaves process_before_response off (Bolt's default ack polling).
"""

from __future__ import annotations

import argparse
import os
import re

import uvicorn
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def build(api_url: str, process_before_response: bool) -> Starlette:
    client = AsyncWebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=api_url)
    bolt = AsyncApp(
        client=client,
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        process_before_response=process_before_response,
    )

    async def only_ack(ack: AsyncAck) -> None:
        await ack()

    bolt.command("/incident")(only_ack)
    bolt.action(re.compile(".*"))(only_ack)
    handler = AsyncSlackRequestHandler(bolt)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    async def healthz(request: Request) -> Response:
        return Response("ok")

    return Starlette(
        routes=[Route("/slack/events", events, methods=["POST"]), Route("/healthz", healthz)]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--default-bolt", action="store_true")
    args = parser.parse_args()
    app = build(args.api_url, process_before_response=not args.default_bolt)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
