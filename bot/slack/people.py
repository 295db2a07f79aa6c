"""Display names of Slack users (``users.info``), cached with a TTL: the People port on Slack."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import ClientError
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.metrics import SLACK_API_ERRORS
from bot.postmortem import is_person

log = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 3600.0
FAILURE_TTL_SECONDS = 30.0
# One review names a handful of people; more at once would be a burst against users.info.
MAX_LOOKUPS = 50


def display_name(user: dict[str, Any]) -> str:
    """What Slack shows for a user: display name, else real name, else handle."""
    profile = user.get("profile") if isinstance(user.get("profile"), dict) else {}
    assert isinstance(profile, dict)
    for value in (profile.get("display_name"), profile.get("real_name"), user.get("real_name")):
        if isinstance(value, str) and value.strip():
            return value.strip()
    name = user.get("name")
    return name if isinstance(name, str) else ""


class SlackPeople:
    """users.info per user id, cached for ``ttl_seconds`` (failures only briefly)."""

    def __init__(
        self,
        client: AsyncWebClient,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._ttl = ttl_seconds
        self._clock = clock
        self._cache: dict[str, tuple[float, str]] = {}

    async def names(self, user_ids: Iterable[str]) -> dict[str, str]:
        """``{user id: display name}`` for the ids Slack knows; the rest are left out."""
        wanted = sorted({u for u in user_ids if is_person(u)})[:MAX_LOOKUPS]
        found = await asyncio.gather(*(self.name(u) for u in wanted))
        return {u: n for u, n in zip(wanted, found, strict=True) if n}

    async def name(self, user_id: str) -> str:
        """One user's display name ("" when Slack would not say)."""
        entry = self._cache.get(user_id)
        if entry is not None and entry[0] > self._clock():
            return entry[1]
        name, ok = await self._fetch(user_id)
        self._cache[user_id] = (self._clock() + (self._ttl if ok else FAILURE_TTL_SECONDS), name)
        return name

    async def _fetch(self, user_id: str) -> tuple[str, bool]:
        try:
            response = await self._client.users_info(user=user_id)
        except SlackApiError as exc:
            SLACK_API_ERRORS.labels(method="users.info").inc()
            log.info(
                "users.info refused",
                extra={"user": user_id, "error": exc.response.get("error", "?")},
            )
            return "", False
        except (SlackClientError, ClientError, TimeoutError) as exc:
            SLACK_API_ERRORS.labels(method="users.info").inc()
            log.warning("users.info failed", extra={"user": user_id, "error": repr(exc)})
            return "", False
        user = response.get("user")
        return (display_name(user), True) if isinstance(user, dict) else ("", True)


def people_for_token(
    token: str, api_url: str, *, ttl_seconds: float, timeout_seconds: float
) -> SlackPeople:
    """A SlackPeople with a client of its own (for the command line)."""
    client = AsyncWebClient(token=token, base_url=api_url, timeout=int(max(1, timeout_seconds)))
    return SlackPeople(client, ttl_seconds)
