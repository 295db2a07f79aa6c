"""A loopback OpenAI-compatible chat-completions server that replays scripted replies.

Speaks ``POST /v1/chat/completions`` (OpenAI, vLLM, Ollama) and
``POST /openai/deployments/{deployment}/chat/completions?api-version=...`` (Azure OpenAI),
records every request (path, query, headers, raw body, decoded JSON) and answers from a
queue of ``Reply`` values. An empty queue answers 500 so a test never hangs on a missing script.
It counts the requests it is answering at once (``in_flight``, ``max_in_flight``); a reply can
be held back until the test sets an ``asyncio.Event``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

# A Reply's default usage: the counts a well-behaved server reports.
COUNTED: Any = object()


@dataclass
class Reply:
    """One scripted answer: a chat completion (``content``) or an error (``status``/``body``)."""

    content: str | None = None
    status: int = 200
    body: Any = None
    raw: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    model: str = "test-model-2026-01-01"
    prompt_tokens: int = 100
    completion_tokens: int = 50
    # Sent as the completion's ``usage`` as it is (any JSON value), instead of the counts above.
    usage: Any = COUNTED
    hold: asyncio.Event | None = None

    @classmethod
    def error(
        cls, status: int, message: str = "scripted error", headers: dict[str, str] | None = None
    ) -> Reply:
        """An OpenAI-style error body with the given HTTP status."""
        body = {"error": {"message": message, "type": "scripted", "param": None, "code": None}}
        return cls(status=status, body=body, headers=headers or {})

    @classmethod
    def html(cls, status: int = 200) -> Reply:
        """A proxy's HTML error page, the way a gateway in front of the model serves it."""
        page = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
        return cls(status=status, raw=page, headers={"Content-Type": "text/html"})


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    raw: str
    body: Any


class LLMServer:
    """Start with ``await server.start()``; ``server.url`` is ``http://127.0.0.1:PORT``."""

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.requests: list[Recorded] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, *replies: Reply) -> None:
        """Queue replies, answered in order."""
        self.replies.extend(replies)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle)
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.text()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        self.requests.append(
            Recorded(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers={k.lower(): v for k, v in request.headers.items()},
                raw=raw,
                body=body,
            )
        )
        reply = self.replies.popleft() if self.replies else Reply.error(500, "no scripted reply")
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if reply.hold is not None:
                await reply.hold.wait()
            if reply.delay:
                await asyncio.sleep(reply.delay)
        finally:
            self.in_flight -= 1
        if reply.raw is not None:
            return web.Response(status=reply.status, text=reply.raw, headers=reply.headers)
        payload = reply.body if reply.body is not None else self._completion(reply)
        return web.json_response(payload, status=reply.status, headers=reply.headers)

    @staticmethod
    def _completion(reply: Reply) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{time.monotonic_ns()}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": reply.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.content},
                    "finish_reason": "stop",
                }
            ],
            "usage": (
                {
                    "prompt_tokens": reply.prompt_tokens,
                    "completion_tokens": reply.completion_tokens,
                    "total_tokens": reply.prompt_tokens + reply.completion_tokens,
                }
                if reply.usage is COUNTED
                else reply.usage
            ),
        }
