"""The project's exception tree.

    BotError                    anything incident-bot raises on purpose
    ├── ConfigError             bad settings or files at start-up (names the variable / file)
    ├── PayloadError            an inbound payload we cannot accept (carries an HTTP status)
    ├── PolicyError             an invalid policy file (names the file and the path inside it)
    ├── TriageError             the LLM gateway failed after its retries
    ├── StoreError              the storage backend failed
    │   ├── NotFound            the entity does not exist
    │   └── Conflict            a compare-and-swap lost (stale version / etag)
    ├── ActionError             an action could not be requested, approved or executed
    └── EvidenceError           the metrics backend could not answer a query

Expected outcomes (a denied proposal, a refused approval) are values, not exceptions.
"""

from __future__ import annotations


class BotError(Exception):
    """Base class for every error incident-bot raises on purpose."""


class ConfigError(BotError):
    """Settings or start-up files are invalid; the message names the variable or file."""


class PayloadError(BotError):
    """An inbound payload cannot be accepted; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class PolicyError(BotError):
    """A policy file is invalid; the message names the file and the path inside it."""


class TriageError(BotError):
    """The LLM gateway gave up after its retries."""


class StoreError(BotError):
    """The storage backend failed."""


class NotFound(StoreError):
    """The requested entity does not exist."""


class Conflict(StoreError):
    """A compare-and-swap write lost: someone else changed the entity first."""


class ActionError(BotError):
    """An action could not be requested, approved or executed."""


class EvidenceError(BotError):
    """The metrics backend (Prometheus) could not answer: unreachable, refused, or malformed."""
