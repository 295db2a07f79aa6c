"""Everything the bot says to Slack goes through here: redacted, cut, and (posts and updates)
durable.

``Outbox`` renders what to say into the exact payload (escaped, redacted, cut to Slack's limits)
and hands ``chat.postMessage`` / ``chat.update`` to the ``Postbox`` (the store-backed
dispatcher), which writes it down before ``SlackCourier`` sends it. Ephemeral answers, slash
command responses, channel creation and uploads answer a person who is waiting right now: they
are sent directly, once, and a failure is logged, never raised.

``SlackCourier`` is the boundary for one delivery: whatever Slack or the network does (a 429, a
5xx with an HTML body, a timeout, ``ok: false``) comes back as a ``Sent`` value. It uses a client
without slack_sdk's retry handlers, so a 429 is not slept through inside a call (and a claim):
the dispatcher schedules the next attempt from Retry-After and survives a restart meanwhile.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import aiohttp
from aiohttp import ClientError
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.clock import utcnow
from bot.deliveries import Delivery, DeliveryKind, DeliveryState, card_key
from bot.metrics import SLACK_API_ERRORS
from bot.ports import Postbox, Sent
from bot.slack.blocks import Block
from bot.slack.markup import CUT, LIMITS, fit, plain, size

log = logging.getLogger(__name__)

UPLOAD_SECONDS = 30

# ok:false answers that no retry can turn into success: fail the delivery with the reason.
# Anything else that Slack refuses with ok:false is treated the same (Slack's error codes name a
# problem with the request); only these are tried again.
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
DEFAULT_RETRY_AFTER_SECONDS = 1.0
# Where the bot cannot whisper in a channel, because it is not a member.
NOT_A_MEMBER = frozenset({"not_in_channel", "channel_not_found"})


class SlackCourier:
    """The ``Courier`` on Slack's Web API: one call per delivery, every outcome a ``Sent``."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def send(self, delivery: Delivery, thread: str | None) -> Sent:
        """chat.update (``thread`` is the message), chat.postEphemeral (to the payload's user)
        or chat.postMessage (``thread`` to reply in)."""
        args: dict[str, Any] = {"channel": delivery.channel, **delivery.payload}
        method = "chat.postMessage"
        if delivery.kind is DeliveryKind.UPDATE:
            method = "chat.update"
            args["ts"] = thread
        elif thread:
            args["thread_ts"] = thread
        if delivery.kind is DeliveryKind.EPHEMERAL:
            method = "chat.postEphemeral"
        sent = await self._call(delivery, method, args, thread)
        if delivery.kind is DeliveryKind.EPHEMERAL and sent.error in NOT_A_MEMBER:
            # The bot may not whisper where it is not a member: say it to the person directly.
            direct = {"channel": args.get("user", ""), "text": args.get("text", "")}
            sent = await self._call(delivery, "chat.postMessage", direct, None)
        return sent

    async def _call(
        self, delivery: Delivery, method: str, args: dict[str, Any], thread: str | None
    ) -> Sent:
        try:
            response = await self.client.api_call(method, json=args)
        except SlackApiError as exc:
            sent = refused(exc)
        except (SlackClientError, ClientError) as exc:
            sent = Sent(ok=False, error=f"connection:{type(exc).__name__}")
        except TimeoutError:
            sent = Sent(ok=False, error="timeout")
        except Exception as exc:  # the boundary: nothing from the client escapes as an exception
            log.warning("slack call raised", extra={"method": method, "error": repr(exc)})
            sent = Sent(ok=False, error=f"unexpected:{type(exc).__name__}")
        else:
            data = response.data if isinstance(response.data, dict) else {}
            ts = data.get("ts")
            return Sent(ok=True, ts=ts if isinstance(ts, str) else thread)
        SLACK_API_ERRORS.labels(method=method).inc()
        log.warning(
            "slack delivery attempt failed",
            extra={"method": method, "delivery_id": delivery.id, "error": sent.error},
        )
        return sent


def refused(exc: SlackApiError) -> Sent:
    """What a refused call means for its delivery: retry when, or fail for good.

    ``exc.response`` is a SlackResponse, or (for a body that is not JSON) the raw aiohttp
    response; neither may be trusted to hold a dict.
    """
    response = exc.response
    status = getattr(response, "status_code", None) or getattr(response, "status", 0) or 0
    data = getattr(response, "data", None)
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, str) or not error:
        error = f"http_{status}"
    if status == 429 or error == "ratelimited":
        headers = getattr(response, "headers", None)
        if not isinstance(headers, Mapping):
            headers = {}
        return Sent(ok=False, error="ratelimited", retry_after=retry_after(headers))
    if status >= 500 or error in TRANSIENT_ERRORS or error.startswith("http_"):
        return Sent(ok=False, error=error if status < 500 else f"http_{status}")
    return Sent(ok=False, error=error, permanent=True)


def retry_after(headers: Mapping[str, Any]) -> float:
    """Seconds from a Retry-After header (any case); a second when absent or unreadable."""
    for name, value in headers.items():
        if str(name).lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                break
    return DEFAULT_RETRY_AFTER_SECONDS


class Outbox:
    """Posts, updates and ephemeral answers; every ``text`` field is redacted on the way out.

    Without a ``postbox`` (tests of the rendering) posts and updates are sent once, directly.
    """

    def __init__(
        self,
        client: AsyncWebClient,
        redact: Callable[[str], str],
        postbox: Postbox | None = None,
        courier: SlackCourier | None = None,
    ) -> None:
        self.client = client
        self._redact = redact
        self._postbox = postbox
        self._courier = courier or SlackCourier(client)

    def clean_blocks(self, blocks: list[Block]) -> list[Block]:
        """Redact every text value inside blocks (ids and button values stay as they are)."""
        return [self._walk(block) for block in blocks]

    def _walk(self, node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: self._redact_within(value)
                if key == "text" and isinstance(value, str)
                else self._walk(value)
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [self._walk(item) for item in node]
        return node

    def _redact_within(self, text: str) -> str:
        """Redacted text no longer than before (a marker can outgrow a short secret)."""
        redacted = self._redact(text)
        if size(redacted) <= size(text):
            return redacted
        return fit(redacted, max(size(text), size(CUT)))

    def _text(self, text: str) -> str:
        return fit(self._redact(text), LIMITS.message_text)

    async def _call(self, method: str, form: bool = False, **kwargs: Any) -> dict[str, Any] | None:
        try:
            if form:
                response = await self.client.api_call(method, data=kwargs)
            else:
                response = await self.client.api_call(method, json=kwargs)
        except SlackApiError as exc:
            SLACK_API_ERRORS.labels(method=method).inc()
            log.warning(
                "slack api call refused",
                extra={"method": method, "error": exc.response.get("error", "?")},
            )
            return None
        except (SlackClientError, ClientError, TimeoutError) as exc:
            SLACK_API_ERRORS.labels(method=method).inc()
            log.warning("slack api call failed", extra={"method": method, "error": repr(exc)})
            return None
        data = response.data
        return data if isinstance(data, dict) else None

    async def deliver(
        self,
        kind: DeliveryKind,
        channel: str,
        text: str,
        blocks: list[Block] | None = None,
        *,
        thread: str | None = None,
        incident_id: str | None = None,
        request_ids: Iterable[str] = (),
        user: str | None = None,
    ) -> Delivery:
        """Write one post or update to the outbox and try it; the delivery as it stands."""
        payload: dict[str, Any] = {"text": self._text(text)}
        if user:
            payload["user"] = user
        if blocks is not None and (blocks or kind is DeliveryKind.UPDATE):
            payload["blocks"] = self.clean_blocks(blocks)
        now = utcnow()
        delivery = Delivery(
            kind=kind,
            channel=channel,
            thread=thread,
            payload=payload,
            card=card_key(channel, thread) if kind is DeliveryKind.UPDATE and thread else "",
            incident_id=incident_id,
            request_ids=list(request_ids),
            created_at=now,
            next_attempt_at=now,
        )
        if self._postbox is not None:
            return await self._postbox.send(delivery)
        sent = await self._courier.send(delivery, thread)
        state = DeliveryState.DELIVERED if sent.ok else DeliveryState.FAILED
        return delivery.model_copy(update={"state": state, "ts": sent.ts, "last_error": sent.error})

    async def post(
        self,
        channel: str,
        text: str,
        blocks: list[Block] | None = None,
        thread_ts: str | None = None,
        *,
        incident_id: str | None = None,
    ) -> str | None:
        """chat.postMessage through the outbox; the message ts if it landed right away."""
        delivery = await self.deliver(
            DeliveryKind.MESSAGE, channel, text, blocks, thread=thread_ts, incident_id=incident_id
        )
        return delivery.ts if delivery.state is DeliveryState.DELIVERED else None

    async def update(
        self,
        channel: str,
        ts: str,
        text: str,
        blocks: list[Block] | None = None,
        *,
        incident_id: str | None = None,
    ) -> bool:
        """chat.update through the outbox; False only when it failed for good already."""
        delivery = await self.deliver(
            DeliveryKind.UPDATE, channel, text, blocks, thread=ts, incident_id=incident_id
        )
        return delivery.state is not DeliveryState.FAILED

    async def ephemeral(
        self, channel: str, user: str, text: str, thread_ts: str | None = None
    ) -> bool:
        """chat.postEphemeral through the outbox: only ``user`` sees it, retried like any
        delivery while Slack is down. Where the bot may not whisper (it is not in the channel:
        ``not_in_channel``, ``channel_not_found``) the person gets it in their direct messages
        with the app instead. False only when it failed for good already."""
        delivery = await self.deliver(
            DeliveryKind.EPHEMERAL, channel, text, thread=thread_ts, user=user
        )
        return delivery.state is not DeliveryState.FAILED

    async def respond(
        self,
        response_url: str,
        text: str,
        in_channel: bool = False,
        blocks: list[Block] | None = None,
    ) -> bool:
        """Answer a slash command through its response_url."""
        webhook = AsyncWebhookClient(response_url, retry_handlers=self.client.retry_handlers)
        try:
            response = await webhook.send(
                text=self._text(text),
                response_type="in_channel" if in_channel else "ephemeral",
                blocks=self.clean_blocks(blocks) if blocks else None,
            )
        except (SlackClientError, ClientError, TimeoutError) as exc:
            SLACK_API_ERRORS.labels(method="response_url").inc()
            log.warning("response_url failed", extra={"error": repr(exc)})
            return False
        if response.status_code >= 300:
            SLACK_API_ERRORS.labels(method="response_url").inc()
            log.warning("response_url refused", extra={"status": response.status_code})
            return False
        return True

    async def publish_home(self, user_id: str, view: dict[str, Any]) -> bool:
        """views.publish a Home tab view for one user (redacted like every text we send)."""
        cleaned = {**view, "blocks": self.clean_blocks(list(view.get("blocks", [])))}
        return await self._call("views.publish", user_id=user_id, view=cleaned) is not None

    async def create_channel(self, name: str) -> tuple[str | None, str]:
        """conversations.create; (channel id, "") or (None, Slack's error code)."""
        try:
            response = await self.client.conversations_create(name=name)
        except SlackApiError as exc:
            SLACK_API_ERRORS.labels(method="conversations.create").inc()
            return None, str(exc.response.get("error", "unknown_error"))
        except (SlackClientError, ClientError, TimeoutError) as exc:
            SLACK_API_ERRORS.labels(method="conversations.create").inc()
            return None, repr(exc)
        channel = response.get("channel") or {}
        channel_id = channel.get("id") if isinstance(channel, dict) else None
        return (channel_id, "") if isinstance(channel_id, str) else (None, "no channel id")

    async def invite(self, channel: str, users: list[str]) -> bool:
        """conversations.invite; already-in-channel counts as success."""
        return (
            await self._call("conversations.invite", channel=channel, users=",".join(users))
            is not None
        )

    async def pin(self, channel: str, ts: str) -> bool:
        """pins.add: pin the message ``ts`` in ``channel``."""
        return await self._call("pins.add", channel=channel, timestamp=ts) is not None

    async def upload_file(
        self,
        channel: str,
        filename: str,
        content: str,
        title: str,
        thread_ts: str | None = None,
    ) -> str | None:
        """Share ``content`` (redacted) as a file: Slack's external upload in three steps.

        files.getUploadURLExternal (filename, length) → POST the bytes to the upload URL →
        files.completeUploadExternal (files=[{id, title}], channel_id, thread_ts). Returns the
        file id, or None when any step failed (logged, counted, never raised).
        """
        body = self._redact(content).encode()
        return await self._upload(channel, filename, body, title, thread_ts)

    async def upload_image(
        self,
        channel: str,
        filename: str,
        content: bytes,
        title: str,
        thread_ts: str | None = None,
        comment: str = "",
    ) -> str | None:
        """Share an image the bot drew (bytes, nothing to redact) with a redacted comment."""
        return await self._upload(
            channel, filename, content, title, thread_ts, self._text(comment) if comment else ""
        )

    async def _upload(
        self,
        channel: str,
        filename: str,
        body: bytes,
        title: str,
        thread_ts: str | None,
        comment: str = "",
    ) -> str | None:
        granted = await self._call(
            "files.getUploadURLExternal", form=True, filename=filename, length=len(body)
        )
        upload_url = granted.get("upload_url") if granted else None
        file_id = granted.get("file_id") if granted else None
        if not isinstance(upload_url, str) or not isinstance(file_id, str):
            return None
        if not await self._send_bytes(upload_url, filename, body):
            return None
        args: dict[str, Any] = {
            "files": json.dumps([{"id": file_id, "title": fit(plain(title), LIMITS.file_title)}]),
            "channel_id": channel,
        }
        if thread_ts:
            args["thread_ts"] = thread_ts
        if comment:
            args["initial_comment"] = comment
        done = await self._call("files.completeUploadExternal", form=True, **args)
        return file_id if done is not None else None

    async def _send_bytes(self, upload_url: str, filename: str, body: bytes) -> bool:
        """POST the raw bytes to the pre-signed upload URL (it takes no token)."""
        timeout = aiohttp.ClientTimeout(total=UPLOAD_SECONDS)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with session.post(
                    upload_url,
                    data=body,
                    headers={"Content-Type": "application/octet-stream"},
                    ssl=self.client.ssl if self.client.ssl is not None else True,
                    proxy=self.client.proxy,
                ) as response:
                    status = response.status
        except (ClientError, TimeoutError) as exc:
            SLACK_API_ERRORS.labels(method="file_upload").inc()
            log.warning("file upload failed", extra={"upload": filename, "error": repr(exc)})
            return False
        if status != 200:
            SLACK_API_ERRORS.labels(method="file_upload").inc()
            log.warning("file upload refused", extra={"upload": filename, "status": status})
            return False
        return True
