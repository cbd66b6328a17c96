"""`require_valid`: the one validate-or-raise every backend calls before it makes anything."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from desktopvm.protocol.errors import InvalidSpec

if TYPE_CHECKING:
    from desktopvm.model.capabilities import Capabilities
    from desktopvm.model.machine import MachineSpec


def require_valid(spec: MachineSpec, capabilities: Capabilities, **options: Any) -> None:
    """InvalidSpec with every blocking problem of `spec` on this backend, or nothing.

    `options` go to `model.validate` (e.g. `os_catalog`, `existing_names`).
    """
    from desktopvm.model import errors, validate

    problems = errors(validate(spec, capabilities, **options))
    if problems:
        raise InvalidSpec(problems)
