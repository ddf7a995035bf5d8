"""Text from outside (node names, provider reasons, URLs) made safe to show: no control codes.

A name or a provider's reason may hold terminal escape sequences (ESC [ … m, OSC titles),
carriage returns that overwrite a line, or bidi overrides that reorder it. Shown raw they can
recolour or rewrite what the user reads; these helpers drop every control and format character.
"""

from __future__ import annotations

import unicodedata


def strip_controls(text: str, keep: str = "") -> str:
    """`text` without control/format/unassigned characters (Unicode category C), NFC-normalized.

    Whitespace controls listed in `keep` (e.g. "\\n") stay; other whitespace becomes a space.
    """
    out = []
    for ch in unicodedata.normalize("NFC", text):
        if ch in keep:
            out.append(ch)
        elif ch.isspace():
            out.append(" ")
        elif unicodedata.category(ch)[0] != "C":
            out.append(ch)
    return "".join(out)


def terminal_safe(text: str) -> str:
    """Lines for a terminal: control characters dropped, newlines kept."""
    return strip_controls(text, keep="\n")
