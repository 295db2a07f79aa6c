"""What `/incident` was asked: the command text read into an ``Invocation`` (no Slack calls).

Slack sends the text escaped (``&lt;`` for ``<``) with people, channels and links as control
sequences (``<@U…|name>``); ``readable`` makes free text plain, ``parse`` splits it on white
space and checks each subcommand's arguments, raising ``UsageError`` with what to fix.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.models import Category, Incident, Role, Severity
from bot.slack.markup import LIMITS, visible

SEVERITY = re.compile(r"^sev[0-3]$", re.IGNORECASE)
# A last word that looks like a severity but is none (SEV9, sev-1): refused, never a title.
NOT_A_SEVERITY = re.compile(r"^sev-?[0-9]+$", re.IGNORECASE)
UNKNOWN_SERVICE = "unknown"
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
    def wants_form(self) -> bool:
        """``update`` with no text (nothing, or only an incident id): the status-update form."""
        args = self.args
        return self.subcommand == "update" and (
            not args or (len(args) == 1 and INCIDENT_ID.match(args[0]) is not None)
        )

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
