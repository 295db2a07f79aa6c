"""Declaring an incident: ``/incident declare`` with arguments, or the declare form.

``/incident declare`` without a title and the global shortcut (``DECLARE_SHORTCUT``) open the
same modal with ``views.open`` and the request's ``trigger_id``, before the listener returns
(Bolt answers Slack when it does: the trigger id is good for 3 s only). The modal carries the
channel it was opened from in ``private_metadata``; its ``view_submission`` is checked first
(refusals go back in the ack, under the field at fault), then the incident is declared after
the ack like the command's: announced where it was declared (or in a new channel), the
declarer told where, and only then triaged from its title and description.

From the shortcut there is no channel: the incident is announced in a new channel when the
form asks for one, else in the configured incident channel (``SLACK_INCIDENT_CHANNEL``); with
neither, the form asks for a new channel.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import utcnow
from bot.models import ConversationRef, Severity
from bot.slack import messages
from bot.slack.action_ids import (
    DECLARE_CHANNEL,
    DECLARE_DESCRIPTION,
    DECLARE_SERVICE,
    DECLARE_SEVERITY,
    DECLARE_SHORTCUT,
    DECLARE_TITLE,
    DECLARE_VIEW,
)
from bot.slack.arguments import Invocation, guess_service
from bot.slack.markup import LIMITS, fit, plain
from bot.slack.runtime import SlackRuntime

log = logging.getLogger(__name__)

Block = dict[str, Any]
Reply = Callable[[str], Awaitable[object]]

TITLE_CHARS = 200
DESCRIPTION_CHARS = 3_000
METADATA_CHARS = 300
# views.open is due within Slack's 3 s of the request; waiting longer only hides a failure.
OPEN_SECONDS = 2.5
NEW_CHANNEL = "new_channel"
CHANNEL_SHAPE_CHARS = 40


@dataclass(frozen=True)
class Declaration:
    """What a person declared and where they did it (``channel`` "" from the shortcut)."""

    title: str
    service: str
    severity: Severity
    channel: str
    description: str = ""
    new_channel: bool = False


def _text(text: str, limit: int) -> Block:
    return {"type": "plain_text", "text": fit(text, limit)}


def _option(label: str, value: str) -> Block:
    return {"text": _text(plain(label), LIMITS.option_text), "value": value}


def declare_modal(
    services: Sequence[str],
    *,
    channel: str,
    default_channel: bool,
    severity: Severity | None = None,
    service: str | None = None,
    new_channel: bool = False,
) -> Block:
    """The declare form. ``channel`` (where it was opened, "" from the shortcut) goes into the
    private metadata; ``default_channel``: an incident channel is configured."""
    form = messages.DECLARE_FORM
    blocks: list[Block] = [
        {
            "type": "input",
            "block_id": DECLARE_TITLE,
            "label": _text(form["title_label"], 2000),
            "element": {
                "type": "plain_text_input",
                "action_id": DECLARE_TITLE,
                "max_length": TITLE_CHARS,
                "placeholder": _text(form["title_placeholder"], LIMITS.placeholder_text),
            },
        }
    ]
    service_block = _service_block(services, service)
    if service_block is not None:
        blocks.append(service_block)
    severities = [_option(messages.SEVERITY_LABELS[s.value], s.value) for s in Severity]
    chosen = (severity or Severity.SEV2).value
    blocks.append(
        {
            "type": "input",
            "block_id": DECLARE_SEVERITY,
            "label": _text(form["severity_label"], 2000),
            "element": {
                "type": "static_select",
                "action_id": DECLARE_SEVERITY,
                "options": severities,
                "initial_option": next(o for o in severities if o["value"] == chosen),
            },
        }
    )
    blocks.append(
        {
            "type": "input",
            "block_id": DECLARE_DESCRIPTION,
            "optional": True,
            "label": _text(form["description_label"], 2000),
            "element": {
                "type": "plain_text_input",
                "action_id": DECLARE_DESCRIPTION,
                "multiline": True,
                "max_length": DESCRIPTION_CHARS,
                "placeholder": _text(form["description_placeholder"], LIMITS.placeholder_text),
            },
        }
    )
    blocks.append(_channel_block(channel, default_channel, new_channel))
    return {
        "type": "modal",
        "callback_id": DECLARE_VIEW,
        "private_metadata": json.dumps({"channel": channel}),
        "title": _text(form["title"], LIMITS.modal_title),
        "submit": _text(form["submit"], LIMITS.modal_title),
        "close": _text(form["close"], LIMITS.modal_title),
        "blocks": blocks,
    }


def _service_block(services: Sequence[str], chosen: str | None) -> Block | None:
    """The service menu: the catalogue's names (a static_select shows at most 100), optional;
    none when the catalogue is empty. A name too long for an option value is left out."""
    names = sorted(n for n in services if 0 < len(n) <= LIMITS.option_text)
    if not names:
        return None
    form = messages.DECLARE_FORM
    options = [_option(name, name) for name in names[: LIMITS.select_options]]
    element: Block = {
        "type": "static_select",
        "action_id": DECLARE_SERVICE,
        "placeholder": _text(form["service_placeholder"], LIMITS.placeholder_text),
        "options": options,
    }
    initial = next((o for o in options if o["value"] == chosen), None)
    if initial is not None:
        element["initial_option"] = initial
    block: Block = {
        "type": "input",
        "block_id": DECLARE_SERVICE,
        "optional": True,
        "label": _text(form["service_label"], 2000),
        "element": element,
    }
    if len(names) > LIMITS.select_options:
        block["hint"] = _text(form["services_cut"], 2000)
    return block


def _channel_block(channel: str, default_channel: bool, new_channel: bool) -> Block:
    form = messages.DECLARE_FORM
    option = {"text": _text(form["new_channel"], LIMITS.option_text), "value": NEW_CHANNEL}
    if channel:
        hint = form["announce_here"]
    elif default_channel:
        hint = form["announce_default"]
    else:
        hint, new_channel = form["announce_nowhere"], True
    element: Block = {"type": "checkboxes", "action_id": DECLARE_CHANNEL, "options": [option]}
    if new_channel:
        element["initial_options"] = [option]
    return {
        "type": "input",
        "block_id": DECLARE_CHANNEL,
        "optional": True,
        "label": _text(form["channel_label"], 2000),
        "hint": _text(hint, 2000),
        "element": element,
    }


def _entered(values: dict[str, Any], name: str) -> dict[str, Any]:
    entered = (values.get(name) or {}).get(name) or {}
    return entered if isinstance(entered, dict) else {}


def _chosen(values: dict[str, Any], name: str) -> str:
    option = _entered(values, name).get("selected_option") or {}
    return str(option.get("value") or "") if isinstance(option, dict) else ""


def submitted_channel(view: dict[str, Any]) -> str:
    """The channel the form was opened from, as its private metadata says ("" if none)."""
    try:
        meta = json.loads(str(view.get("private_metadata", ""))[:METADATA_CHARS])
    except ValueError:
        return ""
    channel = meta.get("channel") if isinstance(meta, dict) else None
    return channel[:CHANNEL_SHAPE_CHARS] if isinstance(channel, str) else ""


def read_form(
    view: dict[str, Any], services: Sequence[str], default_channel: bool
) -> tuple[Declaration | None, dict[str, str]]:
    """The declaration a submitted form holds, or the refusals per block id."""
    values = (view.get("state") or {}).get("values") or {}
    errors = messages.DECLARE_ERRORS
    refused: dict[str, str] = {}
    title = " ".join(str(_entered(values, DECLARE_TITLE).get("value") or "").split())
    if not title:
        refused[DECLARE_TITLE] = errors["title"]
    elif len(title) > TITLE_CHARS:
        refused[DECLARE_TITLE] = errors["title_long"]
    description = str(_entered(values, DECLARE_DESCRIPTION).get("value") or "").strip()
    service = _chosen(values, DECLARE_SERVICE)
    if service and service not in services:
        refused[DECLARE_SERVICE] = errors["service"]
    severity_value = _chosen(values, DECLARE_SEVERITY)
    if severity_value not in {s.value for s in Severity}:
        refused[DECLARE_SEVERITY] = errors["severity"]
    boxes = _entered(values, DECLARE_CHANNEL).get("selected_options") or []
    new_channel = any(isinstance(b, dict) and b.get("value") == NEW_CHANNEL for b in boxes)
    channel = submitted_channel(view)
    if not channel and not default_channel and not new_channel:
        refused[DECLARE_CHANNEL] = errors["channel"]
    if refused:
        return None, refused
    return (
        Declaration(
            title=title,
            # No service chosen: the first catalogue name the text mentions, like the command.
            service=service or guess_service(f"{title} {description}", services),
            severity=Severity(severity_value),
            channel=channel,
            description=description[:DESCRIPTION_CHARS],
            new_channel=new_channel,
        ),
        {},
    )


async def open_form(client: AsyncWebClient, trigger_id: str, view: Block, what: str) -> bool:
    """``views.open`` within the trigger's life; False (logged) when it did not open."""
    if not trigger_id:
        return False
    try:
        await asyncio.wait_for(client.views_open(trigger_id=trigger_id, view=view), OPEN_SECONDS)
    except SlackApiError as exc:
        log.warning(f"{what} form not opened", extra={"error": exc.response.get("error")})
        return False
    except (SlackClientError, OSError, TimeoutError) as exc:
        log.warning(f"{what} form not opened", extra={"error": repr(exc)})
        return False
    return True


class DeclareForm:
    """Opens the declare form (command, shortcut), reads its submission, declares."""

    def __init__(self, runtime: SlackRuntime, client: AsyncWebClient) -> None:
        self.runtime = runtime
        self.client = client

    def _services(self) -> list[str]:
        return sorted(self.runtime.pipeline.policy.services.keys())

    def _modal(self, channel: str, invocation: Invocation | None = None) -> Block:
        return declare_modal(
            self._services(),
            channel=channel,
            default_channel=bool(self.runtime.incident_channel),
            severity=invocation.severity if invocation else None,
            service=invocation.service if invocation else None,
            new_channel=invocation.new_channel if invocation else False,
        )

    def from_command(self, invocation: Invocation, channel: str) -> Declaration:
        """``/incident declare <title> [SEVn] [--service NAME] [--channel]`` as a declaration."""
        return Declaration(
            title=invocation.rest,
            service=guess_service(invocation.service or invocation.rest, self._services()),
            severity=invocation.severity or Severity.SEV2,
            channel=channel,
            new_channel=invocation.new_channel,
        )

    async def _open(self, trigger_id: str, view: Block) -> bool:
        return await open_form(self.client, trigger_id, view, "declare")

    async def open_from_command(
        self, ack: AsyncAck, command: dict[str, Any], invocation: Invocation
    ) -> None:
        """``/incident declare`` without a title: the form, filled with what was typed."""
        view = self._modal(str(command.get("channel_id", "")), invocation)
        if await self._open(str(command.get("trigger_id", "")), view):
            await ack()
        else:
            await ack(messages.declare_form_failed())

    async def on_shortcut(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """The global shortcut: the form, with no channel of its own."""
        opened = await self._open(str(body.get("trigger_id", "")), self._modal(""))
        await ack()
        if not opened:
            log.warning("declare shortcut: the form did not open")

    async def on_submit(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        """Check the form (refusals in the ack), close it, declare after the ack."""
        default = bool(self.runtime.incident_channel)
        declaration, refused = read_form(view, self._services(), default)
        if declaration is None:
            await ack(response_action="errors", errors=refused)
            return
        await ack()
        user = str((body.get("user") or {}).get("id", ""))
        reply_in = declaration.channel or self.runtime.incident_channel

        async def reply(text: str) -> None:
            if reply_in and user:
                await self.runtime.outbox.ephemeral(reply_in, user, text)

        self.runtime.after_ack(self.declare(declaration, user, reply), "declare:form", reply)

    async def declare(self, declaration: Declaration, user: str, reply: Reply) -> None:
        """Declare, answer the declarer, then triage from the title and description: the
        announcement and the answer never wait for the triage."""
        pipeline = self.runtime.pipeline
        asked_in = declaration.channel or self.runtime.incident_channel
        declared = await pipeline.declare_incident(
            declaration.title,
            declaration.service,
            declaration.severity,
            user,
            utcnow(),
            asked_in=ConversationRef(kind="slack", channel=asked_in),
            new_channel=declaration.new_channel,
            description=declaration.description,
        )
        if declared.problem:
            await reply(messages.channel_failed(declared.problem))
        where = declared.where
        if where is not None and where.channel != declaration.channel:
            await reply(messages.declared_elsewhere(declared.incident, where.channel))
        # The declarer asked for what triage proposes, like a report's author.
        await pipeline.triage_incident(declared.incident.id, utcnow(), requester=user)


def attach(app: AsyncApp, runtime: SlackRuntime) -> DeclareForm:
    """Attach the shortcut and the form's submission; the command opens it through the result."""
    form = DeclareForm(runtime, app.client)
    app.shortcut(DECLARE_SHORTCUT)(form.on_shortcut)
    app.view(DECLARE_VIEW)(form.on_submit)
    return form
