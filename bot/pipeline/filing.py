"""Where an alert is filed: its group's open incident, a new one, or, in a storm, the storm's.

Storm mode's rule is in ``storm.py``; this module asks the shared counts and leases it needs
(``Coordination``) and opens incidents through ``Store.open_incident_for_group``, which is
atomic across replicas, so every replica files a storm into the same incident. One ``Filer``
serves one payload: once it has found the storm, later new groups of the payload join it
without asking again, and what they add (counts, one timeline entry, the title) is written
once per payload by ``settle``.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from bot import incidents, metrics, timeline
from bot.cas import read_modify_write
from bot.errors import Conflict
from bot.models import Alert, ConversationRef, EventKind, Incident, IncidentStatus, new_id
from bot.pipeline import storm
from bot.pipeline.storm import StormRule
from bot.ports import Coordination, Store

log = logging.getLogger(__name__)

# Group keys a timeline entry lists at most (the count is always complete).
LISTED_GROUPS = 50


@dataclass(frozen=True)
class Placement:
    """Where one group's firing alerts go, and whether this call opened that incident."""

    incident: Incident
    created: bool = False
    in_storm: bool = False


@dataclass
class Filer:
    """Files one payload's alerts under incidents, folding new groups into a storm."""

    store: Store
    coordination: Coordination
    rule: StormRule
    # Who leads an incident this alert opens (its service's on-call commander), if anyone.
    lead: Callable[[Alert], str | None] = lambda alert: None
    # what this payload did to storm incidents, written by ``settle``
    storms: set[str] = field(default_factory=set)
    joined: dict[str, list[Alert]] = field(default_factory=lambda: defaultdict(list))
    _storm: Incident | None = None
    _uncounted: int = 0

    async def place_firing(
        self, alert: Alert, now: datetime, conversation: ConversationRef | None
    ) -> Placement:
        """The open incident a firing alert joins; opens one (its own, or a storm's) if none."""
        if self.rule.enabled:
            known = await self.store.latest_incident_for_group(alert.group_key)
            if known is not None and known.status is IncidentStatus.OPEN:
                return Placement(known)
            joined = await self._storm_of(alert.group_key, now)
            if joined is not None:
                self.storms.add(joined.id)
                return Placement(joined, in_storm=True)
            if self._storm is not None:
                # Counts only grow within one payload: still a storm. Counted in ``settle``.
                self._uncounted += 1
                return await self._join(self._storm, alert, now, created=False)
            openings = await self._count_arrival(alert.group_key, now)
            proposed = self.rule.decide(openings, now)
            metrics.STORM_ACTIVE.set(0 if proposed is None else 1)
            if proposed is not None:
                key = await self.coordination.join_lease(
                    storm.STORM_LEASE, proposed, now, self.rule.window_seconds
                )
                candidate = storm.storm_candidate(alert, key, now, self.lead(alert))
                incident, created = await self.store.open_incident_for_group(candidate)
                self._storm = incident
                return await self._join(incident, alert, now, created=created)
        candidate = incidents.candidate_for(alert, now, self.lead(alert))
        candidate.conversation = conversation
        incident, created = await self.store.open_incident_for_group(candidate)
        return Placement(incident, created)

    async def place_resolved(self, alert: Alert, now: datetime) -> Incident | None:
        """The incident a resolved alert belongs to: its group's latest, or the storm it joined."""
        incident = await self.store.latest_incident_for_group(alert.group_key)
        if incident is None and self.rule.enabled:
            return await self._storm_of(alert.group_key, now)
        return incident

    async def settle(self, stored: dict[str, list[Alert]], now: datetime) -> None:
        """After the payload's alerts are stored: count, note and retitle its storms."""
        if self._uncounted:
            await self.coordination.add_to_window(
                storm.OPENINGS, self.rule.bucket(now), self._uncounted, self.rule.buckets
            )
            self._uncounted = 0
        for incident_id in sorted(self.storms):
            metrics.STORM_ALERTS.inc(len(stored.get(incident_id, ())))
            joined = self.joined.get(incident_id, [])
            if joined:
                incident = await self.store.get_incident(incident_id)
                groups = await self.coordination.add_to_window(
                    storm.groups_counter(incident.group_key or ""), 0, len(joined), 1
                )
                await _note_joined(self.store, incident_id, joined, groups, now)
            await _retitle(self.store, self.coordination, incident_id, [a.service for a in joined])

    async def _join(
        self, incident: Incident, alert: Alert, now: datetime, *, created: bool
    ) -> Placement:
        """File a new group under the storm and remember it there for its later alerts."""
        await self.coordination.join_lease(
            storm.member_lease(alert.group_key),
            incident.group_key or "",
            now,
            storm.MEMBERSHIP_SECONDS,
        )
        self.storms.add(incident.id)
        self.joined[incident.id].append(alert)
        return Placement(incident, created, in_storm=True)

    async def _count_arrival(self, group_key: str, now: datetime) -> int:
        """Count a new group once per window (its resends racing in count nothing); return
        the window's count."""
        token = new_id("arrival")
        first = await self.coordination.join_lease(
            storm.arrival_lease(group_key), token, now, self.rule.window_seconds
        )
        return await self.coordination.add_to_window(
            storm.OPENINGS, self.rule.bucket(now), 1 if first == token else 0, self.rule.buckets
        )

    async def _storm_of(self, group_key: str, now: datetime) -> Incident | None:
        """The open storm incident this group joined earlier, if any."""
        lease = storm.member_lease(group_key)
        key = await self.coordination.lease_holder(lease, now)
        if key is None:
            return None
        incident = await self.store.latest_incident_for_group(key)
        if incident is not None and incident.status is IncidentStatus.OPEN:
            return incident
        # That storm is over: the group is new again (and may join the next storm).
        await self.coordination.release_lease(lease, key, now)
        return None


async def _note_joined(
    store: Store, incident_id: str, joined: list[Alert], groups: int, now: datetime
) -> None:
    """One timeline entry per payload: how many groups joined, from which services."""
    services = Counter(a.service for a in joined)
    listed = ", ".join(f"{service} ({n})" for service, n in services.most_common(10))
    more = len(services) - 10
    await timeline.note(
        store,
        incident_id,
        at=now,
        actor=joined[0].source,
        kind=EventKind.STORM_GROUP_JOINED,
        message=(
            f"{len(joined):,} new alert group{'s' if len(joined) != 1 else ''} joined the storm "
            f"({groups:,} in all): {listed}{f' and {more} more services' if more > 0 else ''}"
        ),
        services=dict(services),
        groups=groups,
        group_keys=[a.group_key for a in joined[:LISTED_GROUPS]],
    )


async def _retitle(
    store: Store, coordination: Coordination, incident_id: str, services: list[str]
) -> None:
    """Title the storm with its alert and group counts; ``multiple`` once services differ."""
    seen = {"groups": 1}

    async def read() -> Incident:
        # The incident first, then the count: a group the count misses joins after this read,
        # so its own retitle lands after ours or makes ours retry; the last title is current.
        current = await store.get_incident(incident_id)
        counter = storm.groups_counter(current.group_key or "")
        seen["groups"] = max(1, await coordination.add_to_window(counter, 0, 0, 1))
        return current

    def change(current: Incident) -> Incident | None:
        title = storm.storm_title(current.alert_count, seen["groups"])
        service = storm.storm_service(current.service, services)
        if (current.title, current.service) == (title, service):
            return None
        current.title, current.service = title, service
        return current

    try:
        await read_modify_write(read, store.update_incident, change, what=f"incident {incident_id}")
    except Conflict:
        # Many payloads retitling at once: the title is a summary, and whichever write lands
        # last carries the newest counts; this payload's alerts are stored either way.
        log.info("storm title left to a later payload", extra={"incident_id": incident_id})
