"""Duplicate machine names: the clash message with a free name to use instead ("web-2")."""

from __future__ import annotations

import re
from collections.abc import Iterable

from desktopvm.model import MAX_NAME_LENGTH, Problem, clash_problems, name_key
from desktopvm.printable import printable

_NUMBERED = re.compile(r"^(.*?)-(\d+)$")


def suggest_name(name: str, taken: Iterable[str], limit: int = MAX_NAME_LENGTH) -> str:
    """The first of NAME-2, NAME-3 … that no machine in `taken` has (compared as the naming
    rule compares: `name_key`), cut to `limit`. A name already ending in -N counts on from N,
    so "web-2" taken suggests "web-3", not "web-2-2"."""
    keys = {name_key(other) for other in taken}
    stem, first = name.strip(), 2
    numbered = _NUMBERED.match(stem)
    if numbered:
        stem, first = numbered.group(1), int(numbered.group(2)) + 1
    number = first
    while True:
        suffix = f"-{number}"
        candidate = stem[:max(0, limit - len(suffix))].rstrip() + suffix
        if name_key(candidate) not in keys:
            return candidate
        number += 1


def clash_with_suggestion(name: str, taken: Iterable[str],
                          limit: int = MAX_NAME_LENGTH) -> list[Problem]:
    """The naming rule's clash problem for `name`, its message ending with a free name."""
    taken = list(taken)
    problems = clash_problems(name, taken)
    if not problems:
        return []
    free = printable(suggest_name(name, taken, limit))
    return [problem.model_copy(update={"message": f"{problem.message} Try “{free}”."})
            for problem in problems]
