"""Text from users and hypervisors made safe to show: `printable(name)` escapes every character a
terminal or a label would act on instead of showing (C0/C1 controls, DEL, line and paragraph
separators, bidirectional overrides, unpaired surrogates) as `\\n`, `\\x1b`, `\\u2028` ….

The one helper the CLI and the GUI use wherever a machine name (or a message that may carry
one) is shown. Standard library only: the GUI imports it at start-up, before the model.
"""

from __future__ import annotations

import unicodedata

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def is_unsafe_character(char: str) -> bool:
    """True for a character that acts instead of showing (control, separator, bidi, surrogate)."""
    category = unicodedata.category(char)
    return category in ("Cc", "Zl", "Zp", "Cs") or char in BIDI_CONTROLS


def printable(text: str) -> str:
    """`text` with every control, separator, bidi and surrogate character escaped."""
    if not any(is_unsafe_character(char) for char in text):
        return text
    return "".join(_escaped(char) if is_unsafe_character(char) else char for char in text)


def printable_lines(text: str) -> str:
    """Like `printable`, but line breaks stay line breaks (for multi-line output)."""
    return "\n".join(printable(line) for line in text.split("\n"))


def _escaped(char: str) -> str:
    if char in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[char]
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"
