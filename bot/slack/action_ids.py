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
    # A succeeded request's Undo (value: its id); files the inverse as a new request.
    UNDO = "request_undo"
    # A freeze-blocked request's Break glass (value: its id); opens the justification modal.
    BREAK_GLASS = "request_break_glass"
    # The card's Acknowledge (value: the incident id); shown until someone acknowledges.
    ACKNOWLEDGE = "incident_acknowledge"
    # The card's correction menus (static_select; the option value is the category or the
    # severity, the block id ``"correct:<incident id>:…"`` names the incident); while open.
    RECATEGORIZE = "incident_recategorize"
    SET_SEVERITY = "incident_set_severity"
    # The card's "Hand command to…" people menu (users_select; the block id names the incident).
    HAND_OVER = "incident_hand_over"


# The ``callback_id`` of the break-glass modal, and its one input (block id = action id).
BREAK_GLASS_VIEW = "break_glass"
JUSTIFICATION_INPUT = "justification"

# The declare form: the global shortcut that opens it (slack/manifest.yaml names it too), the
# modal's ``callback_id``, and its inputs (block id = action id).
DECLARE_SHORTCUT = "declare_incident"
DECLARE_VIEW = "declare_incident_form"
DECLARE_TITLE = "declare_title"
DECLARE_SERVICE = "declare_service"
DECLARE_SEVERITY = "declare_severity"
DECLARE_DESCRIPTION = "declare_description"
DECLARE_CHANNEL = "declare_channel"

# The status-update form (``/incident update`` without text) and its one input.
UPDATE_VIEW = "status_update_form"
UPDATE_TEXT = "update_text"


VOTE_ACTIONS = (ActionId.APPROVE, ActionId.DENY)
FEEDBACK_ACTIONS = (ActionId.HELPFUL, ActionId.NOT_HELPFUL)
CORRECTION_ACTIONS = (ActionId.RECATEGORIZE, ActionId.SET_SEVERITY)
