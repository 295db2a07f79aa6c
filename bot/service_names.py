"""Service names: canonical form, look-alike flags, and which label names the service.

Kept free of heavy imports: the policy engine reuses ``canonical_service`` to decide
criticality from the same canonical name ingestion stored.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping

UNKNOWN_SERVICE = "unknown"

FLAG_MIXED_SCRIPT = "mixed_script"
FLAG_INVISIBLE = "invisible_chars"
FLAG_NON_ASCII = "non_ascii"

# Default-ignorable code points that are not in category Cf but render as nothing.
_IGNORABLE = frozenset(
    {0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180B, 0x180C, 0x180D, 0x180F, 0x3164, 0xFFA0}
)
# Scripts that legitimately mix inside one word (Japanese, Korean with Hanja).
_SCRIPT_FAMILY = {
    "CJK": "HAN",
    "HIRAGANA": "HAN",
    "KATAKANA": "HAN",
    "KATAKANA-HIRAGANA": "HAN",
    "HANGUL": "HAN",
}
# Letter-name prefixes that say nothing about the script.
_NOT_A_SCRIPT = frozenset({"MODIFIER", "SMALL", "CAPITAL", "LETTER"})


def _is_invisible(char: str) -> bool:
    code = ord(char)
    category = unicodedata.category(char)
    if category == "Cf" or code in _IGNORABLE:
        return True
    if category == "Cc" and not char.isspace():
        return True
    return 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF


def _script(char: str) -> str | None:
    if not unicodedata.category(char).startswith("L"):
        return None
    first = unicodedata.name(char, "").split(" ", 1)[0]
    if not first or first in _NOT_A_SCRIPT:
        return None
    return _SCRIPT_FAMILY.get(first, first)


def canonical_service(name: str) -> tuple[str, list[str]]:
    """Canonical service name (NFKC, case-folded, hyphen for whitespace) and sorted flags.

    Flags: ``invisible_chars`` (format/zero-width characters, removed from the name),
    ``mixed_script`` (letters from more than one script, e.g. Latin with a Cyrillic
    look-alike), ``non_ascii`` (any other character outside ASCII in what was received).
    An empty or all-invisible name canonicalises to "".
    """
    if name.isascii() and name.isprintable():
        # ASCII without control characters: NFKC is the identity, no flag can apply.
        return "-".join(name.lower().split()), []
    flags: set[str] = set()
    visible = "".join(char for char in name if not _is_invisible(char))
    if len(visible) != len(name):
        flags.add(FLAG_INVISIBLE)
    if not visible.isascii():
        flags.add(FLAG_NON_ASCII)
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", visible).casefold())
    folded = "".join(char for char in folded if not _is_invisible(char))
    canonical = "-".join(folded.split())
    scripts = {script for char in canonical if (script := _script(char)) is not None}
    if len(scripts) > 1:
        flags.add(FLAG_MIXED_SCRIPT)
    return canonical, sorted(flags)


def resolve_service(
    labels: Mapping[str, str],
    label_order: Iterable[str],
    *,
    explicit: str = "",
    fallbacks: Iterable[str] = (),
) -> tuple[str, str, list[str]]:
    """(canonical, raw, flags) for the service an alert is about.

    Preference: an explicit service field, then the first non-blank label in
    ``label_order``, then the source's own fallbacks, else "unknown".
    """
    candidates = [explicit, *(labels.get(name, "") for name in label_order), *fallbacks]
    raw = next((value for value in candidates if value.strip()), "")
    canonical, flags = canonical_service(raw)
    return canonical or UNKNOWN_SERVICE, raw, flags
