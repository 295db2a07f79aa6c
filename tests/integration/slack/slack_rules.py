"""What Slack's Web API refuses in a message, written down independently of the bot's own table.

The loopback stand-in answers ``ok: false`` with Slack's error code for a message that breaks
a documented limit, so every integration test that posts a message also checks its size. The
numbers come from Slack's Block Kit and chat.postMessage reference pages; ``TEXT_LIMIT`` is
the 4,000 characters Slack recommends for ``text`` (it only truncates at 40,000), which is the
contract the bot promises.
"""

from __future__ import annotations

import json
from typing import Any

TEXT_LIMIT = 4_000
MAX_BLOCKS = 50
SECTION_TEXT = 3_000
SECTION_FIELD = 2_000
SECTION_FIELDS = 10
HEADER_TEXT = 150
CONTEXT_ELEMENTS = 10
TEXT_OBJECT = 3_000
MARKDOWN_TEXT = 12_000
ACTIONS_ELEMENTS = 25
BUTTON_TEXT = 75
BUTTON_VALUE = 2_000
# The confirmation dialog object: every field a plain_text object.
CONFIRM_LIMITS = {"title": 100, "text": 300, "confirm": 30, "deny": 30}
ID_CHARS = 255
# A static_select menu and its option objects (select menu and option object references).
SELECT_OPTIONS = 100
OPTION_TEXT = 75
OPTION_VALUE = 150
PLACEHOLDER_TEXT = 150


def _text_object(node: Any, limit: int, plain_only: bool = False) -> bool:
    if not isinstance(node, dict) or not isinstance(node.get("text"), str):
        return False
    kinds = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    return node.get("type") in kinds and 0 < len(node["text"]) <= limit


def _confirm(dialog: Any) -> bool:
    return (
        isinstance(dialog, dict)
        and all(
            _text_object(dialog.get(name), limit, plain_only=True)
            for name, limit in CONFIRM_LIMITS.items()
        )
        and dialog.get("style", "primary") in ("primary", "danger")
    )


def _button(element: Any) -> bool:
    return (
        isinstance(element, dict)
        and element.get("type") == "button"
        and _text_object(element.get("text"), BUTTON_TEXT, plain_only=True)
        and len(str(element.get("value", ""))) <= BUTTON_VALUE
        and len(str(element.get("action_id", ""))) <= ID_CHARS
        and ("confirm" not in element or _confirm(element["confirm"]))
    )


def _option(option: Any) -> bool:
    return (
        isinstance(option, dict)
        and _text_object(option.get("text"), OPTION_TEXT, plain_only=True)
        and isinstance(option.get("value"), str)
        and 0 < len(option["value"]) <= OPTION_VALUE
    )


def _static_select(element: Any) -> bool:
    """Options (1-100, each valid), an optional placeholder, and an initial option that is
    exactly one of the options."""
    if not isinstance(element, dict) or element.get("type") != "static_select":
        return False
    options = element.get("options")
    if not isinstance(options, list) or not 0 < len(options) <= SELECT_OPTIONS:
        return False
    placeholder = element.get("placeholder")
    initial = element.get("initial_option")
    return (
        all(_option(o) for o in options)
        and (placeholder is None or _text_object(placeholder, PLACEHOLDER_TEXT, plain_only=True))
        and (initial is None or initial in options)
        and len(str(element.get("action_id", ""))) <= ID_CHARS
        and ("confirm" not in element or _confirm(element["confirm"]))
    )


def _users_select(element: Any) -> bool:
    """A people menu: an optional placeholder, and an initial user that is a user id."""
    if not isinstance(element, dict) or element.get("type") != "users_select":
        return False
    placeholder = element.get("placeholder")
    initial = element.get("initial_user")
    return (
        (placeholder is None or _text_object(placeholder, PLACEHOLDER_TEXT, plain_only=True))
        and (initial is None or (isinstance(initial, str) and initial[:1] in ("U", "W")))
        and 0 < len(str(element.get("action_id", ""))) <= ID_CHARS
        and ("confirm" not in element or _confirm(element["confirm"]))
    )


def _block(block: Any) -> bool:
    if not isinstance(block, dict) or len(str(block.get("block_id", ""))) > ID_CHARS:
        return False
    kind = block.get("type")
    if kind == "divider":
        return True
    if kind == "header":
        return _text_object(block.get("text"), HEADER_TEXT, plain_only=True)
    if kind == "section":
        fields = block.get("fields") or []
        if "text" not in block and not fields:
            return False
        text_ok = "text" not in block or _text_object(block["text"], SECTION_TEXT)
        fields_ok = len(fields) <= SECTION_FIELDS and all(
            _text_object(f, SECTION_FIELD) for f in fields
        )
        return text_ok and fields_ok
    if kind == "context":
        elements = block.get("elements") or []
        return 0 < len(elements) <= CONTEXT_ELEMENTS and all(
            _text_object(e, TEXT_OBJECT) for e in elements
        )
    if kind == "actions":
        elements = block.get("elements") or []
        return 0 < len(elements) <= ACTIONS_ELEMENTS and all(
            _button(e) or _static_select(e) or _users_select(e) for e in elements
        )
    if kind == "markdown":
        text = block.get("text")
        return isinstance(text, str) and 0 < len(text) <= MARKDOWN_TEXT
    return False


def message_problem(args: dict[str, Any]) -> str | None:
    """Slack's error code for a message payload that breaks a limit, or None when it is fine."""
    text = args.get("text")
    if text is not None and not isinstance(text, str):
        return "invalid_arguments"
    if isinstance(text, str) and len(text) > TEXT_LIMIT:
        return "msg_too_long"
    blocks = args.get("blocks")
    if isinstance(blocks, str):  # a form-encoded call sends blocks as a JSON string
        try:
            blocks = json.loads(blocks)
        except ValueError:
            return "invalid_blocks"
    if blocks is None:
        return None if text else "no_text"
    if not isinstance(blocks, list) or not 0 < len(blocks) <= MAX_BLOCKS:
        return "invalid_blocks"
    if not all(_block(b) for b in blocks):
        return "invalid_blocks"
    markdown = sum(len(b["text"]) for b in blocks if b.get("type") == "markdown")
    if markdown > MARKDOWN_TEXT:
        return "msg_blocks_too_long"
    return None


# A modal view (views.open): the modal view object, the input block and the elements the bot
# puts in one (plain-text input, checkboxes, static_select above), per Slack's references.
MODAL_TITLE = 24  # title, submit and close: plain_text
MODAL_BLOCKS = 100
PRIVATE_METADATA = 3_000
INPUT_LABEL = 2_000
INPUT_HINT = 2_000
TEXT_INPUT_LENGTH = 3_000  # plain_text_input min_length / max_length
CHECKBOX_OPTIONS = 10


def _text_input(element: dict[str, Any]) -> bool:
    placeholder = element.get("placeholder")
    low, high = element.get("min_length", 0), element.get("max_length", TEXT_INPUT_LENGTH)
    initial = element.get("initial_value", "")
    return (
        isinstance(low, int)
        and isinstance(high, int)
        and 0 <= low <= TEXT_INPUT_LENGTH
        and 1 <= high <= TEXT_INPUT_LENGTH
        and low <= high
        and isinstance(initial, str)
        and len(initial) <= high
        and (placeholder is None or _text_object(placeholder, PLACEHOLDER_TEXT, plain_only=True))
    )


def _checkboxes(element: dict[str, Any]) -> bool:
    options = element.get("options")
    if not isinstance(options, list) or not 0 < len(options) <= CHECKBOX_OPTIONS:
        return False
    valid = all(
        isinstance(o, dict)
        and _text_object(o.get("text"), OPTION_TEXT)
        and isinstance(o.get("value"), str)
        and 0 < len(o["value"]) <= OPTION_VALUE
        for o in options
    )
    initial = element.get("initial_options", [])
    return valid and isinstance(initial, list) and all(o in options for o in initial)


def _input_element(element: Any) -> bool:
    if not isinstance(element, dict) or len(str(element.get("action_id", ""))) > ID_CHARS:
        return False
    kind = element.get("type")
    if kind == "plain_text_input":
        return _text_input(element)
    if kind == "checkboxes":
        return _checkboxes(element)
    if kind == "static_select":
        return _static_select(element)
    return False


def _input_block(block: dict[str, Any]) -> bool:
    hint = block.get("hint")
    return (
        len(str(block.get("block_id", ""))) <= ID_CHARS
        and _text_object(block.get("label"), INPUT_LABEL, plain_only=True)
        and (hint is None or _text_object(hint, INPUT_HINT, plain_only=True))
        and isinstance(block.get("optional", False), bool)
        and _input_element(block.get("element"))
    )


def modal_problem(view: Any) -> str | None:
    """Slack's error code for a modal view (views.open) that breaks a limit, else None."""
    if not isinstance(view, dict) or view.get("type") != "modal":
        return "invalid_arguments"
    if not _text_object(view.get("title"), MODAL_TITLE, plain_only=True):
        return "invalid_arguments"
    blocks = view.get("blocks")
    if not isinstance(blocks, list) or not 0 < len(blocks) <= MODAL_BLOCKS:
        return "invalid_arguments"
    for name in ("submit", "close"):
        if name in view and not _text_object(view[name], MODAL_TITLE, plain_only=True):
            return "invalid_arguments"
    inputs = [b for b in blocks if isinstance(b, dict) and b.get("type") == "input"]
    # submit is required when an input block is in the view
    if inputs and "submit" not in view:
        return "invalid_arguments"
    if len(str(view.get("callback_id", ""))) > ID_CHARS:
        return "invalid_arguments"
    if len(str(view.get("private_metadata", ""))) > PRIVATE_METADATA:
        return "invalid_arguments"
    for block in blocks:
        if block in inputs:
            if not _input_block(block):
                return "invalid_arguments"
        elif not _block(block):
            return "invalid_arguments"
    return None
