"""Block Kit blocks as a terminal shows them: the demo prints the real card this way.

Only the surface changes: mrkdwn links ``<url|label>`` read ``label (url)``, mentions read
``@id``, Slack's three entities are decoded, and buttons and menus show as ``[ label ]``. What
the blocks say is untouched, so the terminal shows exactly what the card says in Slack.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

MARGIN = "┃ "
_LINK = re.compile(r"<([^<>|]+)\|([^<>]*)>")
_MENTION = re.compile(r"<(?:@|!subteam\^)([A-Z0-9]+)>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)>")


def mrkdwn_as_text(text: str) -> str:
    """One mrkdwn string for a terminal."""
    text = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})", text)
    text = _MENTION.sub(lambda m: f"@{m.group(1)}", text)
    text = _SPECIAL.sub(lambda m: f"@{m.group(1)}", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _text(node: Any) -> str:
    if not isinstance(node, dict):
        return ""
    text = str(node.get("text", ""))
    return mrkdwn_as_text(text) if node.get("type") == "mrkdwn" else text


def _element(element: dict[str, Any]) -> str:
    label = _text(element.get("text")) or _text(element.get("placeholder"))
    if element.get("type") != "button":
        label += " ▾"
    return f"[ {label} ]"


def _lines(block: dict[str, Any]) -> Iterator[str]:
    kind = block.get("type")
    if kind == "header":
        yield _text(block.get("text"))
    elif kind == "section":
        if "text" in block:
            yield from _text(block["text"]).splitlines()
        for field in block.get("fields") or []:
            yield from _text(field).splitlines()
    elif kind == "context":
        yield " · ".join(_text(e) for e in block.get("elements") or [])
    elif kind == "actions":
        yield "  ".join(_element(e) for e in block.get("elements") or [])
    elif kind == "divider":
        yield "─" * 40
    elif kind == "markdown":
        yield from str(block.get("text", "")).splitlines()


def blocks_as_text(blocks: Sequence[dict[str, Any]]) -> str:
    """The blocks top to bottom, each line behind a margin."""
    return "\n".join(f"{MARGIN}{line}".rstrip() for block in blocks for line in _lines(block))
