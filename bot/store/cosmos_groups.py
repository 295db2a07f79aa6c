"""Group pointers: at most one open incident per group key, across every replica.

A pointer item in ``incident_groups`` has an id derived from the group key and names the open
incident of that group. Creating it is the atomic claim: a 409 means another caller owns the
group. The pointer embeds the incident it points to, so a reader that finds a pointer whose
incident was never written (its writer crashed in between) can finish the write itself.
A pointer whose incident is resolved is stale (its writer crashed before releasing it) and is
removed by whoever finds it, guarded by its etag.
"""

from __future__ import annotations

import logging

from bot.errors import Conflict, NotFound, StoreError
from bot.models import Incident, IncidentStatus
from bot.store import cosmos_wire as wire
from bot.store.cosmos_items import GROUPS, INCIDENTS, CosmosItems, Item

log = logging.getLogger(__name__)

CLAIM_ATTEMPTS = 10


def group_item_id(group_key: str) -> str:
    """The pointer's id for a group key."""
    return wire.item_id("grp", group_key)


def incident_item(incident: Incident, ins: str | None = None) -> Item:
    """The stored shape of an incident: indexed fields plus the model under ``doc``."""
    return {
        "id": incident.id,
        "status": incident.status.value,
        "groupKey": incident.group_key,
        "updatedAt": wire.instant(incident.updated_at),
        "createdKey": created_key(incident),
        "ins": ins or wire.insertion_key(),
        "version": incident.version,
        "doc": incident.model_dump(mode="json"),
    }


def created_key(incident: Incident) -> str:
    """Creation instant then id: one sortable field, so paging needs no composite index.

    Incident items written before this field existed lack it and stay out of the untriaged
    list until their next update writes it.
    """
    return f"{wire.instant(incident.created_at)}|{incident.id}"


async def insert_incident(items: CosmosItems, incident: Incident, *, exists_ok: bool) -> None:
    """Write the incident item; with ``exists_ok`` an existing copy counts as success."""
    try:
        await items.create(INCIDENTS, incident_item(incident), f"incident {incident.id}")
    except Conflict:
        if not exists_ok:
            raise


async def claim(items: CosmosItems, incident: Incident) -> Incident | None:
    """Claim ``incident``'s group for it; None when claimed, else the group's open incident."""
    assert incident.group_key is not None
    pointer_id = group_item_id(incident.group_key)
    pointer: Item = {
        "id": pointer_id,
        "groupKey": incident.group_key,
        "incidentId": incident.id,
        "doc": incident.model_dump(mode="json"),
    }
    for _ in range(CLAIM_ATTEMPTS):
        try:
            await items.create(GROUPS, pointer, f"group {incident.group_key!r}")
            return None
        except Conflict:
            owner = await _open_owner(items, pointer_id)
        if owner is not None:
            return owner
    raise StoreError(f"group {incident.group_key!r}: could not claim after {CLAIM_ATTEMPTS} tries")


async def _open_owner(items: CosmosItems, pointer_id: str) -> Incident | None:
    """The open incident a pointer names; None when the pointer vanished or was stale."""
    try:
        pointer = await items.read(GROUPS, pointer_id, pointer_id, "group pointer")
    except NotFound:
        return None  # released meanwhile: try to claim again
    owner = Incident.model_validate(pointer["doc"])
    try:
        stored = await items.read(INCIDENTS, owner.id, owner.id, f"incident {owner.id}")
        owner = Incident.model_validate(stored["doc"])
    except NotFound:
        # The claimant crashed between pointer and incident: finish its write for it.
        await insert_incident(items, owner, exists_ok=True)
        stored = await items.read(INCIDENTS, owner.id, owner.id, f"incident {owner.id}")
        owner = Incident.model_validate(stored["doc"])
    if owner.status is IncidentStatus.OPEN and owner.group_key == pointer["groupKey"]:
        return owner
    log.info("removing stale group pointer", extra={"incident_id": owner.id})
    await _delete_pointer(items, pointer)
    return None


async def release(items: CosmosItems, group_key: str, incident_id: str) -> None:
    """Remove the group's pointer if it still names ``incident_id`` (idempotent)."""
    pointer_id = group_item_id(group_key)
    try:
        pointer = await items.read(GROUPS, pointer_id, pointer_id, "group pointer")
    except NotFound:
        return
    if pointer.get("incidentId") == incident_id:
        await _delete_pointer(items, pointer)


async def _delete_pointer(items: CosmosItems, pointer: Item) -> None:
    try:
        await items.delete(GROUPS, pointer["id"], pointer["id"], pointer["_etag"], "group pointer")
    except (NotFound, Conflict):
        pass  # someone else removed or replaced it first: either way it is not ours to remove
