"""Terminal output: untrusted text never carries control sequences to the operator's screen."""

from __future__ import annotations

import re
import sys

# C0 controls except tab and newline, DEL, and C1 controls (ESC starts ANSI sequences; CSI is
# its one-byte form). Removing them keeps an alert title from moving the cursor or recolouring.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` without terminal control characters."""
    return _CONTROL.sub("", text)


def say(text: str = "", *, error: bool = False) -> None:
    """Print one line (or block) of text to stdout, or stderr, stripped of control characters."""
    print(printable(text), file=sys.stderr if error else sys.stdout, flush=True)
