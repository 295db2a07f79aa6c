"""The `/incident` slash command: parse at once, ack within Slack's 3 s, do the work after."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.clock import utcnow
from bot.errors import NotFound
from bot.models import ConversationRef, Incident, IncidentStatus
from bot.pipeline import AckStatus, AssignStatus, ResolveStatus, SeverityStatus
from bot.postmortem import Escaping, build_postmortem, people_in
from bot.slack import messages
from bot.slack.arguments import (
    INCIDENT_ID,
    SLOW,
    Invocation,
    UsageError,
    guess_service,
    parse,
    severity_at,
)
from bot.slack.markup import code, markdown
from bot.slack.runtime import SlackRuntime

if TYPE_CHECKING:
    # Annotation only: the declare form's module builds on this one.
    from bot.slack.declare import DeclareForm
    from bot.slack.update_form import UpdateForm

log = logging.getLogger(__name__)

COMMAND = "/incident"
LIST_LIMIT = 20


@dataclass(frozen=True)
class Caller:
    """Who ran the command, where, and how to answer them."""

    user_id: str
    channel_id: str
    response_url: str


class IncidentCommand:
    """The `/incident` listener and one method per subcommand; each calls the pipeline."""

    def __init__(
        self, runtime: SlackRuntime, declarer: DeclareForm, updater: UpdateForm
    ) -> None:
        self.runtime = runtime
        self.pipeline = runtime.pipeline
        self.declarer = declarer
        self.updater = updater

    async def on_command(self, ack: AsyncAck, command: dict[str, Any]) -> None:
        """Ack first (usage errors in the ack itself), then run the subcommand."""
        try:
            invocation = parse(str(command.get("text", "")))
        except UsageError as exc:
            sub = str(command.get("text", "")).split(" ", 1)[0].lower()
            await ack(messages.bad_arguments(sub, str(exc)))
            return
        handler = self._handlers().get(invocation.subcommand)
        if invocation.subcommand == "help":
            await ack(messages.usage())
            return
        if invocation.subcommand == "declare" and not invocation.args:
            # No title: the form, opened before the ack (its trigger id lives 3 s).
            await self.declarer.open_from_command(ack, command, invocation)
            return
        if invocation.wants_form:
            # No text: the status-update form, opened before the ack as the declare form is.
            ref = invocation.args[0] if invocation.args else ""
            await self.updater.open_from_command(ack, command, ref)
            return
        if handler is None:
            await ack(messages.unknown_subcommand(invocation.subcommand))
            return
        slow = invocation.subcommand in SLOW
        if slow:
            await ack(messages.working(invocation.subcommand))
        else:
            await ack()
        caller = Caller(
            user_id=str(command.get("user_id", "")),
            channel_id=str(command.get("channel_id", "")),
            response_url=str(command.get("response_url", "")),
        )
        self.runtime.after_ack(
            handler(invocation, caller),
            f"command:{invocation.subcommand}",
            lambda text: self._respond(caller, text),
        )

    def _handlers(self) -> dict[str, Callable[[Invocation, Caller], Awaitable[None]]]:
        return {
            "declare": self.declare,
            "triage": self.triage,
            "status": self.status,
            "list": self.list_open,
            "timeline": self.timeline,
            "resolve": self.resolve,
            "postmortem": self.postmortem,
            "note": self.note,
            "ack": self.acknowledge,
            "assign": self.assign,
            "update": self.update,
            "recategorize": self.recategorize,
            "severity": self.severity,
        }

    async def _respond(
        self, caller: Caller, text: str, in_channel: bool = False, markdown: bool = False
    ) -> None:
        if caller.response_url:
            blocks = [{"type": "markdown", "text": text}] if markdown else None
            await self.runtime.outbox.respond(caller.response_url, text, in_channel, blocks)
        elif caller.channel_id:
            await self.runtime.outbox.ephemeral(caller.channel_id, caller.user_id, text)

    async def _incident(self, caller: Caller, incident_id: str) -> Incident | None:
        try:
            return await self.pipeline.incident(incident_id)
        except NotFound:
            await self._respond(caller, messages.incident_not_found(incident_id))
            return None

    def _service(self, invocation: Invocation) -> str:
        known = self.pipeline.policy.services.keys()
        return guess_service(invocation.service or invocation.rest, known)

    async def declare(self, invocation: Invocation, caller: Caller) -> None:
        """Open an incident by hand, announced in this channel or a new one, then triaged."""
        declaration = self.declarer.from_command(invocation, caller.channel_id)
        await self.declarer.declare(declaration, caller.user_id, lambda t: self._respond(caller, t))

    async def triage(self, invocation: Invocation, caller: Caller) -> None:
        """File the text as a report from the caller, then triage it (they are the requester)."""
        now = utcnow()
        incident, result = await self.pipeline.report(
            invocation.rest,
            self._service(invocation),
            caller.user_id,
            now,
            asked_in=ConversationRef(kind="slack", channel=caller.channel_id),
        )
        await self._respond(caller, messages.triage_started(incident))
        if result is None:
            await self._respond(caller, messages.triage_skipped(incident))
        elif result.incident.card is None:
            # Slack refused the card for good (most often: the bot is not in this channel).
            await self._respond(caller, messages.card_not_posted(result.incident))

    async def _named_or_here(
        self, caller: Caller, words: list[str], *, leading_text: bool = False
    ) -> tuple[Incident | None, list[str]]:
        """The incident named by the first word, else this channel's; with the other words.

        ``leading_text``: the first word counts as an id only when it looks like one and more
        words follow (``note`` and ``update`` take free text after it). A miss is answered.
        """
        named = bool(words) and (
            not leading_text or (len(words) > 1 and INCIDENT_ID.match(words[0]) is not None)
        )
        if named:
            return await self._incident(caller, words[0]), words[1:]
        incident = await self.pipeline.incident_in(caller.channel_id)
        if incident is None:
            await self._respond(caller, messages.no_incident_here())
        return incident, words

    async def status(self, invocation: Invocation, caller: Caller) -> None:
        """One incident's status: the id given, or the open incident of this channel."""
        incident, _ = await self._named_or_here(caller, invocation.args)
        if incident is not None:
            requests = await self.pipeline.requests_of(incident.id)
            await self._respond(caller, messages.incident_status(incident, requests))

    async def list_open(self, invocation: Invocation, caller: Caller) -> None:
        """The open incidents, most recent first."""
        found = await self.pipeline.incidents(IncidentStatus.OPEN, limit=LIST_LIMIT)
        text = messages.incident_list(found) if found else messages.no_open_incidents()
        await self._respond(caller, text)

    async def timeline(self, invocation: Invocation, caller: Caller) -> None:
        """One incident's timeline."""
        incident = await self._incident(caller, invocation.args[0])
        if incident is not None:
            events = await self.pipeline.timeline_of(incident.id)
            await self._respond(caller, messages.timeline(incident, events))

    async def resolve(self, invocation: Invocation, caller: Caller) -> None:
        """Close an incident by hand (commander, approvers, admins), with an optional note."""
        incident = await self._incident(caller, invocation.args[0])
        if incident is None:
            return
        note = " ".join(invocation.args[1:])
        result = await self.pipeline.resolve_incident(incident.id, caller.user_id, note, utcnow())
        if result.status is ResolveStatus.ALREADY_RESOLVED:
            await self._respond(caller, messages.already_resolved(incident))
        elif result.status is ResolveStatus.NOT_ALLOWED:
            await self._respond(caller, messages.not_allowed_to_resolve(incident))
        else:
            text = messages.resolved(result.incident, caller.user_id, note)
            await self._respond(caller, text, True)

    async def note(self, invocation: Invocation, caller: Caller) -> None:
        """Write a note on the timeline of the incident named first, or of this channel's."""
        incident, words = await self._named_or_here(caller, invocation.args, leading_text=True)
        if incident is None:
            return
        text = " ".join(words)
        await self.pipeline.add_note(incident.id, caller.user_id, text, utcnow())
        await self._respond(caller, messages.note_added(incident, caller.user_id, text), True)

    async def update(self, invocation: Invocation, caller: Caller) -> None:
        """Post a status update on the incident named first, or on this channel's: in its
        conversation and the broadcast channel (the Notifier), on its timeline."""
        incident, words = await self._named_or_here(caller, invocation.args, leading_text=True)
        if incident is None:
            return
        posted = await self.pipeline.post_update(
            incident.id, caller.user_id, " ".join(words), utcnow()
        )
        await self._respond(caller, messages.update_posted(posted))

    async def recategorize(self, invocation: Invocation, caller: Caller) -> None:
        """Correct the category (and severity) triage gave an incident; said in the channel."""
        incident = await self._incident(caller, invocation.args[0])
        if incident is None or invocation.category is None:
            return
        reason = " ".join(invocation.args[1:])
        corrected = await self.pipeline.recategorize(
            incident.id,
            invocation.category,
            caller.user_id,
            utcnow(),
            severity=invocation.severity,
            reason=reason,
        )
        text = messages.recategorized(corrected.incident, corrected.correction)
        await self._respond(caller, text, True)

    async def severity(self, invocation: Invocation, caller: Caller) -> None:
        """Set the severity of the incident named first, or of this channel's; said there."""
        at = severity_at(invocation.args)
        incident, _ = await self._named_or_here(caller, invocation.args[:at])
        if incident is None or invocation.severity is None:
            return
        reason = " ".join(invocation.args[at + 1 :])
        changed = await self.pipeline.change_severity(
            incident.id, invocation.severity, caller.user_id, reason, utcnow()
        )
        if changed.status is SeverityStatus.CHANGED:
            text = messages.severity_changed(
                changed.incident, changed.previous, caller.user_id, changed.reason
            )
            await self._respond(caller, text, True)
        elif changed.status is SeverityStatus.UNCHANGED:
            await self._respond(caller, messages.severity_unchanged(changed.incident))
        else:
            await self._respond(caller, messages.already_resolved(changed.incident))

    async def acknowledge(self, invocation: Invocation, caller: Caller) -> None:
        """Take the incident named, or this channel's: stops escalation, leads it if nobody does."""
        incident, _ = await self._named_or_here(caller, invocation.args)
        if incident is None:
            return
        result = await self.pipeline.acknowledge(incident.id, caller.user_id, utcnow())
        if result.status is AckStatus.ACKNOWLEDGED:
            await self._respond(caller, messages.acknowledged(result.incident), True)
        elif result.status is AckStatus.ALREADY:
            await self._respond(caller, messages.already_acknowledged(result.incident))
        else:
            await self._respond(caller, messages.already_resolved(result.incident))

    async def assign(self, invocation: Invocation, caller: Caller) -> None:
        """Give a role (commander unless named) on the incident named, or this channel's, to
        the person mentioned; said in the channel."""
        incident, _ = await self._named_or_here(caller, invocation.args)
        if incident is None or invocation.assignee is None or invocation.role is None:
            return
        result = await self.pipeline.assign_role(
            incident.id, invocation.role, invocation.assignee, caller.user_id, utcnow()
        )
        if result.status is AssignStatus.ASSIGNED:
            text = messages.role_assigned(
                result.incident, result.role, result.user, caller.user_id, result.previous
            )
            await self._respond(caller, text, True)
        elif result.status is AssignStatus.UNCHANGED:
            await self._respond(caller, messages.role_unchanged(result.incident, result.role))
        elif result.status is AssignStatus.NOT_ALLOWED:
            await self._respond(caller, messages.not_allowed_to_assign(result.incident))
        else:
            await self._respond(caller, messages.roles_closed(result.incident))

    async def postmortem(self, invocation: Invocation, caller: Caller) -> None:
        """The post-incident review, always as a markdown file (display names, not ids)."""
        incident = await self._incident(caller, invocation.args[0])
        if incident is None:
            return
        facts = await self.pipeline.postmortem_facts(incident.id)
        names = await self.runtime.people.names(people_in(facts))
        review = build_postmortem(facts, utcnow(), Escaping(value=markdown, code=code), names)
        filename = f"postmortem-{incident.id}.md"
        title = f"Post-incident review: {incident.title}"
        if await self.runtime.outbox.upload_file(caller.channel_id, filename, review, title):
            note = messages.postmortem_uploaded(incident, filename, len(review))
            await self._respond(caller, note, in_channel=True)
            return
        # Slack refused the file (e.g. the bot is not in this channel): say so, never cut it.
        await self._respond(caller, messages.postmortem_upload_failed(incident))


def attach(
    app: AsyncApp, runtime: SlackRuntime, declarer: DeclareForm, updater: UpdateForm
) -> None:
    """Attach the `/incident` listener to the Bolt app (with the declare and update forms)."""
    app.command(COMMAND)(IncidentCommand(runtime, declarer, updater).on_command)
