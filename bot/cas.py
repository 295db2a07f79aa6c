"""Read-modify-write under compare-and-swap: the one loop every optimistic update goes through.

Stores refuse a write whose version (SQLite) or etag (Cosmos) is stale with ``Conflict``. A
caller reads, decides from what it read, writes, and on a conflict reads again and decides
again, so a lost race is re-judged rather than overwritten.

The retry bound: every conflict means another writer succeeded, so the loop only fails when
``CAS_ATTEMPTS`` other writes land on the same document while this one is deciding. Each
document is one incident or one request, written a handful of times per click or alert; twenty
consecutive losses means a runaway writer, and giving up (``Conflict``) is the honest answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.errors import Conflict

CAS_ATTEMPTS = 20

T = TypeVar("T")


async def read_modify_write(
    read: Callable[[], Awaitable[T]],
    write: Callable[[T], Awaitable[T]],
    change: Callable[[T], T | None],
    *,
    what: str,
    known: T | None = None,
    attempts: int = CAS_ATTEMPTS,
) -> tuple[T, bool]:
    """Apply ``change`` to a fresh copy until the write wins; (stored, True) or (current, False).

    ``change`` receives a copy it may mutate and returns it to write, or None when no write
    is needed. ``known`` skips the first read when the caller already holds a fresh copy.
    """
    for attempt in range(attempts):
        current = known if known is not None and attempt == 0 else await read()
        updated = change(_copy(current))
        if updated is None:
            return current, False
        try:
            return await write(updated), True
        except Conflict:
            continue
    raise Conflict(f"{what}: gave up after {attempts} concurrent updates")


def _copy(value: T) -> T:
    copy = getattr(value, "model_copy", None)
    return copy(deep=True) if copy is not None else value
