"""Split a runbook into heading-delimited chunks, the unit that retrieval indexes and returns."""

from __future__ import annotations

import re

from bot.models import RunbookChunk
from bot.retrieval.runbooks import Runbook

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_SLUG = re.compile(r"[^a-z0-9]+")
OVERVIEW = "Overview"


def _slug(text: str) -> str:
    return _SLUG.sub("-", text.lower()).strip("-") or "section"


def _sections(body: str) -> list[tuple[str, str]]:
    """(heading, text) pairs; level-1 headings are the title and open the overview."""
    sections: list[tuple[str, list[str]]] = [(OVERVIEW, [])]
    in_fence = False
    for line in body.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match and len(match.group(1)) == 1:
            continue
        if match:
            sections.append((match.group(2), []))
            continue
        sections[-1][1].append(line)
    return [(heading, "\n".join(lines).strip()) for heading, lines in sections]


def chunk_runbook(runbook: Runbook) -> list[RunbookChunk]:
    """One chunk per heading that has text under it, in document order."""
    chunks: list[RunbookChunk] = []
    used: set[str] = set()
    for heading, text in _sections(runbook.body):
        if not text:
            continue
        slug = _slug(heading)
        chunk_id = f"{runbook.id}--{slug}"
        suffix = 2
        while chunk_id in used:
            chunk_id = f"{runbook.id}--{slug}-{suffix}"
            suffix += 1
        used.add(chunk_id)
        chunks.append(
            RunbookChunk(
                chunk_id=chunk_id,
                runbook_id=runbook.id,
                version=runbook.version,
                title=runbook.title,
                section=heading,
                text=text,
                services=list(runbook.services),
                categories=list(runbook.categories),
                actions=list(runbook.actions),
                path=runbook.path,
            )
        )
    return chunks
