"""Whom the bot pings when something needs a person: always named people, never a channel.

The commander first; on a later escalation, or when nobody leads, the service's on-call
escalation list (``oncall.escalation``: user and user-group ids) too; when neither is known, the
service's approvers and owners (for a service policy does not know, the fallback approvers).
Only Slack-style ids (``U…``, ``W…``, ``S…``) are returned: a team name among the owners is no
one to mention. Pure: policy and incident in, ids out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.models import Incident
from bot.policy import Policy

# A user (U…, W…) or user-group (S…) id, as the policy files write them.
PERSON_OR_GROUP = re.compile(r"[UWS][A-Z0-9]{2,30}")


def people_to_tell(policy: Policy, incident: Incident, *, later: bool = False) -> tuple[str, ...]:
    """Who to mention for ``incident``: the commander; with ``later`` (a repeated escalation)
    or without a commander, the service's escalation list as well; else its approvers/owners.

    Empty only when the policy names no id at all for the service (nor fallback approvers).
    """
    target = policy.resolve_service(incident.service)
    spec = target.spec
    commander = _ids([incident.commander or ""])
    if commander and not later:
        return commander
    escalation = spec.oncall.escalation if spec is not None else ()
    people = _ids([*commander, *escalation])
    if people:
        return people
    owners = spec.owners if spec is not None else ()
    return _ids([*policy.eligible_approvers(incident.service), *owners])


def _ids(candidates: Iterable[str]) -> tuple[str, ...]:
    """The Slack-style ids among ``candidates``, each once, in order."""
    return tuple(dict.fromkeys(c for c in candidates if PERSON_OR_GROUP.fullmatch(c)))
