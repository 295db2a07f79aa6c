"""The ``page`` executor: pages a service's on-call through PagerDuty's Events API v2 or
Opsgenie's Alert API, one page per incident and service (the provider's dedup key / alias).

Which provider and which key come from ``services.yaml`` (``oncall.paging``: the provider and
the *name* of the key) and settings (``PAGING_KEYS``: name -> key); the plan carries neither,
so no key is ever shown on a card or written to a timeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from pydantic import SecretStr

from bot.actions.plans import ExecutionPlan
from bot.policy.documents import PagingProvider
from bot.ports import RunReport

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
OPSGENIE_API_URL = "https://api.opsgenie.com"
# Opsgenie cuts a message at 130 characters and an alias at 512; PagerDuty a summary at 1024.
OPSGENIE_MESSAGE_CHARS = 130
PAGERDUTY_SUMMARY_CHARS = 1024
SOURCE = "incident-bot"
PAGERDUTY_SEVERITY = {"high": "critical", "low": "warning"}
OPSGENIE_PRIORITY = {"high": "P1", "low": "P3"}


@dataclass(frozen=True)
class PagingTarget:
    """How one service's on-call is reached."""

    provider: PagingProvider
    key: SecretStr
    responders: tuple[str, ...] = ()


def dedup_key(plan: ExecutionPlan, service: str) -> str:
    """One page per incident and paged service: a repeat only updates the open page."""
    return f"{SOURCE}/{plan.incident_id or plan.request_id}/{service}"


def pagerduty_event(plan: ExecutionPlan, service: str, key: str) -> dict[str, Any]:
    """The Events API v2 ``trigger`` event for a plan."""
    body = plan.body
    return {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": dedup_key(plan, service),
        "payload": {
            "summary": str(body.get("message", ""))[:PAGERDUTY_SUMMARY_CHARS],
            "source": SOURCE,
            "severity": PAGERDUTY_SEVERITY.get(str(body.get("urgency")), "error"),
            "component": service,
            "custom_details": {"incident": plan.incident_id, "request": plan.request_id},
        },
    }


def opsgenie_alert(
    plan: ExecutionPlan, service: str, responders: tuple[str, ...]
) -> dict[str, Any]:
    """The Alert API ``POST /v2/alerts`` body for a plan."""
    message = str(plan.body.get("message", ""))
    return {
        "message": message[:OPSGENIE_MESSAGE_CHARS],
        "alias": dedup_key(plan, service),
        "description": message,
        "priority": OPSGENIE_PRIORITY.get(str(plan.body.get("urgency")), "P2"),
        "responders": [{"name": team, "type": "team"} for team in responders],
        "source": SOURCE,
        "entity": service,
        "details": {"incident": plan.incident_id, "request": plan.request_id},
    }


class PageExecutor:
    """Sends one page; 2xx (PagerDuty and Opsgenie answer 202) is success."""

    def __init__(
        self,
        targets: Mapping[str, PagingTarget],
        default_timeout: float,
        *,
        pagerduty_url: str = PAGERDUTY_EVENTS_URL,
        opsgenie_url: str = OPSGENIE_API_URL,
    ) -> None:
        self._targets = dict(targets)
        self.default_timeout = default_timeout
        self.pagerduty_url = pagerduty_url
        self.opsgenie_url = opsgenie_url.rstrip("/")

    async def run(self, plan: ExecutionPlan) -> RunReport:
        """Page the team the plan names (``team``, else the incident's service)."""
        service = str(plan.body.get("team") or plan.body.get("service") or "")
        detail: dict[str, Any] = {"service": service, "dedup_key": dedup_key(plan, service)}
        target = self._targets.get(service)
        if target is None:
            return RunReport(
                ok=False,
                detail=detail,
                error=f"no paging set up for {service!r} (services.yaml oncall.paging and "
                "its key in PAGING_KEYS)",
            )
        secret = target.key.get_secret_value()
        if target.provider is PagingProvider.PAGERDUTY:
            url, headers = self.pagerduty_url, {}
            body = pagerduty_event(plan, service, secret)
        else:
            url = f"{self.opsgenie_url}/v2/alerts"
            headers = {"Authorization": f"GenieKey {secret}"}
            body = opsgenie_alert(plan, service, target.responders)
        detail.update(provider=target.provider.value, url=url)
        timeout = aiohttp.ClientTimeout(total=plan.timeout_seconds or self.default_timeout)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(url, json=body, headers=headers, allow_redirects=False) as response,
            ):
                text = await response.text(errors="replace")
        except (aiohttp.ClientError, TimeoutError) as exc:
            return RunReport(ok=False, detail=detail, error=f"page failed: {exc!r}")
        detail.update(status=response.status, response=text[:1000])
        if not 200 <= response.status < 300:
            return RunReport(ok=False, detail=detail, error=f"HTTP {response.status}")
        return RunReport(ok=True, detail=detail)
