"""A loopback stand-in for PagerDuty's Events API v2 and Opsgenie's Alert API.

It answers as the documented APIs do and refuses what they would refuse:

- ``POST /v2/enqueue`` (PagerDuty): JSON with ``routing_key`` (32 characters), ``event_action``
  trigger | acknowledge | resolve, ``dedup_key`` (at most 255 characters) and, on trigger, a
  ``payload`` with ``summary`` (at most 1024), ``source``, ``severity`` critical | error |
  warning | info and optional ``component``, ``group``, ``class``, ``custom_details``. 202
  ``{"status": "success", "message": "Event processed", "dedup_key": …}``; else 400 with
  ``{"status": "invalid event", "errors": [...]}``.
- ``POST /v2/alerts`` (Opsgenie): ``Authorization: GenieKey <key>``, JSON with ``message``
  (at most 130), optional ``alias`` (at most 512), ``description``, ``priority`` P1-P5,
  ``responders`` [{name|id|username, type team|user|escalation|schedule}]. 202
  ``{"result": "Request will be processed", "took": …, "requestId": …}``; 401 without the key,
  422 on a bad field.

Every request is recorded; repeated dedup keys / aliases are counted as one open page each.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

PD_ACTIONS = {"trigger", "acknowledge", "resolve"}
PD_SEVERITIES = {"critical", "error", "warning", "info"}
PD_PAYLOAD_FIELDS = {
    "summary", "source", "severity", "timestamp", "component", "group", "class", "custom_details",
}  # fmt: skip
OG_PRIORITIES = {"P1", "P2", "P3", "P4", "P5"}
OG_RESPONDER_TYPES = {"team", "user", "escalation", "schedule"}
OG_FIELDS = {
    "message", "alias", "description", "responders", "visibleTo", "actions", "tags", "details",
    "entity", "source", "priority", "user", "note",
}  # fmt: skip


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any
    status: int
    errors: list[str] = field(default_factory=list)


@dataclass
class PagingServer:
    """Run with ``await server.start()``; ``url`` is its base (http://127.0.0.1:PORT)."""

    routing_keys: set[str] = field(default_factory=set)
    api_keys: set[str] = field(default_factory=set)
    requests: list[Recorded] = field(default_factory=list)
    open_pages: dict[str, int] = field(default_factory=dict)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v2/enqueue", self._pagerduty)
        app.router.add_post("/v2/alerts", self._opsgenie)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _record(self, request: web.Request, body: Any, status: int, errors: list[str]) -> None:
        self.requests.append(Recorded(request.path, dict(request.headers), body, status, errors))

    async def _json(self, request: web.Request) -> Any:
        if request.content_type != "application/json":
            return None
        try:
            return await request.json()
        except ValueError:
            return None

    async def _pagerduty(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        errors = pagerduty_problems(body, self.routing_keys)
        if errors:
            self._record(request, body, 400, errors)
            return web.json_response(
                {"status": "invalid event", "message": "Event object is invalid", "errors": errors},
                status=400,
            )
        key = body["dedup_key"]
        if body["event_action"] == "trigger":
            self.open_pages[key] = self.open_pages.get(key, 0) + 1
        self._record(request, body, 202, [])
        return web.json_response(
            {"status": "success", "message": "Event processed", "dedup_key": key}, status=202
        )

    async def _opsgenie(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme != "GenieKey" or key not in self.api_keys:
            self._record(request, body, 401, ["bad key"])
            return web.json_response({"message": "Key format is not valid!"}, status=401)
        errors = opsgenie_problems(body)
        if errors:
            self._record(request, body, 422, errors)
            return web.json_response({"message": "; ".join(errors)}, status=422)
        alias = body.get("alias") or body["message"]
        self.open_pages[alias] = self.open_pages.get(alias, 0) + 1
        self._record(request, body, 202, [])
        return web.json_response(
            {"result": "Request will be processed", "took": 0.01, "requestId": str(uuid.uuid4())},
            status=202,
        )


def pagerduty_problems(body: Any, routing_keys: set[str]) -> list[str]:
    """What the Events API v2 would refuse in ``body``."""
    if not isinstance(body, dict):
        return ["body must be a JSON object"]
    errors = []
    if body.get("routing_key") not in routing_keys or len(str(body.get("routing_key"))) != 32:
        errors.append("routing_key is invalid")
    if body.get("event_action") not in PD_ACTIONS:
        errors.append("event_action must be trigger, acknowledge or resolve")
    dedup = body.get("dedup_key")
    if not isinstance(dedup, str) or not 0 < len(dedup) <= 255:
        errors.append("dedup_key must be a string of at most 255 characters")
    if body.get("event_action") == "trigger":
        payload = body.get("payload")
        if not isinstance(payload, dict):
            return [*errors, "payload is required for trigger"]
        if set(payload) - PD_PAYLOAD_FIELDS:
            errors.append(f"unknown payload fields {sorted(set(payload) - PD_PAYLOAD_FIELDS)}")
        summary = payload.get("summary")
        if not isinstance(summary, str) or not 0 < len(summary) <= 1024:
            errors.append("payload.summary must be 1-1024 characters")
        if not isinstance(payload.get("source"), str) or not payload["source"]:
            errors.append("payload.source is required")
        if payload.get("severity") not in PD_SEVERITIES:
            errors.append("payload.severity must be critical, error, warning or info")
    return errors


def opsgenie_problems(body: Any) -> list[str]:
    """What the Alert API would refuse in ``body``."""
    if not isinstance(body, dict):
        return ["body must be a JSON object"]
    errors = []
    if set(body) - OG_FIELDS:
        errors.append(f"unknown fields {sorted(set(body) - OG_FIELDS)}")
    message = body.get("message")
    if not isinstance(message, str) or not 0 < len(message) <= 130:
        errors.append("message must be 1-130 characters")
    if "alias" in body and (not isinstance(body["alias"], str) or len(body["alias"]) > 512):
        errors.append("alias must be at most 512 characters")
    if "priority" in body and body["priority"] not in OG_PRIORITIES:
        errors.append("priority must be P1-P5")
    for responder in body.get("responders", []):
        if not isinstance(responder, dict) or responder.get("type") not in OG_RESPONDER_TYPES:
            errors.append("responder type must be team, user, escalation or schedule")
        elif not {"id", "name", "username"} & set(responder):
            errors.append("a responder needs an id, name or username")
    return errors
