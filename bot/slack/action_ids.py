"""Every Block Kit action id the bot sends and listens for, in one place."""

from __future__ import annotations

from enum import StrEnum


class ActionId(StrEnum):
    """The ``action_id`` of each interactive element; a button's value carries an id (Approve /
    Deny: the request id and the card's plan hash prefix, ``"<id>:<hash>"``)."""

    APPROVE = "request_approve"
    DENY = "request_deny"
    HELPFUL = "triage_helpful"
    NOT_HELPFUL = "triage_not_helpful"
    REQUEST_AGAIN = "request_again"


VOTE_ACTIONS = (ActionId.APPROVE, ActionId.DENY)
FEEDBACK_ACTIONS = (ActionId.HELPFUL, ActionId.NOT_HELPFUL)
