"""Everything the bot says to Slack goes through here: redacted, and failures logged not raised."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import ClientError
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.metrics import SLACK_API_ERRORS
from bot.slack.blocks import Block
from bot.slack.markup import CUT, LIMITS, fit, plain, size

log = logging.getLogger(__name__)

UPLOAD_SECONDS = 30


class Outbox:
    """Posts, updates and ephemeral answers; every ``text`` field is redacted on the way out."""

    def __init__(self, client: AsyncWebClient, redact: Callable[[str], str]) -> None:
        self.client = client
        self._redact = redact

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

    async def post(
        self,
        channel: str,
        text: str,
        blocks: list[Block] | None = None,
        thread_ts: str | None = None,
    ) -> str | None:
        """chat.postMessage; returns the message ts, or None when Slack refused."""
        args: dict[str, Any] = {"channel": channel, "text": self._text(text)}
        if blocks:
            args["blocks"] = self.clean_blocks(blocks)
        if thread_ts:
            args["thread_ts"] = thread_ts
        data = await self._call("chat.postMessage", **args)
        ts = data.get("ts") if data else None
        return ts if isinstance(ts, str) else None

    async def update(
        self, channel: str, ts: str, text: str, blocks: list[Block] | None = None
    ) -> bool:
        """chat.update of a message the bot posted."""
        args: dict[str, Any] = {"channel": channel, "ts": ts, "text": self._text(text)}
        if blocks is not None:
            args["blocks"] = self.clean_blocks(blocks)
        return await self._call("chat.update", **args) is not None

    async def ephemeral(
        self, channel: str, user: str, text: str, thread_ts: str | None = None
    ) -> bool:
        """chat.postEphemeral: only ``user`` sees it."""
        args: dict[str, Any] = {"channel": channel, "user": user, "text": self._text(text)}
        if thread_ts:
            args["thread_ts"] = thread_ts
        return await self._call("chat.postEphemeral", **args) is not None

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
