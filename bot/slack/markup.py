"""The one escaping rule for text that reaches Slack, and Slack's documented limits.

Build a message by escaping each untrusted VALUE, then inserting it into our own template;
never escape a whole message (that would break our bold markers, mentions and links).

    escape(text)      the base rule alone: hidden characters removed, ``& < >`` escaped; for
                      text we wrote that quotes a value (error messages with our code spans)
    mrkdwn(value)     a value in mrkdwn: message ``text``, section and context text
    code(value)       a value inside a `code span` (or a ```code block``` with block=True)
    plain(value)      a value inside a plain_text object: header, button, modal title
    markdown(value)   a value inside standard markdown: a markdown block, an uploaded .md file
    fit(text, limit)  cut to a limit with a visible marker, never inside ``&amp;`` or a character
    mention(id)       our own mention of a user (U…/W…) or user group (S…), ids checked
    link(url, label)  our own ``<url|label>`` to an http(s) URL; any other scheme is refused

Every escaper removes characters that hide or reorder text (zero-width, bidi overrides, C0
controls) and entity-escapes ``&``, ``<`` and ``>`` (Slack's documented rule), so no untrusted
``<!channel>``, ``<@U…>``, ``<#C…>``, ``<!subteam^…>`` or ``<url|label>`` can survive. A value
that already looks escaped (``&lt;!channel&gt;``) is escaped again and shows literally. Lengths
are counted in UTF-16 code units (what Slack's JSON clients count), never fewer than characters.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

CUT = "… (cut)"
ID_CHARS = 80  # how much of something that should have been an id is shown


@dataclass(frozen=True)
class Limits:
    """Slack's documented limits, in characters, for every surface the bot writes to."""

    message_text: int = 4_000  # chat.postMessage ``text``: recommended; Slack cuts at 40,000
    message_text_hard: int = 40_000
    blocks_per_message: int = 50
    section_text: int = 3_000
    section_field: int = 2_000
    section_fields: int = 10
    header_text: int = 150
    context_elements: int = 10
    context_text: int = 2_000  # a text object allows 3,000; we keep context lines short
    markdown_block: int = 12_000  # markdown block ``text``; the sum per message is ~12,000 too
    button_text: int = 75
    button_value: int = 2_000
    confirm_title: int = 100  # a button's confirmation dialog (all plain_text)
    confirm_text: int = 300
    confirm_button: int = 30
    action_id: int = 255
    block_id: int = 255
    actions_elements: int = 25
    select_options: int = 100  # a static_select menu's options
    option_text: int = 75  # an option's plain_text label
    option_value: int = 150
    placeholder_text: int = 150
    modal_title: int = 24
    channel_name: int = 80
    channel_topic: int = 250
    channel_purpose: int = 250
    file_title: int = 250
    ephemeral_text: int = 4_000
    home_blocks: int = 100  # views.publish of a Home tab view
    url: int = 2_000  # longer links are not shown (a URL cannot be cut and still work)


LIMITS = Limits()

# Characters that hide text or reorder it on screen: zero-width space and joiners used to
# smuggle words past a reader, bidi embeddings/overrides/isolates (the "RTL override" trick),
# the BOM, and C0/C1 controls other than newline and tab.
_INVISIBLE = re.compile(
    "[\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
    "|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)
_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
# Look-alikes keep the text readable while no longer opening or closing our formatting.
_BACKTICK = str.maketrans({"`": "\u02cb"})
_MRKDWN_MARKS = str.maketrans({"`": "\u02cb", "*": "\u2217", "~": "\u223c"})
# An underscore opens or closes italics only at a word boundary; inside identifiers such as
# restart_deployment it is left alone.
_EDGE_UNDERSCORE = re.compile(r"(?:(?<![^\W_])_|_(?![^\W_]))")
_LOOKALIKE_UNDERSCORE = "\u02cd"
_WHITESPACE = re.compile(r"\s+")
# In plain_text Slack shows ``&amp;`` literally, so only the opener of a control sequence is
# changed there: ``<!``, ``<@``, ``<#`` and ``<scheme:`` get a look-alike angle bracket.
_CONTROL_OPENER = re.compile(r"<(?=[!@#]|[A-Za-z][A-Za-z0-9+.-]*:)")
# Values sit inline after our own prefix, so ``#`` and list markers cannot start a line; with
# ``[`` and ``]`` escaped no link or image can form.
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]|~])")
_USER_OR_GROUP = re.compile(r"[UWS][A-Z0-9]{2,30}")
_CHANNEL = re.compile(r"[CGD][A-Z0-9]{2,30}")


def visible(text: str) -> str:
    """The text without characters that hide or reorder what a reader sees."""
    return _INVISIBLE.sub("", text)


def escape(text: str) -> str:
    """Slack's escaping (``&``, ``<``, ``>``) of text without hidden characters."""
    return visible(text).translate(_ENTITIES)


def mrkdwn(text: str) -> str:
    """An untrusted value for mrkdwn: escaped, and unable to open code, bold or strike."""
    escaped = escape(text).translate(_MRKDWN_MARKS)
    return _EDGE_UNDERSCORE.sub(_LOOKALIKE_UNDERSCORE, escaped)


def code(text: str, block: bool = False) -> str:
    """An untrusted value inside a code span (one line) or a code block (``block=True``)."""
    cleaned = visible(text)
    if not block:
        cleaned = _WHITESPACE.sub(" ", cleaned)
    return cleaned.translate(_ENTITIES).translate(_BACKTICK)


def plain(text: str) -> str:
    """An untrusted value for a plain_text object: one line, no control-sequence opener."""
    one_line = _WHITESPACE.sub(" ", visible(text)).strip()
    return _CONTROL_OPENER.sub("\u2039", one_line)


def markdown(text: str) -> str:
    """An untrusted value inline in standard markdown: one line, entities and marks escaped."""
    one_line = _WHITESPACE.sub(" ", visible(text)).strip()
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", one_line.translate(_ENTITIES))


def mention(slack_id: str) -> str:
    """Our mention of a user (U…/W…) or user group (S…); anything else shows as escaped code."""
    if not _USER_OR_GROUP.fullmatch(slack_id):
        return f"`{fit(code(slack_id), ID_CHARS)}`"
    if slack_id.startswith("S"):
        return f"<!subteam^{slack_id}>"
    return f"<@{slack_id}>"


# In a link's URL these would end it, split it from its label or break it across lines.
_URL_UNSAFE = {c: f"%{ord(c):02X}" for c in ' "<>|`^{}\\'}
_URL_UNSAFE_TABLE = str.maketrans(_URL_UNSAFE)
_URL_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def safe_url(url: str) -> str | None:
    """An http(s) URL with a host, percent-encoded where Slack's link syntax needs it; None
    for anything else (``javascript:``, ``slack:``, relative paths, hidden characters)."""
    candidate = url.strip()
    if _URL_CONTROL.search(candidate) or _INVISIBLE.search(candidate):
        return None
    try:
        parts = urlsplit(candidate)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    encoded = candidate.translate(_URL_UNSAFE_TABLE)
    return encoded if size(encoded) <= LIMITS.url else None


def link(url: str, label: str) -> str | None:
    """Our ``<url|label>`` (the label an untrusted value, escaped); None when the URL is refused.

    The URL's ``&`` becomes ``&amp;`` as Slack's escaping asks; ``|``, ``<``, ``>``, spaces
    and quotes are percent-encoded so they can neither end the link nor start a label.
    """
    safe = safe_url(url)
    if safe is None:
        return None
    shown = mrkdwn(label).replace("|", "\u2223")
    return f"<{safe.replace('&', '&amp;')}|{shown}>"


def channel_link(channel_id: str) -> str:
    """Our link to a channel by id; anything that is not a channel id shows as escaped code."""
    if not _CHANNEL.fullmatch(channel_id):
        return f"`{fit(code(channel_id), ID_CHARS)}`"
    return f"<#{channel_id}>"


def size(text: str) -> int:
    """The length Slack measures: UTF-16 code units (an emoji outside the BMP counts two)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _breaks_cluster(text: str, at: int) -> bool:
    """Would cutting before ``text[at]`` separate a character from what combines with it?"""
    if at <= 0 or at >= len(text):
        return False
    before, after = text[at - 1], text[at]
    return (
        "\ud800" <= before <= "\udbff"  # a lone high surrogate would be left behind
        or before == "\u200d"  # zero-width joiner inside an emoji sequence
        or after in "\u200d\ufe0e\ufe0f"
        or "\U0001f3fb" <= after <= "\U0001f3ff"  # skin-tone modifier
        or unicodedata.combining(after) != 0
    )


def fit(text: str, limit: int, marker: str = CUT) -> str:
    """``text`` if it fits in ``limit``, else its head and a visible ``marker`` within the limit.

    The cut never splits an entity (``&amp;``, ``&lt;``, ``&gt;``), a surrogate pair or a
    character from its combining marks, and trailing whitespace before the marker is dropped.
    """
    if size(text) <= limit:
        return text
    budget = limit - size(marker)
    if budget < 0:
        raise ValueError(f"limit {limit} is shorter than the cut marker {marker!r}")
    end = min(len(text), budget)
    while end > 0 and size(text[:end]) > budget:
        # each character is one or two units: dropping half the excess never drops too many
        end -= max(1, (size(text[:end]) - budget + 1) // 2)
    steps = 0
    while _breaks_cluster(text, end) and steps < 32:
        end, steps = end - 1, steps + 1
    head = text[:end]
    amp = head.rfind("&", max(0, len(head) - 5))
    if amp != -1 and ";" not in head[amp:]:
        head = head[:amp]
    return head.rstrip() + marker
