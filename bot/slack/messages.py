"""Every user-facing Slack string, as small functions (mrkdwn).

Each function escapes every value it did not write itself with ``bot.slack.markup`` and keeps
the result within Slack's limits; our own markers (bold, code spans, mentions) stay intact.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.actions.votes import VoteStatus
from bot.models import (
    ActionRequest,
    ActionState,
    Alert,
    Correction,
    Event,
    Incident,
    Role,
    Severity,
    Verification,
)
from bot.slack.markup import LIMITS, channel_link, code, escape, fit, mrkdwn, size
from bot.slack.markup import mention as _mention

SUBCOMMANDS = {
    "declare": "declare [<title> [SEV0-SEV3] [--service NAME] [--channel]]",
    "triage": "triage <free text describing what you see> [--service NAME]",
    "status": "status [incident-id]",
    "list": "list",
    "timeline": "timeline <incident-id>",
    "resolve": "resolve <incident-id> [note]",
    "postmortem": "postmortem <incident-id>",
    "note": "note [incident-id] <text>",
    "ack": "ack [incident-id]",
    "assign": "assign [incident-id] @user [commander|scribe|comms]",
    "update": "update [incident-id] [<text>]",
    "recategorize": "recategorize <incident-id> <category> [SEV0-SEV3] [reason]",
    "severity": "severity [incident-id] <SEV0-SEV3> [reason]",
    "help": "help",
}
TITLE_CHARS = 200
NOTE_CHARS = 1_500
ID_CHARS = 80
TIMELINE_ROW_CHARS = 260


def mention(approver_id: str) -> str:
    """A Slack mention for a user id (U…/W…) or a user-group id (S…)."""
    return _mention(approver_id)


def mentions(approver_ids: Iterable[str]) -> str:
    """Mentions for several approvers, comma separated."""
    return ", ".join(mention(a) for a in approver_ids) or "nobody (no approvers configured)"


def _title(incident: Incident, limit: int = TITLE_CHARS) -> str:
    return fit(mrkdwn(incident.title), limit)


def _action(request: ActionRequest) -> str:
    action = fit(code(request.proposal.action), ID_CHARS)
    return f"`{action}` on {_service(request.proposal.service)}"


def _service(name: str) -> str:
    return fit(mrkdwn(name), ID_CHARS)


def usage() -> str:
    """The /incident help text."""
    lines = ["*/incident* — incident response from Slack:"]
    lines += [f"• `/incident {code(spec)}`" for spec in SUBCOMMANDS.values()]
    return "\n".join(lines)


def unknown_subcommand(name: str) -> str:
    """Answer to a subcommand that does not exist."""
    return f"Unknown subcommand `{fit(code(name), 40)}`.\n{usage()}"


def bad_arguments(subcommand: str, problem: str) -> str:
    """Answer to a known subcommand given the wrong arguments.

    ``problem`` is the parser's own mrkdwn (fixed texts naming subcommands in code spans), so
    it keeps its formatting and only gets the base escaping; ``subcommand`` is what was typed.
    """
    spec = SUBCOMMANDS.get(subcommand) or fit(subcommand, 40)
    return f"{fit(escape(problem), NOTE_CHARS)}\nUsage: `/incident {code(spec)}`"


def working(subcommand: str) -> str:
    """The immediate acknowledgement of a slow subcommand."""
    return f"Working on `/incident {fit(code(subcommand), 40)}`…"


def incident_not_found(incident_id: str) -> str:
    """Answer when an incident id names nothing."""
    return f"No incident `{fit(code(incident_id), ID_CHARS)}`. Try `/incident list`."


def no_incident_here() -> str:
    """Answer to `/incident status` with no id in a channel without an incident."""
    return "No open incident is linked to this channel. Give an id: `/incident status &lt;id&gt;`."


def no_open_incidents() -> str:
    """Answer to `/incident list` when nothing is open."""
    return "No open incidents. :tada:"


def incident_line(incident: Incident) -> str:
    """One incident as a list entry."""
    return (
        f"• `{code(incident.id)}` *{incident.severity.value}* {_service(incident.service)} · "
        f"{incident.status.value} · {incident.category.value} · {_title(incident, 120)}"
    )


def _lines_within(header: str, lines: list[str], limit: int = LIMITS.message_text) -> str:
    """Whole lines under ``header`` while they fit; the rest is counted, never dropped silently."""
    text = header
    for shown, line in enumerate(lines):
        more = len(lines) - shown
        tail = f"\n_… and {more} more (cut)_"
        if size(text) + 1 + size(line) + size(tail) > limit:
            return text + tail
        text += "\n" + line
    return text


def incident_list(incidents: list[Incident]) -> str:
    """The open incidents, most recent first."""
    return _lines_within("*Open incidents*", [incident_line(i) for i in incidents])


def incident_status(incident: Incident, requests: list[ActionRequest]) -> str:
    """The status of one incident and its action requests."""
    lines = [
        f"*{_title(incident, 150)}* (`{code(incident.id)}`)",
        f"Status: *{incident.status.value}* · {incident.severity.value} · "
        f"{_service(incident.service)} · {incident.category.value} · "
        f"{incident.alert_count} alert(s)",
    ]
    held = [(Role.COMMANDER, incident.commander)]
    held += [(role, incident.roles.get(role)) for role in (Role.SCRIBE, Role.COMMS)]
    roles = [f"{role.value.capitalize()}: {mention(who)}" for role, who in held if who]
    if roles:
        lines.append(" · ".join(roles))
    return _lines_within("\n".join(lines), [f"• {request_line(r)}" for r in requests])


def request_line(request: ActionRequest) -> str:
    """One action request: action, target and where it stands."""
    approvals = ""
    if request.state is ActionState.PENDING_APPROVAL:
        approvals = f" ({len(request.approvers)}/{request.decision.approvals_required} approvals)"
    return f"{_action(request)} — *{request.state.value}*{approvals} (`{code(request.id)}`)"


def _timeline_row(event: Event) -> str:
    actor = fit(" ".join(event.actor.split()), 18, "…")
    message = " ".join(event.message.split())
    row = f"{event.at.strftime('%H:%M:%S')}  {actor:<18} {event.kind:<22} {message}"
    return fit(row, TIMELINE_ROW_CHARS)


def timeline(incident: Incident, events: list[Event]) -> str:
    """An incident's timeline as a code block (the newest rows are cut first)."""
    header = f"*Timeline of `{code(incident.id)}`*\n"
    body = "\n".join(_timeline_row(e) for e in events) or "(no events)"
    room = LIMITS.message_text - len(header) - len("``````")
    return f"{header}```{fit(code(body, block=True), room)}```"


def declared(incident: Incident, declared_by: str) -> str:
    """Announcement of a declared incident."""
    return (
        f":rotating_light: {mention(declared_by)} declared *{incident.severity.value}* "
        f"`{code(incident.id)}`: {_title(incident)} (service: {_service(incident.service)}). "
        f"{mention(declared_by)} is incident commander."
    )


def declared_elsewhere(incident: Incident, channel_id: str) -> str:
    """Answer to the declarer when the incident got its own channel."""
    return f"Declared `{code(incident.id)}` in {channel_link(channel_id)}."


# What Slack answers a post into a channel the bot is not in (private channels: not found).
NOT_A_MEMBER = frozenset({"not_in_channel", "channel_not_found"})


def not_in_channel(problem: str = "not_in_channel") -> str:
    """The bot is not a member of the channel it was asked to post in: say how to fix it."""
    return (
        f":warning: I could not post in this channel: I am not a member of it (Slack said "
        f"`{fit(code(problem), ID_CHARS)}`). Add me with `/invite @incident-bot` so I can post "
        "here. The incident is declared all the same; `/incident list` shows it."
    )


def channel_failed(problem: str) -> str:
    """The incident channel could not be created, or the announcement could not be posted
    (the bot is not in the channel: how to invite it)."""
    if problem in NOT_A_MEMBER:
        return not_in_channel(problem)
    return (
        f"Could not create an incident channel (`{fit(code(problem), ID_CHARS)}`); "
        "using this channel."
    )


def triage_started(incident: Incident) -> str:
    """Answer to `/incident triage` once the alert is filed."""
    return (
        f"Filed as `{code(incident.id)}` ({_service(incident.service)}); the triage card follows."
    )


def triage_skipped(incident: Incident) -> str:
    """Triage of that incident is already running elsewhere."""
    return f"`{code(incident.id)}` is already being triaged; its card will appear in its thread."


def card_not_posted(incident: Incident) -> str:
    """Slack refused the triage card for good in the channel the report came from."""
    ref = code(incident.reference)
    return (
        f":warning: The triage card of `{ref}` could not be posted in this channel (is the bot "
        f"in it? `/invite @incident-bot`). `/incident status {ref}` shows where it stands."
    )


def resolved(incident: Incident, user_id: str, note: str) -> str:
    """Announcement of a hand-resolved incident."""
    suffix = f": {fit(mrkdwn(note), 500)}" if note else ""
    return f":white_check_mark: {mention(user_id)} resolved `{code(incident.id)}`{suffix}"


def already_resolved(incident: Incident) -> str:
    """Resolve on an incident that is closed already."""
    return f"`{code(incident.id)}` is already resolved."


def acknowledged(incident: Incident) -> str:
    """Announcement that someone took the incident (and who leads it now)."""
    who = mention(incident.acknowledged_by or "")
    lead = f"; {mention(incident.commander)} leads it" if incident.commander else ""
    return (
        f":raising_hand: {who} acknowledged `{code(incident.reference)}`{lead}. "
        "No further escalations."
    )


def role_assigned(
    incident: Incident, role: Role, user: str, actor: str, previous: str | None
) -> str:
    """Announcement that a role changed hands (in the channel the command came from)."""
    was = f" (was {mention(previous)})" if previous else ""
    return (
        f":busts_in_silhouette: {mention(actor)} made {mention(user)} *{role.value}* of "
        f"`{code(incident.reference)}`{was}."
    )


def role_unchanged(incident: Incident, role: Role) -> str:
    """Assign to the person who already holds the role."""
    holder = incident.commander if role is Role.COMMANDER else incident.roles.get(role)
    return (
        f"{mention(holder or '')} is already *{role.value}* of `{code(incident.reference)}`; "
        "nothing changed."
    )


def not_allowed_to_assign(incident: Incident) -> str:
    """Assign asked by someone who is neither commander, approver nor admin."""
    return (
        f":no_entry: Only the commander of `{code(incident.reference)}`, the approvers of "
        f"{_service(incident.service)} or an incident admin can hand its roles over (anyone may "
        "while nobody commands it)."
    )


def roles_closed(incident: Incident) -> str:
    """Assign on a resolved incident: its roles stay as they ended."""
    return f"`{code(incident.reference)}` is resolved; its roles no longer change."


def already_acknowledged(incident: Incident) -> str:
    """Acknowledge on an incident someone took already."""
    who = mention(incident.acknowledged_by or "")
    return f"`{code(incident.reference)}` was already acknowledged by {who}."


def unknown_request() -> str:
    """A button named an action request that does not exist."""
    return "This button refers to an action request that does not exist (any more)."


def vote_refused(reason: str) -> str:
    """Ephemeral answer to a refused approval or denial."""
    return f":no_entry: Your vote was not counted: {fit(mrkdwn(reason), NOTE_CHARS)}"


def evidence(request: ActionRequest, output: str) -> str:
    """What an action that policy allowed outright returned, as a code block cut to fit."""
    header = (
        f":mag: Ran by itself (policy allows it without approval): {_action(request)} "
        f"(`{code(request.id)}`). Output:\n"
    )
    room = LIMITS.message_text - size(header) - len("``````")
    body = fit(code(output, block=True), room) if output.strip() else "(no output)"
    return f"{header}```{body}```"


def request_note(request: ActionRequest, note: str, actor: str | None) -> str:
    """The thread message after an action request changed."""
    who = f" by {mention(actor)}" if actor else ""
    return (
        f"{_action(request)} is now *{request.state.value}*{who}: {fit(mrkdwn(note), NOTE_CHARS)}"
    )


def _pinged(people: Iterable[str]) -> str:
    """``<@U…>, <!subteam^S…>: `` for the people the pipeline chose; nothing (never the whole
    channel) when it found nobody."""
    named = ", ".join(mention(p) for p in people)
    return f"{named}: " if named else ""


def verification_note(request: ActionRequest, people: Iterable[str]) -> str:
    """Whether a succeeded action held; a failed check pings ``people`` (the commander, else
    the service's escalation list)."""
    if request.verification is Verification.VERIFIED:
        return f":white_check_mark: {_action(request)} *verified*: its check holds."
    return (
        f":warning: {_pinged(people)}{_action(request)} *not verified*: its check did not hold "
        f"within the window (`{code(request.id)}`). The incident is triaged again with what "
        "was seen."
    )


def evidence_comment(summary_text: str) -> str:
    """The comment under an evidence chart: the series in numbers."""
    return f":chart_with_upwards_trend: {fit(mrkdwn(summary_text), NOTE_CHARS)}"


def reminder(request: ActionRequest) -> str:
    """Nudge to the eligible approvers of a waiting request."""
    return (
        f":hourglass: {mentions(request.decision.eligible_approvers)}: "
        f"{_action(request)} still needs "
        f"{request.decision.approvals_required - len(request.approvers)} approval(s) "
        f"(`{code(request.id)}`)."
    )


def escalation(request: ActionRequest, people: Iterable[str]) -> str:
    """Nobody acted on a request: tell ``people`` (the commander, then the service's on-call
    escalation list, else its approvers), never the whole channel."""
    return (
        f":rotating_light: {_pinged(people)}nobody has acted on {_action(request)} "
        f"(`{code(request.id)}`); it expires unless approved."
    )


def feedback_thanks(helpful: bool) -> str:
    """Ephemeral thanks for triage feedback."""
    return "Thanks, noted as helpful." if helpful else "Thanks, noted as not helpful."


def alert_joined(incident: Incident, alert: Alert | None = None) -> str:
    """Follow-up alerts joined an open incident: the newest one and the count so far."""
    newest = f": {fit(mrkdwn(alert.title), 200)}" if alert is not None else ""
    return (
        f":repeat: Another alert for `{code(incident.id)}`{newest} "
        f"({incident.alert_count} alert(s) so far)."
    )


def note(text: str) -> str:
    """A plain note for an incident's thread (escaped)."""
    return fit(mrkdwn(text), LIMITS.message_text)


def known_error(problem: str) -> str:
    """A known error turned into an ephemeral message."""
    return f":warning: {fit(mrkdwn(problem), NOTE_CHARS)}"


def internal_error(correlation_id: str) -> str:
    """An unexpected failure: the user gets an id to quote, the log gets the traceback."""
    reference = fit(code(correlation_id), ID_CHARS)
    return f":warning: Something went wrong on our side (reference `{reference}`)."


def postmortem_uploaded(incident: Incident, filename: str, chars: int) -> str:
    """The short message that goes with a post-incident review uploaded as a file."""
    return (
        f":memo: Post-incident review of `{code(incident.id)}` ({_title(incident, 150)}): "
        f"attached as `{fit(code(filename), ID_CHARS)}` ({chars:,} characters)."
    )


def postmortem_upload_failed(incident: Incident) -> str:
    """The file upload failed: what follows is the review cut to one message."""
    return (
        f":warning: Could not attach the post-incident review of `{code(incident.id)}` as a "
        "file (is the bot in this channel?). Invite it and run the command again, or run "
        f"`incident-bot postmortem {code(incident.id)} --out FILE`."
    )


def note_added(incident: Incident, author: str, text: str) -> str:
    """A note written on an incident's timeline, repeated in the channel."""
    return (
        f":memo: {mention(author)} noted on `{code(incident.id)}`: "
        + fit(mrkdwn(text), NOTE_CHARS)
    )


def recategorized(incident: Incident, correction: Correction) -> str:
    """A correction of an incident's category (and severity), said in the channel."""
    severity = f" ({correction.severity.value})" if correction.severity is not None else ""
    reason = f": {fit(mrkdwn(correction.reason), NOTE_CHARS)}" if correction.reason else ""
    return (
        f":pencil2: {mention(correction.by)} recategorized `{code(incident.id)}` "
        f"from *{correction.from_category.value}* to *{correction.category.value}*"
        f"{severity}{reason}"
    )


# The reason a correction made with the card's menus is stored with.
CARD_CORRECTION_REASON = "from the card"


def correction_closed(incident: Incident) -> str:
    """A card menu used on a resolved incident: the card no longer changes it."""
    command = code(f"/incident recategorize {incident.reference} <category>")
    return (
        f"`{code(incident.reference)}` is {incident.status.value}; its card no longer changes "
        f"it. `{command}` still corrects the record."
    )


def correction_unchanged(incident: Incident) -> str:
    """A card menu chose what the incident already is."""
    return (
        f"`{code(incident.reference)}` is already *{incident.category.value}* "
        f"({incident.severity.value}); nothing changed."
    )


def not_this_card() -> str:
    """A card menu whose click names an incident other than the card's."""
    return "This menu does not belong to that incident's card; nothing changed."


def unknown_choice() -> str:
    """A card menu sent a category or severity the bot does not know."""
    return "That is not a category or severity the bot knows; nothing changed."


# the Home tab -------------------------------------------------------------------------------
HOME_HEADINGS = {
    "approvals": "Waiting for your approval",
    "commanded": "Incidents you command",
    "severe": "Open SEV0 / SEV1 incidents",
}
HOME_EMPTY = {
    "approvals": "Nothing waits for your approval. :white_check_mark:",
    "commanded": "You command no open incident.",
    "severe": "No open SEV0 or SEV1 incident.",
}


def home_approval(incident: Incident, request: ActionRequest) -> str:
    """One request waiting for the viewer: the incident, the action, what it would do."""
    plan = f"\n{fit(mrkdwn(request.plan.summary), 300)}" if request.plan is not None else ""
    got, needed = len(request.approvers), request.decision.approvals_required
    return (
        f"*{incident.severity.value}* {_service(incident.service)} · {_title(incident, 150)}\n"
        f"{_action(request)} · {got}/{needed} approval(s)"
        + (f" · expires {request.expires_at:%H:%M} UTC" if request.expires_at else "")
        + plan
    )


# what the pipeline's results mean to people -------------------------------------------------
VOTE_ANSWERS = {
    VoteStatus.RECORDED: "Vote recorded; more approvals are needed.",
    VoteStatus.APPROVED: "Approved: enough approvals are in.",
    VoteStatus.DENIED: "Denied.",
    VoteStatus.BLOCKED: "Policy now refuses this action; it is blocked.",
    VoteStatus.ALREADY_VOTED: "You have already voted on this request.",
    VoteStatus.REQUESTER: "The requester cannot approve their own request.",
    VoteStatus.NOT_ELIGIBLE: "You are not an approver for this service.",
    VoteStatus.NOT_PENDING: "This request is no longer waiting for approval.",
    VoteStatus.EXPIRED: "The approval window has expired.",
    VoteStatus.INVALID_VOTE: "Unknown vote.",
    VoteStatus.INCIDENT_RESOLVED: "The incident is resolved; nothing more runs for it.",
    VoteStatus.UNKNOWN_REQUEST: "This button refers to an action request that does not exist.",
    VoteStatus.CARD_OUT_OF_DATE: (
        "This card is out of date — it has been refreshed; check the plan again."
    ),
}

STATE_NOTES = {
    ActionState.PENDING_APPROVAL: "waiting for approval",
    ActionState.APPROVED: "approved",
    ActionState.EXECUTING: "running",
    ActionState.SUCCEEDED: "ran successfully",
    ActionState.FAILED: "failed",
    ActionState.DENIED: "denied",
    ActionState.EXPIRED: "approval window expired",
    ActionState.BLOCKED: "blocked by policy",
    ActionState.CANCELLED: "cancelled",
    ActionState.OUTCOME_UNKNOWN: "may or may not have run; check before approving again",
}


def vote_answer(status: VoteStatus) -> str:
    """Ephemeral answer to a click on Approve / Deny."""
    text = VOTE_ANSWERS[status]
    if status in (VoteStatus.RECORDED, VoteStatus.APPROVED, VoteStatus.DENIED):
        return text
    return f":no_entry: Your vote was not counted: {text}"


def request_changed(request: ActionRequest) -> str:
    """The thread message after an action request changed state."""
    actor = None
    if request.approvals and request.state not in (ActionState.EXPIRED, ActionState.BLOCKED):
        actor = request.approvals[-1].user_id
    note = STATE_NOTES.get(request.state, request.state.value)
    if request.error and request.state in (
        ActionState.FAILED,
        ActionState.BLOCKED,
        ActionState.CANCELLED,
    ):
        note = f"{note}: {fit(request.error, 300)}"
    text = request_note(request, note, actor)
    if request.state is ActionState.PENDING_APPROVAL:
        text += "\n" + reminder(request)
    return text


def resolved_note(actor: str, note: str) -> str:
    """The thread note when an incident is resolved (by a person or by its source)."""
    who = mention(actor) if actor[:1] in ("U", "W") else fit(mrkdwn(actor), 60)
    return f":white_check_mark: Resolved by {who}: {fit(mrkdwn(note), 500) or 'no note'}"


def not_allowed_to_resolve(incident: Incident) -> str:
    """Resolve asked by someone who is neither commander, approver nor admin."""
    return (
        f":no_entry: Only the commander of `{code(incident.id)}`, the approvers of "
        f"{_service(incident.service)} or an incident admin can resolve it."
    )


def outcome_unknown(request: ActionRequest, people: Iterable[str]) -> str:
    """A claimed execution lapsed without a result: tell ``people`` (the commander, else the
    service's escalation list)."""
    holder = fit(code(request.claimed_by or "unknown"), ID_CHARS)
    return (
        f":grey_question: {_pinged(people)}{_action(request)} "
        f"{STATE_NOTES[ActionState.OUTCOME_UNKNOWN].replace('; ', ' — ', 1)} "
        f"(`{code(request.id)}`, claimed by `{holder}`, which recorded no result). "
        "It will not be re-run by itself; use *Request again* on the card to ask for it anew."
    )


AGAIN_ANSWERS = {
    "filed": "Filed again as a new request; it goes through policy and approvals afresh.",
    "already_asked": "This request has already been asked for again; see the card.",
    "not_retryable": "Only a failed request, or one whose outcome is unknown, can be asked again.",
    "incident_closed": "The incident is resolved; nothing more runs for it.",
    "unknown_request": "This button refers to an action request that does not exist.",
    "busy": "Someone is asking for this request again right now.",
}


def again_answer(status: str) -> str:
    """Ephemeral answer to a click on Request again."""
    text = AGAIN_ANSWERS.get(status, status)
    return text if status == "filed" else f":no_entry: {text}"


# undo and break-glass -------------------------------------------------------------------------
UNDO_ANSWERS = {
    "filed": "Undo filed as a new request; it goes through policy and approvals like any other "
    "(you asked for it, so someone else approves it).",
    "already_undone": "An undo of this request has already been filed; see the card.",
    "not_undoable": "This request cannot be undone",
    "incident_closed": "The incident is resolved; nothing more runs for it.",
    "unknown_request": "This button refers to an action request that does not exist.",
    "busy": "Someone is filing the undo of this request right now.",
}


def undo_answer(status: str, problem: str = "") -> str:
    """Ephemeral answer to a click on Undo."""
    text = UNDO_ANSWERS.get(status, status)
    if problem:
        text = f"{text}: {fit(mrkdwn(problem), 300)}"
    return text if status == "filed" else f":no_entry: {text}"


GLASS_ANSWERS = {
    "filed": "Glass broken: the request is filed again and needs one more approval than usual, "
    "from the break-glass group. The security channel has been told.",
    "already_broken": "The glass of this request has already been broken; see the card.",
    "not_blocked": "Only a request blocked by a freeze can go through break-glass.",
    "not_allowed": "Break glass is not allowed for this request",
    "justification": "Write a justification of at least a sentence.",
    "incident_closed": "The incident is resolved; nothing more runs for it.",
    "unknown_request": "This button refers to an action request that does not exist.",
    "busy": "Someone is breaking the glass of this request right now.",
}


def glass_answer(status: str, problem: str = "") -> str:
    """Ephemeral answer after the break-glass modal was submitted."""
    text = GLASS_ANSWERS.get(status, status)
    if problem:
        text = f"{text}: {fit(mrkdwn(problem), 300)}"
    return f":rotating_light: {text}" if status == "filed" else f":no_entry: {text}"


def glass_broken(incident: Incident, request: ActionRequest) -> str:
    """Who broke the glass of which freeze, for what, and why (thread and security channel)."""
    glass = request.break_glass
    by = mention(glass.by) if glass else "someone"
    why = fit(mrkdwn(glass.justification), 1_000) if glass else ""
    return (
        f":rotating_light: *Break glass* by {by} on `{code(incident.id)}` "
        f"({_service(incident.service)}): {_action(request)} (`{code(request.id)}`) is filed "
        f"past the freeze and needs {request.decision.approvals_required} approvals, one from "
        f"the break-glass group.\n*Why:* {why}"
    )


def status_update(incident: Incident, author: str, text: str) -> str:
    """A status update, in the incident's conversation and the broadcast channel."""
    return (
        f":mega: *Update on `{code(incident.reference)}`* *{incident.severity.value}* "
        f"{_service(incident.service)} · {_title(incident, 120)}\n"
        f"{fit(mrkdwn(text), NOTE_CHARS)}\n— {mention(author)}"
    )


def update_posted(incident: Incident) -> str:
    """Answer to the person who posted a status update."""
    return f"Update on `{code(incident.reference)}` posted."


def update_requested(incident: Incident, people: Iterable[str], quiet_minutes: int) -> str:
    """The bot asks for a status update on a SEV0/SEV1 incident: the commander (or the
    escalation list) is mentioned, never the whole channel."""
    ref = code(incident.reference)
    named = ", ".join(mention(p) for p in people)
    return (
        f":hourglass: {named + ': ' if named else ''}no status update on `{ref}` "
        f"*{incident.severity.value}* {_service(incident.service)} · {_title(incident, 120)} "
        f"for {quiet_minutes} min. Post one with "
        f"`{code(f'/incident update {incident.reference} <text>')}`."
    )


def accuracy_drifted(category: str, accuracy: float, judged: int, threshold: float) -> str:
    """Triage accuracy on one category fell below the threshold (the drift channel)."""
    return (
        f":chart_with_downwards_trend: Triage accuracy on *{fit(mrkdwn(category), ID_CHARS)}* "
        f"is {accuracy:.0%} over its last {judged} corrected or confirmed incidents, below "
        f"{threshold:.0%}. `incident-bot report accuracy` shows what it was taken for."
    )


def severity_changed(incident: Incident, previous: Severity, actor: str, reason: str) -> str:
    """A person set an incident's severity (``/incident severity``), said in the channel."""
    why = f": {fit(mrkdwn(reason), NOTE_CHARS)}" if reason else ""
    return (
        f":rotating_light: {mention(actor)} changed the severity of `{code(incident.reference)}` "
        f"from *{previous.value}* to *{incident.severity.value}*{why}"
    )


def severity_unchanged(incident: Incident) -> str:
    """``/incident severity`` named the severity the incident already has."""
    return f"`{code(incident.reference)}` is already *{incident.severity.value}*; nothing changed."


# The declare form (a modal: every text is plain_text, shown as written).
DECLARE_FORM = {
    "title": "Declare an incident",
    "submit": "Declare",
    "close": "Cancel",
    "title_label": "Title",
    "title_placeholder": "What is broken, in a few words",
    "service_label": "Service",
    "service_placeholder": "The affected service",
    "services_cut": "Only the first 100 services are listed; for another one use "
    "/incident declare <title> --service NAME.",
    "severity_label": "Severity",
    "description_label": "What do you see?",
    "description_placeholder": "Symptoms, who is affected, since when. Triage reads this.",
    "channel_label": "Channel",
    "new_channel": "Create a new incident channel",
    "announce_here": "Otherwise it is announced in the channel you declared it from.",
    "announce_default": "Otherwise it is announced in the incident channel.",
    "announce_nowhere": "No channel is configured for incidents: it needs a new channel.",
}
SEVERITY_LABELS = {
    "SEV0": "SEV0 · critical: customers cannot use the product",
    "SEV1": "SEV1 · major: a key feature is down or badly degraded",
    "SEV2": "SEV2 · minor: some users or a secondary feature affected",
    "SEV3": "SEV3 · low: no visible impact yet",
}
# What a submitted declare form is refused for, under the field at fault.
DECLARE_ERRORS = {
    "title": "Give the incident a title.",
    "title_long": "Keep the title within 200 characters.",
    "service": "Pick a service from the list.",
    "severity": "Pick a severity (SEV0–SEV3).",
    "channel": "There is no incident channel to announce it in: create a new one.",
}


def update_form_failed() -> str:
    """The status-update form could not be opened (the trigger expired, Slack refused it)."""
    usage = code("/incident update [id] <text>")
    return f"The update form did not open. Try again, or post with text: `{usage}`."


def update_form_empty() -> str:
    """The update form was sent without text (a modal's field error: plain text)."""
    return "Write the update: what changed, and what happens next."


def update_form_no_incident(named: bool) -> str:
    """The update form names no incident it can find (a modal's field error: plain text)."""
    if named:
        return "No incident with that id; check it with /incident list."
    return "No open incident is linked to this channel: run /incident update <id> instead."


def declare_form_failed() -> str:
    """The declare form could not be opened (the trigger expired, Slack refused it)."""
    usage = code("/incident declare <title> [SEV0-SEV3]")
    return f"The declare form did not open. Try again, or declare with arguments: `{usage}`."
