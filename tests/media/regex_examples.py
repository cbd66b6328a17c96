"""A string each osinfo pattern matches, built from the pattern itself (deterministic)."""

from __future__ import annotations

import re._constants as c  # type: ignore[import-not-found]
import re._parser as sre  # type: ignore[import-not-found]

from desktopvm.media.osinfo import glib_to_python

# Characters chosen for `.` and classes: printable, and unlikely to form another release's id.
ANY = "X"


def example(pattern: str) -> str:
    """The shortest-ish string `pattern` matches: first branches, minimal repeats."""
    built = _build(sre.parse(glib_to_python(pattern)))
    # Discs' ids lose their trailing blanks before matching: 'Debian 8.x amd64 .*' needs more.
    return built + ANY if built != built.rstrip() else built


def _build(parsed) -> str:
    out = []
    for op, arg in parsed:
        if op is c.LITERAL:
            out.append(chr(arg))
        elif op is c.ANY:
            out.append(ANY)
        elif op is c.IN:
            out.append(_class(arg))
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            low, _high, item = arg
            out.append(_build(item) * low)
        elif op is c.SUBPATTERN:
            out.append(_build(arg[-1]))
        elif op is c.BRANCH:
            out.append(_build(arg[1][0]))
        elif op in (c.AT, c.ASSERT, c.ASSERT_NOT):
            continue
        elif op is c.NOT_LITERAL:
            out.append("X" if arg != ord("X") else "Y")
        else:
            raise ValueError(f"no example for {op}")
    return "".join(out)


def _class(items) -> str:
    negate = items and items[0][0] is c.NEGATE
    if negate:
        excluded = {arg for op, arg in items[1:] if op is c.LITERAL}
        return next(ch for ch in "XYZ_" if ord(ch) not in excluded)
    op, arg = items[0]
    if op is c.LITERAL:
        return chr(arg)
    if op is c.RANGE:
        return chr(arg[0])
    if op is c.CATEGORY:
        return {c.CATEGORY_DIGIT: "0", c.CATEGORY_SPACE: " ", c.CATEGORY_WORD: "a"}.get(arg, "X")
    return "X"
