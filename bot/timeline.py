"""The incident timeline: every state change appends an Event saying who, what, when and why."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.models import Event, EventKind
from bot.ports import Store


async def note(
    store: Store,
    incident_id: str,
    *,
    at: datetime,
    actor: str,
    kind: EventKind,
    message: str,
    **data: Any,
) -> Event:
    """Append one entry to an incident's timeline and return it with its sequence number."""
    event = Event(
        incident_id=incident_id, at=at, actor=actor, kind=kind, message=message, data=data
    )
    return await store.append_event(event)


def render_text(events: list[Event]) -> str:
    """A plain-text timeline, one line per event, for terminals and postmortems."""
    lines = []
    for event in events:
        stamp = event.at.strftime("%Y-%m-%d %H:%M:%S UTC")
        lines.append(f"{stamp}  {event.actor:<18} {event.kind.value:<24} {event.message}")
    return "\n".join(lines)
