"""YAML scalars that stay data whatever they hold: every string is written double-quoted.

cloud-init and Ubuntu's installer read their files with PyYAML; a double-quoted scalar with
backslash escapes is read back as exactly the string written (quotes, colons, `#`, `&`, `*`,
`!`, `{`, leading spaces, "yes", "null" and numbers included — unquoted they would change
meaning or type). The tests parse every file back with PyYAML.
"""

from __future__ import annotations

# What YAML lets stand as itself in a double-quoted scalar (its "printable" set, as PyYAML's
# reader checks it) minus the two characters that need a backslash.
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\t": "\\t", "\n": "\\n", "\r": "\\r", "\x00": "\\0",
            "\x85": "\\N", "\u2028": "\\L", "\u2029": "\\P"}


def _printable(char: str) -> bool:
    code = ord(char)
    return (0x20 <= code <= 0x7E or 0xA0 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD
            or 0x10000 <= code <= 0x10FFFF) and code != 0xFEFF


def quoted(value: str) -> str:
    """`value` as a double-quoted YAML scalar."""
    out = []
    for char in value:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif _printable(char):
            out.append(char)
        elif ord(char) <= 0xFF:
            out.append(f"\\x{ord(char):02X}")
        else:
            out.append(f"\\u{ord(char):04X}")
    return '"' + "".join(out) + '"'


def flow_list(values: tuple[str, ...] | list[str]) -> str:
    """A YAML flow sequence of quoted strings."""
    return "[" + ", ".join(quoted(v) for v in values) + "]"
