"""Roles (``/incident assign``): who commands an incident, who writes it down, who tells others.

The commander is ``Incident.commander``; scribe and comms are ``Incident.roles``. A role changes
hands through one compare-and-swap write, on an open incident only (a resolved incident keeps
the roles it ended with). Who may hand a role over: the current commander, the service's
eligible approvers and the incident admins; while nobody commands the incident, anyone may.
Every change is a ``incident.role_assigned`` timeline entry naming the actor, the role, the new
holder and the previous one, and the incident's card is redrawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot import timeline
from bot.incidents import mutate_incident
from bot.models import EventKind, Incident, IncidentStatus, Role
from bot.pipeline.command import Command


class AssignStatus(StrEnum):
    ASSIGNED = "assigned"
    # The person already holds the role: nothing written.
    UNCHANGED = "unchanged"
    NOT_ALLOWED = "not_allowed"
    NOT_OPEN = "not_open"


@dataclass(frozen=True)
class Assigned:
    """What ``assign_role`` did, with the incident as stored afterwards."""

    incident: Incident
    status: AssignStatus
    role: Role
    user: str
    previous: str | None = None


def holder(incident: Incident, role: Role) -> str | None:
    """Who holds ``role`` on the incident, if anyone."""
    return incident.commander if role is Role.COMMANDER else incident.roles.get(role)


class Roles(Command):
    """Handing incident roles over."""

    async def assign_role(
        self, incident_ref: str, role: Role, user: str, actor: str, now: datetime
    ) -> Assigned:
        """Give ``role`` on the incident (id or ``INC-42``) to ``user``; raises NotFound.

        Refused (nothing written) on a resolved incident, and to an actor who is neither the
        current commander, an approver of the service nor an admin while someone commands it.
        """
        known = await self.incident(incident_ref)
        if known.status is not IncidentStatus.OPEN:
            return Assigned(known, AssignStatus.NOT_OPEN, role, user, holder(known, role))
        # Approvers and admins may reassign whoever commands; the commander check is made on
        # the incident as stored, inside the write, so a concurrent handover is respected.
        privileged = await self.may_oversee(known.service, actor)
        # What the last (winning) attempt of ``change`` decided.
        decided: list[tuple[AssignStatus, str | None]] = []

        def change(incident: Incident) -> Incident | None:
            decided.clear()
            previous = holder(incident, role)
            if incident.status is not IncidentStatus.OPEN:
                decided.append((AssignStatus.NOT_OPEN, previous))
                return None
            if not privileged and incident.commander not in (None, actor):
                decided.append((AssignStatus.NOT_ALLOWED, previous))
                return None
            if previous == user:
                decided.append((AssignStatus.UNCHANGED, previous))
                return None
            decided.append((AssignStatus.ASSIGNED, previous))
            if role is Role.COMMANDER:
                incident.commander = user
            else:
                incident.roles = {**incident.roles, role: user}
            incident.updated_at = now
            return incident

        stored = await mutate_incident(self.store, known.id, change, known=known)
        status, previous = decided[-1]
        if status is not AssignStatus.ASSIGNED:
            return Assigned(stored, status, role, user, previous)
        await timeline.note(
            self.store,
            stored.id,
            at=now,
            actor=actor,
            kind=EventKind.INCIDENT_ROLE_ASSIGNED,
            message=f"{role.value}: {previous or 'nobody'} -> {user}",
            role=role.value,
            user=user,
            previous=previous,
            source="assigned",
        )
        await self.refresh_incident_card(stored.id)
        return Assigned(stored, status, role, user, previous)
