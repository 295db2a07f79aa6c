"""Every user-facing Slack string, as small functions (mrkdwn; untrusted text is escaped)."""

from __future__ import annotations

from collections.abc import Iterable

from bot.models import ActionRequest, ActionState, Event, Incident

SUBCOMMANDS = {
    "declare": "declare <title> [SEV0-SEV3] [--service NAME] [--channel]",
    "triage": "triage <free text describing what you see>",
    "status": "status [incident-id]",
    "list": "list",
    "timeline": "timeline <incident-id>",
    "resolve": "resolve <incident-id> [note]",
    "postmortem": "postmortem <incident-id>",
    "help": "help",
}


def escape(text: str) -> str:
    """Escape Slack's control characters so untrusted text can never ping or link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention(approver_id: str) -> str:
    """A Slack mention for a user id (U…/W…) or a user-group id (S…)."""
    if approver_id.startswith("S"):
        return f"<!subteam^{approver_id}>"
    return f"<@{approver_id}>"


def mentions(approver_ids: Iterable[str]) -> str:
    """Mentions for several approvers, comma separated."""
    return ", ".join(mention(a) for a in approver_ids) or "nobody (no approvers configured)"


def usage() -> str:
    """The /incident help text."""
    lines = ["*/incident* — incident response from Slack:"]
    lines += [f"• `/incident {spec}`" for spec in SUBCOMMANDS.values()]
    return "\n".join(lines)


def unknown_subcommand(name: str) -> str:
    """Answer to a subcommand that does not exist."""
    return f"Unknown subcommand `{escape(name[:40])}`.\n{usage()}"


def bad_arguments(subcommand: str, problem: str) -> str:
    """Answer to a known subcommand given the wrong arguments."""
    spec = SUBCOMMANDS.get(subcommand, subcommand)
    return f"{escape(problem)}\nUsage: `/incident {spec}`"


def working(subcommand: str) -> str:
    """The immediate acknowledgement of a slow subcommand."""
    return f"Working on `/incident {subcommand}`…"


def incident_not_found(incident_id: str) -> str:
    """Answer when an incident id names nothing."""
    return f"No incident `{escape(incident_id[:80])}`. Try `/incident list`."


def no_incident_here() -> str:
    """Answer to `/incident status` with no id in a channel without an incident."""
    return "No open incident is linked to this channel. Give an id: `/incident status <id>`."


def no_open_incidents() -> str:
    """Answer to `/incident list` when nothing is open."""
    return "No open incidents. :tada:"


def incident_line(incident: Incident) -> str:
    """One incident as a list entry."""
    return (
        f"• `{incident.id}` *{incident.severity.value}* {escape(incident.service)} · "
        f"{incident.status.value} · {incident.category.value} · {escape(incident.title[:120])}"
    )


def incident_list(incidents: list[Incident]) -> str:
    """The open incidents, most recent first."""
    return "*Open incidents*\n" + "\n".join(incident_line(i) for i in incidents)


def incident_status(incident: Incident, requests: list[ActionRequest]) -> str:
    """The status of one incident and its action requests."""
    lines = [
        f"*{escape(incident.title[:150])}* (`{incident.id}`)",
        f"Status: *{incident.status.value}* · {incident.severity.value} · "
        f"{escape(incident.service)} · {incident.category.value} · {incident.alert_count} alert(s)",
    ]
    if incident.commander:
        lines.append(f"Commander: {mention(incident.commander)}")
    for request in requests:
        lines.append(f"• {request_line(request)}")
    return "\n".join(lines)


def request_line(request: ActionRequest) -> str:
    """One action request: action, target and where it stands."""
    approvals = ""
    if request.state is ActionState.PENDING_APPROVAL:
        approvals = f" ({len(request.approvers)}/{request.decision.approvals_required} approvals)"
    return (
        f"`{escape(request.proposal.action)}` on {escape(request.proposal.service)} — "
        f"*{request.state.value}*{approvals} (`{request.id}`)"
    )


def timeline(incident: Incident, events: list[Event]) -> str:
    """An incident's timeline as a code block."""
    rows = [
        f"{e.at.strftime('%H:%M:%S')}  {e.actor[:18]:<18} {e.kind:<22} {e.message[:200]}"
        for e in events
    ]
    body = "\n".join(rows) or "(no events)"
    return f"*Timeline of `{incident.id}`*\n```{escape(body)}```"


def declared(incident: Incident, declared_by: str) -> str:
    """Announcement of a declared incident."""
    return (
        f":rotating_light: {mention(declared_by)} declared *{incident.severity.value}* "
        f"`{incident.id}`: {escape(incident.title[:200])} (service: {escape(incident.service)}). "
        f"{mention(declared_by)} is incident commander."
    )


def declared_elsewhere(incident: Incident, channel_id: str) -> str:
    """Answer to the declarer when the incident got its own channel."""
    return f"Declared `{incident.id}` in <#{channel_id}>."


def channel_failed(problem: str) -> str:
    """The incident channel could not be created; the incident is declared here instead."""
    return f"Could not create an incident channel ({escape(problem)}); using this channel."


def triage_started(incident: Incident) -> str:
    """Answer to `/incident triage` once the alert is filed."""
    return f"Filed as `{incident.id}` ({escape(incident.service)}); the triage card follows."


def triage_skipped(incident: Incident) -> str:
    """Triage of that incident is already running elsewhere."""
    return f"`{incident.id}` is already being triaged; its card will appear in its thread."


def resolved(incident: Incident, user_id: str, note: str) -> str:
    """Announcement of a hand-resolved incident."""
    suffix = f": {escape(note[:500])}" if note else ""
    return f":white_check_mark: {mention(user_id)} resolved `{incident.id}`{suffix}"


def already_resolved(incident: Incident) -> str:
    """Resolve on an incident that is closed already."""
    return f"`{incident.id}` is already resolved."


def unknown_request() -> str:
    """A button named an action request that does not exist."""
    return "This button refers to an action request that does not exist (any more)."


def vote_refused(reason: str) -> str:
    """Ephemeral answer to a refused approval or denial."""
    return f":no_entry: Your vote was not counted: {escape(reason)}"


def request_note(request: ActionRequest, note: str, actor: str | None) -> str:
    """The thread message after an action request changed."""
    who = f" by {mention(actor)}" if actor else ""
    return (
        f"`{escape(request.proposal.action)}` on {escape(request.proposal.service)} is now "
        f"*{request.state.value}*{who}: {escape(note)}"
    )


def reminder(request: ActionRequest) -> str:
    """Nudge to the eligible approvers of a waiting request."""
    return (
        f":hourglass: {mentions(request.decision.eligible_approvers)}: "
        f"`{escape(request.proposal.action)}` on {escape(request.proposal.service)} still needs "
        f"{request.decision.approvals_required - len(request.approvers)} approval(s) "
        f"(`{request.id}`)."
    )


def escalation(request: ActionRequest, commander: str | None) -> str:
    """Nobody acted on a request: tell the commander, or the whole channel."""
    target = mention(commander) if commander else "<!here>"
    return (
        f":rotating_light: {target}: nobody has acted on `{escape(request.proposal.action)}` "
        f"for {escape(request.proposal.service)} (`{request.id}`); it expires unless approved."
    )


def feedback_thanks(helpful: bool) -> str:
    """Ephemeral thanks for triage feedback."""
    return "Thanks, noted as helpful." if helpful else "Thanks, noted as not helpful."


def alert_joined(incident: Incident) -> str:
    """An alert-channel message joined an incident that already has a card."""
    return f"Grouped into `{incident.id}` ({incident.alert_count} alert(s) so far)."


def note(text: str) -> str:
    """A plain note for an incident's thread (escaped)."""
    return escape(text)


def known_error(problem: str) -> str:
    """A known error turned into an ephemeral message."""
    return f":warning: {escape(problem)}"


def internal_error(correlation_id: str) -> str:
    """An unexpected failure: the user gets an id to quote, the log gets the traceback."""
    return f":warning: Something went wrong on our side (reference `{correlation_id}`)."
