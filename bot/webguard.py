"""Request guards at the ASGI edge: bounded body reads, Slack and PagerDuty signatures.

They run before anything parses a body, take plain values (secrets as bytes, limits as
numbers) and answer refusals themselves as JSON ``{"error": ...}``:

    BodyGuard          size cap while streaming (413), read deadline (408), then replay
    SlackEventsGuard   BodyGuard + Slack's v0 signature (401) + a well-formed body (400/415)
    pagerduty_signature_valid   X-PagerDuty-Signature v1 check for /alerts/pagerduty
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.errors import PayloadError
from bot.ingest.bodies import load_json

log = logging.getLogger(__name__)

SLACK_MAX_AGE_SECONDS = 300
SLACK_JSON = "application/json"
SLACK_FORM = "application/x-www-form-urlencoded"
# PagerDuty sends one signature per active secret; more would only cost HMAC comparisons.
PAGERDUTY_MAX_SIGNATURES = 16
_FORM_MAX_FIELDS = 200
# Top-level members Bolt reads with a fixed type; another type makes Bolt itself fail (500).
_SLACK_SHAPE: dict[str, type | tuple[type, ...]] = {
    "event": dict,
    "view": dict,
    "container": dict,
    "message": dict,
    "state": dict,
    "function_data": dict,
    "team": (dict, str),
    "user": (dict, str),
    "channel": (dict, str),
    "enterprise": (dict, str),
    "actions": list,
    "authorizations": list,
}
# What a mis-shaped but signed payload raises inside Bolt's request parsing.
_PARSE_FAILURES = (AttributeError, TypeError, KeyError, IndexError, ValueError)


class Refused(Exception):
    """A request the guard answers itself: HTTP status and the message shown to the caller."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _ClientGone(Exception):
    """The client disconnected before its body was complete; nobody is left to answer."""


async def read_bounded(
    scope: Scope, receive: Receive, max_body_bytes: int, read_timeout_seconds: float
) -> bytes:
    """The whole body, refusing one over ``max_body_bytes`` (413) or slower than the deadline."""
    declared = Headers(scope=scope).get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise Refused(400, "Content-Length header is not a number")
        if int(declared) > max_body_bytes:
            raise Refused(
                413, f"body of {declared.strip()} bytes exceeds the limit of {max_body_bytes} bytes"
            )
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(read_timeout_seconds):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise _ClientGone
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > max_body_bytes:
                    raise Refused(413, f"body exceeds the limit of {max_body_bytes} bytes")
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
    except TimeoutError:
        raise Refused(408, f"body not received within {read_timeout_seconds:g} seconds") from None


def _replay(body: bytes, receive: Receive) -> Receive:
    # The body once, as one message; afterwards the real channel (for http.disconnect).
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _refuse(scope: Scope, receive: Receive, send: Send, refusal: Refused) -> None:
    log.info(
        "request refused at the edge",
        extra={"path": scope.get("path", "?"), "status": refusal.status, "reason": refusal.message},
    )
    # The body may be unread: close the connection rather than drain it.
    response = JSONResponse(
        {"error": refusal.message}, status_code=refusal.status, headers={"Connection": "close"}
    )
    await response(scope, receive, send)


class BodyGuard:
    """ASGI middleware: read the body under a size cap and a deadline, then hand it on."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, read_timeout_seconds: float) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.read_timeout_seconds = read_timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            body = await read_bounded(
                scope, receive, self.max_body_bytes, self.read_timeout_seconds
            )
        except Refused as refusal:
            await _refuse(scope, receive, send, refusal)
            return
        except _ClientGone:
            return
        await self.app(scope, _replay(body, receive), send)


def _single_header(headers: Headers, name: str) -> bytes | None:
    # A repeated security header is refused: two readers may pick different copies.
    values = headers.getlist(name)
    if len(values) != 1:
        return None
    return values[0].encode("latin-1")


def check_slack_timestamp(timestamp: bytes | None, now: float) -> None:
    """X-Slack-Request-Timestamp present and within five minutes of ``now`` (else 401)."""
    if timestamp is None or not timestamp.isdigit() or len(timestamp) > 12:
        raise Refused(401, "missing or invalid X-Slack-Request-Timestamp")
    if abs(now - int(timestamp)) > SLACK_MAX_AGE_SECONDS:
        raise Refused(401, "X-Slack-Request-Timestamp is more than five minutes away")


def slack_signature_valid(
    secret: bytes, timestamp: bytes, signature: bytes | None, body: bytes
) -> bool:
    """``signature`` is ``v0=HMAC_SHA256(secret, "v0:{ts}:{body}")`` in hex."""
    if signature is None:
        return False
    digest = hmac.new(secret, b"v0:" + timestamp + b":" + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(b"v0=" + digest.encode(), signature)


def _slack_object(text: str, where: str) -> None:
    try:
        value = load_json(text)
    except PayloadError as exc:
        raise Refused(400, f"{where}: {exc}") from None
    if not isinstance(value, dict):
        raise Refused(400, f"{where}: expected a JSON object")
    if not isinstance(value.get("type"), str):
        raise Refused(400, f"{where}: missing the string field 'type'")
    for name, allowed in _SLACK_SHAPE.items():
        member = value.get(name)
        if member is not None and not isinstance(member, allowed):
            raise Refused(400, f"{where}.{name}: not what Slack sends there")
        if isinstance(member, list) and not all(isinstance(item, dict) for item in member):
            raise Refused(400, f"{where}.{name}: expected a list of objects")


def check_slack_body(body: bytes, content_type: str | None) -> None:
    """A body Slack could have sent: JSON event, form with ``payload`` or a slash command."""
    media = (content_type or "").partition(";")[0].strip().lower()
    if media not in (SLACK_JSON, SLACK_FORM):
        raise Refused(415, f"unsupported content type {media[:80] or '(none)'!r} for Slack")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "body is not valid UTF-8") from None
    # Bolt reads a body starting with "{" as JSON whatever the content type says: so do we.
    if media == SLACK_JSON or text.startswith("{"):
        _slack_object(text, "body")
        return
    try:
        pairs = parse_qsl(
            text, keep_blank_values=True, strict_parsing=True, max_num_fields=_FORM_MAX_FIELDS
        )
    except ValueError:
        raise Refused(400, "body is not a valid form") from None
    form = dict(pairs)
    if len(form) != len(pairs):
        raise Refused(400, "form repeats a field")
    if "payload" in form:
        _slack_object(form["payload"], "payload")
    elif "command" not in form and "ssl_check" not in form:
        raise Refused(400, "form has neither a payload nor a command")


class SlackEventsGuard:
    """ASGI middleware for /slack/events: bounded read, signature, well-formed body, then Bolt."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        signing_secret: bytes,
        max_body_bytes: int,
        read_timeout_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not signing_secret:
            raise ValueError("a Slack signing secret is required")
        self.app = app
        self.signing_secret = signing_secret
        self.max_body_bytes = max_body_bytes
        self.read_timeout_seconds = read_timeout_seconds
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            body = await self._verified_body(scope, receive)
        except Refused as refusal:
            await _refuse(scope, receive, send, refusal)
            return
        except _ClientGone:
            return
        await self._hand_on(scope, _replay(body, receive), send)

    async def _verified_body(self, scope: Scope, receive: Receive) -> bytes:
        headers = Headers(scope=scope)
        timestamp = _single_header(headers, "x-slack-request-timestamp")
        check_slack_timestamp(timestamp, self.clock())
        assert timestamp is not None
        signature = _single_header(headers, "x-slack-signature")
        if signature is None:
            raise Refused(401, "missing X-Slack-Signature")
        body = await read_bounded(scope, receive, self.max_body_bytes, self.read_timeout_seconds)
        if not slack_signature_valid(self.signing_secret, timestamp, signature, body):
            raise Refused(401, "invalid X-Slack-Signature")
        check_slack_body(body, headers.get("content-type"))
        return body

    async def _hand_on(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except _PARSE_FAILURES:
            # Signed, well-formed, but shaped so that Bolt's request parsing fails.
            if started:
                raise
            log.warning("signed Slack request could not be parsed", exc_info=True)
            await _refuse(
                scope, receive, send, Refused(400, "Slack payload has an unexpected shape")
            )


def pagerduty_signature_valid(secret: bytes, header: str | None, body: bytes) -> bool:
    """Any ``v1=`` signature in X-PagerDuty-Signature is the hex HMAC-SHA256 of ``body``."""
    if not header:
        return False
    expected = b"v1=" + hmac.new(secret, body, hashlib.sha256).hexdigest().encode()
    presented = header.split(",")[:PAGERDUTY_MAX_SIGNATURES]
    return any(hmac.compare_digest(expected, part.strip().encode()) for part in presented)
