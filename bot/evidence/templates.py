"""PromQL templates: ``{name}`` placeholders inside a query, filled with label-safe values only.

An argv or a JSON body substitutes whole values; a query needs a service name *inside* a label
matcher (``{job="{service}"}``), so here a placeholder may sit anywhere — and every value is
held to what a label value can be without quoting: letters, digits, ``_ . : -``. A value with a
quote, a brace, a backslash or a space could change the query, so it is refused.
"""

from __future__ import annotations

import re
from typing import Any

from bot.errors import ActionError

# {name} where name is a parameter; PromQL's own braces ({job="x"}) never match this shape
# because a selector's content contains '=' or a quote.
PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
SAFE_VALUE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


def placeholders(template: str) -> list[str]:
    """The placeholder names a query template uses, in order."""
    return PLACEHOLDER.findall(template)


def render_query(template: str, values: dict[str, Any]) -> str:
    """Fill every placeholder; ActionError for a missing or unsafe value."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise ActionError(f"query placeholder {{{name}}} has no value")
        value = values[name]
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if isinstance(value, (dict, list)) or not SAFE_VALUE.match(text):
            raise ActionError(
                f"parameter {name}: only letters, digits and _ . : - may go into a query"
            )
        return text

    return PLACEHOLDER.sub(fill, template)
