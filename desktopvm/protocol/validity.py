"""`require_valid`: the one validate-or-raise every backend calls before it makes anything."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from desktopvm.protocol.errors import InvalidSpec

if TYPE_CHECKING:
    from collections.abc import Sequence

    from desktopvm.model.capabilities import Capabilities
    from desktopvm.model.machine import MachineSpec
    from desktopvm.model.problems import Problem


def require_valid(spec: MachineSpec, capabilities: Capabilities, *,
                  extra: Sequence[Problem] = (), **options: Any) -> None:
    """InvalidSpec with every blocking problem of `spec` on this backend, or nothing.

    `extra` are a backend's own problems with the spec (e.g. Hyper-V's device placement);
    `options` go to `model.validate` (e.g. `os_catalog`, `check_paths`).
    """
    from desktopvm.model import errors, validate

    problems = errors([*validate(spec, capabilities, **options), *extra])
    if problems:
        raise InvalidSpec(problems)
