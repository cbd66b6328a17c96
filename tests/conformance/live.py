"""The guard around every live suite (real VirtualBox, real Hyper-V): opt-in, and it deletes
only what it made.

- A live test runs only with its option (`--live-virtualbox`, `--live-hyperv`; tests/conftest.py
  skips it otherwise, whatever `-m` says).
- Every machine a live test makes is named with the run's prefix (`--live-prefix`, default
  `dvmtest-`): the conformance tests name machines through `Harness.name`.
- Before a test, `live_session` looks at the host: if it holds machines whose names do not
  start with the prefix (the user's machines) and the user did not say which prefix is the
  tests' (`--live-prefix`), the test fails at once and touches nothing.
- After a test, `remove_own` deletes only the machines that carry the prefix and were not there
  when the test began: a user's machine is never deleted, not even one that happens to carry
  the prefix.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from desktopvm.model import name_problems, printable
from desktopvm.protocol import Backend, CancelToken, InvalidState, PowerState, no_progress
from tests.conformance.harness import Harness

DEFAULT_PREFIX = "dvmtest-"


@dataclass(frozen=True)
class LiveOptions:
    """The prefix of the tests' machines, and whether the user named it (`--live-prefix`)."""

    prefix: str = DEFAULT_PREFIX
    prefix_given: bool = False


def live_options(config: pytest.Config) -> LiveOptions:
    """The live options of this pytest run."""
    given = config.getoption("--live-prefix")
    if given is None:
        return LiveOptions()
    return LiveOptions(str(given), prefix_given=True)


def prefix_problem(prefix: str) -> str:
    """Why `prefix` cannot be the live tests' prefix ("" when it can)."""
    if not prefix.strip():
        return "the live prefix must not be empty: it is what keeps your machines safe"
    problems = name_problems(prefix + "x")
    return problems[0].message if problems else ""


def check_host(backend: Backend, options: LiveOptions) -> set[str]:
    """Fail the test unless the host is safe to test on; returns the ids of its machines.

    Safe: every machine there carries the prefix, or the user named the prefix.
    """
    machines = backend.list_machines()
    strangers = sorted(m.name for m in machines if not m.name.startswith(options.prefix))
    if strangers and not options.prefix_given:
        shown = ", ".join(repr(printable(name)) for name in strangers[:3])
        more = f" and {len(strangers) - 3} more" if len(strangers) > 3 else ""
        pytest.fail(
            f"refusing to run live tests on {backend.display_name}: it has {len(strangers)} "
            f"machine(s) these tests did not make ({shown}{more}). The tests name their "
            f"machines {options.prefix}… and delete only those they made; to run here anyway, "
            "say which prefix is theirs with --live-prefix=PREFIX (one none of your machines "
            "uses).", pytrace=False)
    return {m.id for m in machines}


def remove_own(backend: Backend, prefix: str, before: set[str]) -> list[str]:
    """Delete (with disks) the machines named `prefix…` that were not there before; their names."""
    removed: list[str] = []
    own = [m for m in backend.list_machines() if m.id not in before and m.name.startswith(prefix)]
    for machine in own:
        if machine.state.is_active or machine.state is PowerState.SAVED:
            with contextlib.suppress(InvalidState):
                backend.power_off(machine.id)
    # A machine whose disks a linked clone still uses is refused (InvalidState) until the
    # clone is gone: retry the refused ones while each round removes at least one.
    while own:
        refused = []
        for machine in own:
            try:
                backend.delete(machine.id, delete_disks=True, progress=no_progress,
                               cancel=CancelToken())
            except InvalidState:
                refused.append(machine)
                continue
            removed.append(machine.name)
        if len(refused) == len(own):
            raise InvalidState(f"could not remove {', '.join(m.name for m in refused)}")
        own = refused
    return removed


@contextmanager
def live_session(harness: Harness, options: LiveOptions) -> Iterator[Harness]:
    """`harness` with the run's prefix, refused on an unsafe host, cleaned of only its own."""
    before = check_host(harness.backend, options)
    guarded = dataclasses.replace(harness, prefix=options.prefix)
    try:
        yield guarded
    finally:
        remove_own(guarded.backend, options.prefix, before)
