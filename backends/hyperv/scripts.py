"""The shipped PowerShell: the constant bootstrap, the dispatcher, one script per operation."""

from __future__ import annotations

import base64
import functools
import json
from importlib import resources

INFRASTRUCTURE = ("bootstrap", "dispatcher", "common")
POWERSHELL_OPTIONS = ("-NoLogo", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass")


@functools.cache
def script_text(name: str) -> str:
    """The text of `scripts/<name>.ps1` exactly as shipped (ASCII; a test keeps it so)."""
    return (resources.files("backends.hyperv") / "scripts" / f"{name}.ps1").read_text("ascii")


@functools.cache
def operation_names() -> tuple[str, ...]:
    """Every operation the dispatcher can run: the .ps1 files other than the infrastructure."""
    folder = resources.files("backends.hyperv") / "scripts"
    names = (entry.name.removesuffix(".ps1") for entry in folder.iterdir()
             if entry.name.endswith(".ps1"))
    return tuple(sorted(name for name in names if name not in INFRASTRUCTURE))


@functools.cache
def encoded_bootstrap() -> str:
    """The bootstrap as PowerShell's -EncodedCommand wants it: base64 of UTF-16LE."""
    return base64.b64encode(script_text("bootstrap").encode("utf-16-le")).decode("ascii")


def powershell_arguments() -> list[str]:
    """The command-line arguments after the executable: always the same, whatever the request."""
    return [*POWERSHELL_OPTIONS, "-EncodedCommand", encoded_bootstrap()]


@functools.cache
def load_message() -> bytes:
    """The first stdin line of every session: dispatcher, helpers and all operation scripts."""
    message = {
        "dispatcher": script_text("dispatcher"),
        "common": script_text("common"),
        "scripts": {name: script_text(name) for name in operation_names()},
    }
    return (json.dumps(message, ensure_ascii=True, separators=(",", ":")) + "\n").encode("ascii")
