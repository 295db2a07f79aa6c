"""Resolve Slack user groups named as approvers into their members, with a short-lived cache."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

from aiohttp import ClientError
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.metrics import SLACK_API_ERRORS
from bot.policy.approvers import is_group

log = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 300.0
FAILURE_TTL_SECONDS = 10.0


class ApproverDirectory:
    """usergroups.users.list per group, cached for ``ttl_seconds`` (failures only briefly).

    A group that cannot be resolved counts as empty: nobody gets approval rights by accident.
    """

    def __init__(
        self,
        client: AsyncWebClient,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._ttl = ttl_seconds
        self._clock = clock
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def members(self, approver_ids: Iterable[str]) -> dict[str, frozenset[str]]:
        """``{group_id: members}`` for every user-group id among ``approver_ids``."""
        groups = sorted({a for a in approver_ids if is_group(a)})
        resolved = await asyncio.gather(*(self.group(g) for g in groups))
        return dict(zip(groups, resolved, strict=True))

    async def group(self, group_id: str) -> frozenset[str]:
        """Members of one user group (cached)."""
        cached = self._fresh(group_id)
        if cached is not None:
            return cached
        lock = self._locks.setdefault(group_id, asyncio.Lock())
        async with lock:
            cached = self._fresh(group_id)
            if cached is not None:
                return cached
            users, ok = await self._fetch(group_id)
            ttl = self._ttl if ok else FAILURE_TTL_SECONDS
            self._cache[group_id] = (self._clock() + ttl, users)
            return users

    def _fresh(self, group_id: str) -> frozenset[str] | None:
        entry = self._cache.get(group_id)
        if entry is not None and entry[0] > self._clock():
            return entry[1]
        return None

    async def _fetch(self, group_id: str) -> tuple[frozenset[str], bool]:
        try:
            response = await self._client.usergroups_users_list(usergroup=group_id)
        except SlackApiError as exc:
            SLACK_API_ERRORS.labels(method="usergroups.users.list").inc()
            log.warning(
                "cannot resolve user group; treating it as empty",
                extra={"group": group_id, "error": exc.response.get("error", "?")},
            )
            return frozenset(), False
        except (SlackClientError, ClientError, TimeoutError) as exc:
            SLACK_API_ERRORS.labels(method="usergroups.users.list").inc()
            log.warning(
                "user group lookup failed; treating it as empty",
                extra={"group": group_id, "error": repr(exc)},
            )
            return frozenset(), False
        users = response.get("users") or []
        return frozenset(u for u in users if isinstance(u, str)), True
