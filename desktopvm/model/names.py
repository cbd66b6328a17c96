"""The one rule for machine names, used by every operation that sets one, and how to show them.

A name is valid when it is not empty, does not begin or end with white space, holds no
control character (Unicode category Cc: C0, DEL and C1 such as U+0085 NEL and U+009B CSI), no
line or paragraph separator (U+2028/2029), no bidirectional override (U+202A–202E,
U+2066–2069: they make a name read differently from what it is), no unpaired surrogate, none of
the backend's forbidden characters, and is at most `MAX_NAME_LENGTH` characters (or the
backend's own, lower limit).

Names are unique per host the way a person reads them: `name_key` compares them after Unicode
NFKC normalisation and case folding, so "Web", "web" and "ｗｅｂ" are the same name (as they are
to a file system on Windows or macOS, where VirtualBox keeps a folder per name).

`desktopvm.printable.printable(text)` (re-exported here) is how the CLI and the GUI show a name
or any text that came from a user or a hypervisor: every character a terminal or a label would
act on instead of showing is escaped as `\\n`, `\\x1b`, `\\u2028` …
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from desktopvm.model.capabilities import Capabilities
from desktopvm.model.problems import Problem, error
from desktopvm.printable import is_unsafe_character, printable

MAX_NAME_LENGTH = 200


def name_problems(name: str, capabilities: Capabilities | None = None, *,
                  taken: Iterable[str] = ()) -> list[Problem]:
    """Every reason `name` cannot name a machine (empty list: it can), all with field "name".

    `capabilities` adds the backend's forbidden characters and its length limit when lower
    than ours; `taken` are the names of the host's other machines (a rename leaves the
    machine's own name out).
    """
    if not name.strip():
        return [error("name", "Give the machine a name.")]
    problems = []
    if name != name.strip():
        problems.append(error("name", "The name must not begin or end with spaces."))
    unsafe = sorted({char for char in name if is_unsafe_character(char)})
    if unsafe:
        shown = " ".join(printable(char) for char in unsafe)
        problems.append(error("name", "The name must not contain line breaks or control "
                                      f"characters ({shown})."))
    limit = MAX_NAME_LENGTH
    if capabilities is not None:
        forbidden = sorted({c for c in name if c in capabilities.name_forbidden_characters})
        if forbidden:
            shown = " ".join(repr(c) for c in forbidden)
            problems.append(error("name", f"{capabilities.backend} does not accept these "
                                          f"characters in a name: {shown}"))
        limit = min(limit, capabilities.max_name_length)
    if len(name) > limit:
        problems.append(error("name", f"The name is longer than {limit} characters "
                                      f"({len(name)})."))
    return problems + clash_problems(name, taken)


def clash_problems(name: str, taken: Iterable[str]) -> list[Problem]:
    """A problem when `name` is the same name (`name_key`) as one of `taken`."""
    key = name_key(name)
    clash = next((other for other in taken if name_key(other) == key), None)
    if clash is None:
        return []
    return [error("name", f"Another machine here is already called {printable(clash)}; "
                          "names must differ by more than case.")]


def name_key(name: str) -> str:
    """What two names must share to be the same name: NFKC-normalised and case-folded."""
    return unicodedata.normalize("NFKC", name).casefold()


def fit_name(template: str, name: str, limit: int = MAX_NAME_LENGTH) -> str:
    """`template` with "%1" replaced by `name`, the name cut so the result stays within `limit`.

    E.g. the proposed name of a copy, "%1 (copy)", for a name already near the limit.
    """
    room = max(0, limit - len(template.replace("%1", "")))
    return template.replace("%1", name[:room].rstrip()).strip()
