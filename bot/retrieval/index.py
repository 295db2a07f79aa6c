"""The runbook index port, what an indexing run reports, and shared query text handling."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from bot.models import RunbookChunk
from bot.retrieval.runbooks import Runbook

HYBRID = "hybrid"
BM25_ONLY = "bm25 only"

Progress = Callable[[int, int], None]

_WORD = re.compile(r"[A-Za-z0-9_]+")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
# Words so common in alert text that they only add noise to a keyword query.
_STOPWORDS = frozenset(
    "a an and are as at be been but by for from has have in is it its of on or that the "
    "this to was were will with alert alerts firing resolved value summary description "
    "instance job severity warning critical info page".split()
)


class IndexStats(BaseModel):
    """What an indexing run did, and which retrieval mode the index serves."""

    model_config = ConfigDict(extra="forbid")

    backend: str
    mode: str
    runbooks: int
    chunks: int
    rebuilt: bool
    content_hash: str
    embedder: str = ""


@runtime_checkable
class RunbookIndex(Protocol):
    """Index runbook chunks and search them, optionally filtered by service and category."""

    @property
    def mode(self) -> str:
        """``hybrid`` or ``bm25 only``."""

    def index(self, runbooks: list[Runbook], progress: Progress | None = None) -> IndexStats:
        """Bring the index up to date with ``runbooks``; a no-op when nothing changed."""

    def search(
        self,
        query: str,
        k: int = 4,
        *,
        service: str | None = None,
        category: str | None = None,
        prefer_category: str | None = None,
    ) -> list[RunbookChunk]:
        """The ``k`` best chunks for ``query``, best first; ``prefer_category``'s first."""


def query_terms(text: str, limit: int = 64) -> list[str]:
    """Lower-case keywords of ``text``, CamelCase alert names also split into words."""
    terms: list[str] = []
    for word in _WORD.findall(text):
        parts = [word] + (_CAMEL.findall(word) if not word.islower() else [])
        for part in parts:
            lowered = part.lower()
            if len(lowered) > 1 and lowered not in _STOPWORDS and lowered not in terms:
                terms.append(lowered)
    return terms[:limit]


def keyword_text(words: list[str]) -> str:
    """Names such as ``KubePodCrashLooping`` plus their words, for keyword matching."""
    return " ".join(query_terms(" ".join(words), limit=1000))


def passage_text(chunk: RunbookChunk) -> str:
    """The text a dense model sees for a chunk: where it sits, then what it says."""
    return f"{chunk.title}. {chunk.section}. {chunk.text}"
