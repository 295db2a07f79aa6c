"""The `/incident` slash command: parse at once, ack within Slack's 3 s, do the work after."""

from __future__ import annotations

import html
import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.clock import utcnow
from bot.errors import NotFound
from bot.models import Category, ConversationRef, Incident, IncidentStatus, Role, Severity
from bot.pipeline import AckStatus, AssignStatus, ResolveStatus, SeverityStatus
from bot.postmortem import Escaping, build_postmortem, people_in
from bot.slack import messages
from bot.slack.markup import LIMITS, code, markdown, visible
from bot.slack.runtime import SlackRuntime

if TYPE_CHECKING:
    # Annotation only: the declare form's module builds on this one.
    from bot.slack.declare import DeclareForm

log = logging.getLogger(__name__)

COMMAND = "/incident"
SEVERITY = re.compile(r"^sev[0-3]$", re.IGNORECASE)
# A last word that looks like a severity but is none (SEV9, sev-1): refused, never a title.
NOT_A_SEVERITY = re.compile(r"^sev-?[0-9]+$", re.IGNORECASE)
UNKNOWN_SERVICE = "unknown"
LIST_LIMIT = 20
SLOW = frozenset({"declare", "triage"})
NEEDS_ID = frozenset({"timeline", "resolve", "postmortem"})
INCIDENT_ID = re.compile(r"^(inc-[0-9a-f]{4,32}|INC-[0-9]{1,9})$", re.IGNORECASE)
# A user as Slack escapes a mention in command text: <@U123ABC> or <@U123ABC|name>.
USER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^<>]*)?>")
# Any of Slack's control sequences in text: <@U…|name>, <#C…|name>, <!here>, <url|label>.
SLACK_CONTROL = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")


class UsageError(ValueError):
    """The arguments do not fit the subcommand; the message says why."""


@dataclass
class Invocation:
    """One parsed `/incident` call."""

    subcommand: str
    args: list[str] = field(default_factory=list)
    severity: Severity | None = None
    service: str | None = None
    new_channel: bool = False
    category: Category | None = None
    # assign: who gets which role
    assignee: str | None = None
    role: Role | None = None

    @property
    def rest(self) -> str:
        """The free-text arguments joined back together."""
        return " ".join(self.args)


def readable(text: str) -> str:
    """Command text as Slack sends it (``&lt;`` for ``<``, mentions and links as ``<…>``) made
    plain: people and channels by name (``@bob``, ``#ops``), ``<!channel>`` as the word, links as
    their label and URL, entities decoded.

    Nothing here can ping anyone: what is shown later is escaped for its surface again.
    """

    def control(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2) or ""
        if target.startswith("@"):
            return "@" + (label or target[1:])
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!"):
            return "@" + (label.lstrip("@") or target[1:].split("^", 1)[0])
        return f"{label} ({target})" if label and label != target else target

    return html.unescape(SLACK_CONTROL.sub(control, text))


def parse(text: str) -> Invocation:
    """Split the command text; raises UsageError with a message for the user.

    Words are split on white space only: apostrophes and quotes in free text (``we can't
    restart``) are the text, not shell syntax.
    """
    if text.split(None, 1)[:1] == ["assign"]:
        # The person must be picked (<@U…>, whose name may hold spaces); anything else that
        # Slack escaped stays as sent, so it is refused as no person.
        words = USER_MENTION.sub(r"<@\1>", text).split()
    else:
        words = readable(text).split()
    if not words:
        return Invocation("help")
    invocation = Invocation(words[0].lower())
    rest = words[1:]
    while rest:
        word = rest.pop(0)
        if word == "--channel" and invocation.subcommand == "declare":
            invocation.new_channel = True
        elif word == "--service" and invocation.subcommand in SLOW:
            if not rest:
                raise UsageError("`--service` needs a service name.")
            invocation.service = rest.pop(0)
        else:
            invocation.args.append(word)
    _check(invocation)
    return invocation


def _check(invocation: Invocation) -> None:
    sub, args = invocation.subcommand, invocation.args
    if sub == "declare":
        # a title typed in quotes ("Checkout is down") is the same title
        args[:] = [w for w in (a.strip('"“”') for a in args) if w]
        if args and SEVERITY.match(args[-1]):
            invocation.severity = Severity(args.pop().upper())
        elif args and NOT_A_SEVERITY.match(args[-1]):
            raise UsageError(f"{args[-1].upper()[:12]} is not a severity (SEV0–SEV3).")
    elif sub == "triage" and not args:
        raise UsageError("`triage` needs a description of what you see.")
    elif sub == "note" and not args:
        raise UsageError("`note` needs the text to write down.")
    elif sub == "update" and not args:
        raise UsageError("`update` needs the text of the update.")
    elif sub in NEEDS_ID and not args:
        raise UsageError(f"`{sub}` needs an incident id.")
    elif sub in ("timeline", "postmortem", "status", "ack") and len(args) > 1:
        raise UsageError(f"`{sub}` takes one incident id.")
    elif sub in ("list", "help") and args:
        raise UsageError(f"`{sub}` takes no arguments.")
    elif sub == "recategorize":
        _check_recategorize(invocation)
    elif sub == "assign":
        _check_assign(invocation)
    elif sub == "severity":
        _check_severity(invocation)


def _check_recategorize(invocation: Invocation) -> None:
    """``<id> <category> [SEV0-3] [reason…]``: the id stays first in ``args``, the reason after."""
    args = invocation.args
    if len(args) < 2:
        raise UsageError("`recategorize` needs an incident id and a category.")
    name = args.pop(1).lower()
    try:
        invocation.category = Category(name)
    except ValueError:
        known = ", ".join(c.value for c in Category)
        raise UsageError(f"{name[:40]} is not a category ({known}).") from None
    if len(args) > 1 and SEVERITY.match(args[1]):
        invocation.severity = Severity(args.pop(1).upper())
    elif len(args) > 1 and NOT_A_SEVERITY.match(args[1]):
        raise UsageError(f"{args[1].upper()[:12]} is not a severity (SEV0–SEV3).")


def severity_at(args: list[str]) -> int:
    """Where the severity is in ``severity [id] <SEVn> [reason…]``: after an id, else first."""
    return 1 if len(args) > 1 and INCIDENT_ID.match(args[0]) else 0


def _check_severity(invocation: Invocation) -> None:
    """The severity stays in ``args`` (the handler finds it with ``severity_at``)."""
    args = invocation.args
    at = severity_at(args)
    if len(args) <= at or (at == 0 and INCIDENT_ID.match(args[0]) and len(args) == 1):
        raise UsageError("`severity` needs the new severity (SEV0–SEV3).")
    if not SEVERITY.match(args[at]):
        raise UsageError(f"{args[at].upper()[:12]} is not a severity (SEV0–SEV3).")
    invocation.severity = Severity(args[at].upper())


def _check_assign(invocation: Invocation) -> None:
    """``[id] @user [role]`` (the role may come first): only the id stays in ``args``."""
    args = invocation.args
    named = args[:1] if len(args) > 1 and INCIDENT_ID.match(args[0]) else []
    rest = args[len(named) :]
    people = [w for w in rest if w.startswith(("<", "@"))]
    others = [w for w in rest if not w.startswith(("<", "@"))]
    if not people:
        raise UsageError("`assign` needs the person to give the role to, as an @mention.")
    if len(people) > 1 or len(others) > 1:
        raise UsageError("`assign` takes one @mention and at most one role.")
    found = USER_MENTION.fullmatch(people[0])
    if found is None:
        raise UsageError(
            f"{people[0][:40]} is not a person: pick them from the @ menu so Slack sends "
            "their id (a user, not a group or channel)."
        )
    role = others[0].lower() if others else Role.COMMANDER.value
    if role not in {r.value for r in Role}:
        known = ", ".join(r.value for r in Role)
        raise UsageError(f"{role[:40]} is not a role ({known}).")
    invocation.args = named
    invocation.assignee = found.group(1)
    invocation.role = Role(role)


def guess_service(text: str, known: Iterable[str]) -> str:
    """The first known service named in ``text`` (whole words), else ``unknown``."""
    words = set(re.findall(r"[a-z0-9][a-z0-9._-]*", text.lower()))
    for name in sorted(known, key=len, reverse=True):
        if name in words:
            return name
    return UNKNOWN_SERVICE


def channel_name(incident: Incident) -> str:
    """A Slack channel name for an incident, ``inc-42-checkout-is-down``: its number (its id
    before numbers) and the title's slug; lower-case ASCII, digits and hyphens, ≤ 80 chars."""
    ascii_title = unicodedata.normalize("NFKD", visible(incident.title)).encode("ascii", "ignore")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.decode().lower()).strip("-")
    prefix = f"inc-{incident.number}" if incident.number is not None else incident.id
    # A channel name is an identifier, not a message: cut without a marker, at a hyphen if any.
    return f"{prefix}-{slug}"[: LIMITS.channel_name].rstrip("-")


@dataclass(frozen=True)
class Caller:
    """Who ran the command, where, and how to answer them."""

    user_id: str
    channel_id: str
    response_url: str


class IncidentCommand:
    """The `/incident` listener and one method per subcommand; each calls the pipeline."""

    def __init__(self, runtime: SlackRuntime, declarer: DeclareForm) -> None:
        self.runtime = runtime
        self.pipeline = runtime.pipeline
        self.declarer = declarer

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


def attach(app: AsyncApp, runtime: SlackRuntime, declarer: DeclareForm) -> None:
    """Attach the `/incident` listener to the Bolt app (``declarer``: the declare form)."""
    app.command(COMMAND)(IncidentCommand(runtime, declarer).on_command)
