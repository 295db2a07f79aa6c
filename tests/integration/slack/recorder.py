"""A loopback stand-in for Slack: Web API, response_url, Socket Mode, and a scripted model.

Runs an aiohttp server on 127.0.0.1 in its own thread and loop, so the bot under test (a
separate process) talks to it over real HTTP and WebSocket. Every Web API call is recorded
by method with its arguments and headers; tests wait for calls with ``wait_for``.

Messages are checked against Slack's documented limits (``slack_rules``): a message that
breaks one is answered ``ok: false`` like Slack would, recorded with the reason, and
``wait_for`` fails on it, so every test that waits for a message also checks its size. The
external file upload (files.getUploadURLExternal → POST to the upload URL →
files.completeUploadExternal) is served too; uploaded bytes are kept in ``uploads``.
A method outside ``WEB_API_METHODS`` is answered ``unknown_method``, as Slack does.

The model endpoint (``/v1/chat/completions``) answers like an OpenAI-compatible server with a
triage chosen by which scripted keyword appears in the prompt, so each test controls the
proposals its incident gets without depending on call order.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

from tests.integration.slack.slack_rules import message_problem, modal_problem

BOT_USER_ID = "UBOT000001"
BOT_ID = "BBOT000001"
TEAM_ID = "T0TEST0001"


@dataclass
class Call:
    """One request the bot made."""

    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    status: int = 200
    at: float = field(default_factory=time.monotonic)
    rejected: str = ""  # Slack's error code when the call broke a documented limit
    failed: bool = False  # answered with a scripted failure
    answer: dict[str, Any] = field(default_factory=dict)  # what a successful call got back

    @property
    def ok(self) -> bool:
        return self.status == 200 and not self.rejected and not self.failed


@dataclass
class Failure:
    """A scripted failure for the next call of a method.

    ``raw`` answers with that text (say an HTML error page) instead of JSON; ``hang_seconds``
    holds the answer back that long first (past the client's timeout, the bot gives up).
    """

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    when: str = ""  # only a call whose arguments contain this text fails
    raw: str | None = None
    content_type: str = "text/html"
    hang_seconds: float = 0.0


def rate_limited(retry_after: int = 1, when: str = "") -> Failure:
    """Slack's 429 with Retry-After."""
    return Failure(
        429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)}, when
    )


def server_error(when: str = "") -> Failure:
    """A 500 whose body is an HTML page, as a load balancer in front of Slack sends."""
    page = "<html><body><h1>500 Internal Server Error</h1></body></html>"
    return Failure(500, {}, when=when, raw=page)


def hanging(seconds: float, when: str = "") -> Failure:
    """No answer for ``seconds`` (then a 504 nobody is waiting for any more)."""
    return Failure(504, {"ok": False, "error": "timeout"}, when=when, hang_seconds=seconds)


def refused(error: str, when: str = "") -> Failure:
    """200 with ``ok: false`` and Slack's error code (say channel_not_found)."""
    return Failure(200, {"ok": False, "error": error}, when=when)


@dataclass
class Upload:
    """One external file upload: announced, then its bytes, then shared."""

    filename: str
    length: int
    content: bytes = b""
    done: bool = False
    shared: bool = False
    title: str = ""
    channel: str = ""
    thread_ts: str | None = None


HOME_BLOCKS = 100  # views.publish of a Home tab
MESSAGE_METHODS = frozenset({"chat.postMessage", "chat.update", "chat.postEphemeral"})
# The Web API methods this stand-in implements; any other is answered like Slack answers a
# method it does not have, ``unknown_method`` (recorded as rejected, so ``wait_for`` fails on it).
WEB_API_METHODS = frozenset(
    {
        "apps.connections.open",
        "auth.test",
        "chat.postEphemeral",
        "chat.postMessage",
        "chat.update",
        "conversations.create",
        "conversations.invite",
        "files.completeUploadExternal",
        "files.getUploadURLExternal",
        "pins.add",
        "usergroups.users.list",
        "users.info",
        "views.open",
        "views.publish",
    }
)


class SlackRecorder:
    """Start with ``start()``; ``api_url`` is what SLACK_API_URL should be."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.groups: dict[str, list[str]] = {}
        # users.info answers: user id -> display name (anyone else is user_not_found)
        self.people: dict[str, str] = {}
        self.triages: dict[str, dict[str, Any]] = {}
        self.failures: dict[str, list[Failure]] = {}
        self.socket_messages: list[dict[str, Any]] = []
        self.uploads: dict[str, Upload] = {}
        self.port = 0
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._sockets: list[web.WebSocketResponse] = []
        self._ready = threading.Event()

    # lifecycle -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def start(self) -> SlackRecorder:
        self._thread = threading.Thread(target=self._serve, name="slack-recorder", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("recorder did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self._startup())
        self._ready.set()
        self._loop.run_forever()

    async def _startup(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{hook}", self._response_url)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/socket", self._socket)
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def _shutdown(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # recording -----------------------------------------------------------------------------
    def _record(
        self,
        method: str,
        args: dict[str, Any],
        headers: dict[str, str],
        status: int = 200,
        rejected: str = "",
        failed: bool = False,
    ) -> Call:
        call = Call(method, args, headers, status, rejected=rejected, failed=failed)
        with self._lock:
            self.calls.append(call)
        return call

    def find(self, method: str, where: Callable[[Call], bool] = lambda c: True) -> list[Call]:
        """Recorded calls of ``method`` matching ``where``, oldest first."""
        with self._lock:
            return [c for c in self.calls if c.method == method and where(c)]

    def wait_for(
        self,
        method: str,
        where: Callable[[Call], bool] = lambda c: True,
        timeout: float = 10.0,
        count: int = 1,
    ) -> list[Call]:
        """Block until ``count`` matching calls were recorded; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.find(method, where)
            broken = [c for c in found if c.rejected]
            if broken:
                raise AssertionError(
                    f"{method} broke a Slack limit ({broken[0].rejected}): {broken[0].args}"[:2000]
                )
            if len(found) >= count:
                return found
            time.sleep(0.02)
        seen = sorted({c.method for c in self.calls})
        raise AssertionError(f"no {count} x {method} matching in {timeout}s; saw {seen}")

    def fail_next(self, method: str, failure: Failure, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with ``failure`` instead of success."""
        with self._lock:
            self.failures.setdefault(method, []).extend([failure] * times)

    def delivered(self, method: str, where: Callable[[Call], bool] = lambda c: True) -> list[Call]:
        """Calls of ``method`` that Slack would have carried out (answered 200, ok)."""
        return self.find(method, lambda c: c.ok and where(c))

    # Web API -------------------------------------------------------------------------------
    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        raw = await request.text()
        if raw:
            if request.content_type == "application/json":
                args.update(json.loads(raw))
            else:
                args.update(dict(parse_qsl(raw)))
        with self._lock:
            pending = self.failures.get(method) or []
            text = json.dumps(args)
            failure = next((f for f in pending if f.when in text), None)
            if failure is not None:
                pending.remove(failure)
        headers = {k.lower(): v for k, v in request.headers.items()}
        if failure is not None:
            problem = ""
        elif method not in WEB_API_METHODS:
            problem = "unknown_method"
        else:
            problem = self._problem(method, args)
        status = failure.status if failure else 200
        call = self._record(method, args, headers, status, problem, failed=failure is not None)
        if failure is not None:
            if failure.hang_seconds:
                await asyncio.sleep(failure.hang_seconds)
            if failure.raw is not None:
                return web.Response(
                    text=failure.raw,
                    status=failure.status,
                    headers=failure.headers,
                    content_type=failure.content_type,
                )
            return web.json_response(failure.body, status=failure.status, headers=failure.headers)
        if problem:
            return web.json_response({"ok": False, "error": problem})
        call.answer = self._answer(method, args)
        return web.json_response(call.answer)

    def _problem(self, method: str, args: dict[str, Any]) -> str:
        if method in MESSAGE_METHODS:
            return message_problem(args) or ""
        if method == "views.open":
            # A modal needs the click's trigger_id, a view within Slack's limits (slack_rules)
            # and, for its submission to reach a listener, a callback_id.
            view = args.get("view")
            if isinstance(view, str):
                view = json.loads(view)
            if not args.get("trigger_id"):
                return "invalid_trigger_id"
            problem = modal_problem(view)
            if problem:
                return problem
            if not view.get("callback_id"):
                return "invalid_arguments"
        if method == "views.publish":
            return self._home_view_problem(args)
        if method == "pins.add":
            return self._pin_problem(args)
        if method == "files.getUploadURLExternal":
            length = str(args.get("length", ""))
            if not args.get("filename") or not length.isdigit() or int(length) <= 0:
                return "invalid_arguments"
        if method == "files.completeUploadExternal":
            files = args.get("files")
            if isinstance(files, str):
                files = json.loads(files)
            with self._lock:
                known = all(
                    isinstance(f, dict)
                    and f.get("id") in self.uploads
                    and self.uploads[f["id"]].done
                    for f in files or []
                )
            if not files or not known:
                return "file_not_found"
        return ""

    def _pin_problem(self, args: dict[str, Any]) -> str:
        """pins.add: a channel and the timestamp of a message posted there, not pinned yet."""
        channel, ts = args.get("channel"), args.get("timestamp")
        if not channel or not ts:
            return "invalid_arguments"
        with self._lock:
            posted = any(
                c.method == "chat.postMessage"
                and c.ok
                and c.args.get("channel") == channel
                and c.answer.get("ts") == ts
                for c in self.calls
            )
            pinned = any(
                c.method == "pins.add"
                and c.ok
                and c.answer
                and (c.args.get("channel"), c.args.get("timestamp")) == (channel, ts)
                for c in self.calls
            )
        if not posted:
            return "message_not_found"
        return "already_pinned" if pinned else ""

    @staticmethod
    def _home_view_problem(args: dict[str, Any]) -> str:
        """views.publish: a user id and a home view of at most 100 valid blocks."""
        view = args.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        if not args.get("user_id") or not isinstance(view, dict) or view.get("type") != "home":
            return "invalid_arguments"
        blocks = view.get("blocks")
        if not isinstance(blocks, list) or not 0 < len(blocks) <= HOME_BLOCKS:
            return "invalid_blocks"
        # each block on its own against the message rules (their count limit is 50, not 100)
        bad = any(message_problem({"text": "x", "blocks": [block]}) for block in blocks)
        return "invalid_blocks" if bad else ""

    def _next_ts(self) -> str:
        n = next(self._ts)
        return f"{1_790_000_000 + n}.{n:06d}"

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://test.slack.com/",
                "team": "test",
                "user": "incident-bot",
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "bot_id": BOT_ID,
            }
        if method == "chat.postMessage":
            ts = self._next_ts()
            return {"ok": True, "channel": args.get("channel"), "ts": ts, "message": {"ts": ts}}
        if method == "chat.update":
            return {"ok": True, "channel": args.get("channel"), "ts": args.get("ts")}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": self._next_ts()}
        if method == "usergroups.users.list":
            group = str(args.get("usergroup", ""))
            if group not in self.groups:
                return {"ok": False, "error": "no_such_subteam"}
            return {"ok": True, "users": self.groups[group]}
        if method == "conversations.create":
            return {
                "ok": True,
                "channel": {"id": f"CNEW{next(self._ts):06d}", "name": args["name"]},
            }
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ts):09d}"
            with self._lock:
                self.uploads[file_id] = Upload(str(args["filename"]), int(args["length"]))
            return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}
        if method == "files.completeUploadExternal":
            files = args["files"]
            listed = json.loads(files) if isinstance(files, str) else files
            with self._lock:
                for f in listed:
                    upload = self.uploads[f["id"]]
                    upload.title = str(f.get("title", ""))
                    upload.channel = str(args.get("channel_id", ""))
                    upload.thread_ts = args.get("thread_ts")
                    upload.shared = True
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in listed]}
        if method == "views.open":
            view = args["view"] if isinstance(args["view"], dict) else json.loads(args["view"])
            return {"ok": True, "view": {**view, "id": f"V{next(self._ts):09d}"}}
        if method == "users.info":
            user = str(args.get("user", ""))
            if user not in self.people:
                return {"ok": False, "error": "user_not_found"}
            profile = {"display_name": self.people[user], "real_name": self.people[user]}
            return {"ok": True, "user": {"id": user, "name": user.lower(), "profile": profile}}
        if method == "views.publish":
            view = args["view"] if isinstance(args["view"], dict) else json.loads(args["view"])
            return {"ok": True, "view": {**view, "id": f"V{next(self._ts):09d}"}}
        if method == "apps.connections.open":
            return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"}
        if method not in WEB_API_METHODS:
            return {"ok": False, "error": "unknown_method"}
        return {"ok": True}  # conversations.invite, pins.add: nothing the bot reads back

    async def _response_url(self, request: web.Request) -> web.Response:
        body = await request.json()
        problem = message_problem(body) or ""
        self._record("response_url", {"hook": request.match_info["hook"], **body}, {}, 200, problem)
        if problem:
            return web.Response(status=400, text=problem)
        return web.Response(text="ok")

    async def _upload(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        content = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self._lock:
            upload = self.uploads.get(file_id)
            fits = upload is not None and not upload.done and len(content) == upload.length
            if upload is not None and fits:
                upload.content, upload.done = content, True
        args = {"file_id": file_id, "bytes": len(content)}
        self._record("file_upload", args, headers, 200 if fits else 400)
        if not fits:
            return web.Response(status=400, text="upload does not match the announced length")
        return web.Response(text=f"OK - {len(content)}")

    # Socket Mode ---------------------------------------------------------------------------
    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        self._record("socket.connect", {}, {k.lower(): v for k, v in request.headers.items()})
        await ws.send_json({"type": "hello", "num_connections": 1, "connection_info": {}})
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                with self._lock:
                    self.socket_messages.append(json.loads(message.data))
        return ws

    def socket_send(self, envelope: dict[str, Any]) -> None:
        """Push one Socket Mode envelope to every connected client."""
        assert self._loop is not None

        async def push() -> None:
            for ws in self._sockets:
                if not ws.closed:
                    await ws.send_json(envelope)

        asyncio.run_coroutine_threadsafe(push(), self._loop).result(5)

    # scripted model ------------------------------------------------------------------------
    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
        self._record("llm", {"prompt": prompt}, {})
        reply = next(
            (triage for key, triage in self.triages.items() if key in prompt),
            {
                "category": "unknown",
                "severity": "SEV3",
                "summary": "Nothing scripted for this prompt.",
                "root_cause": "unknown",
                "reasoning": "no script",
                "confidence": 0.1,
                "runbook_ids": [],
                "proposals": [],
            },
        )
        return web.json_response(
            {
                "id": f"chatcmpl-{time.monotonic_ns()}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": "scripted-model",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": json.dumps(reply)},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
            }
        )
