"""Baseline for benchmarks/ingest.py: a Starlette endpoint that only parses JSON and answers 202."""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def receive(request: Request) -> JSONResponse:
    body = json.loads(await request.body())
    return JSONResponse({"accepted": 1 if isinstance(body, dict) else 0}, status_code=202)


app = Starlette(routes=[Route("/alerts/{source}", receive, methods=["POST"])])
