"""Turns the dispatcher's error replies into typed errors, never reading localised text."""

from __future__ import annotations

from desktopvm.protocol import (
    BackendError,
    BackendUnavailable,
    CommandFailed,
    InvalidState,
    MachineNotFound,
    UnsupportedOperation,
)

HYPERV_ADMINISTRATORS_HINT = (
    "Add your account to the local 'Hyper-V Administrators' group (or run DesktopVM as an "
    "administrator), then sign out and back in."
)
ENABLE_HYPERV_HINT = (
    "Turn on Hyper-V (Windows 10/11 Pro, Enterprise or Education, or Windows Server): "
    "Enable-WindowsOptionalFeature -Online -FeatureName Microsoft-Hyper-V-All, then restart."
)


class PermissionDenied(CommandFailed):
    """The account may not manage Hyper-V on that host (not in Hyper-V Administrators)."""


def permission_message(host: str) -> str:
    """The one-line summary for a refused account, naming the group that grants access."""
    return (f"Your account may not manage Hyper-V on {host}: it must be in the "
            "'Hyper-V Administrators' (or Administrators) group")


def is_permission_error(error: dict[str, str]) -> bool:
    """Access refused: by error category, .NET exception type or Hyper-V's error id."""
    fqid = error.get("fqid", "")
    return (error.get("category") == "PermissionDenied"
            or error.get("type", "").endswith("UnauthorizedAccessException")
            or fqid.startswith(("AccessDenied,", "PermissionDenied,")))


def error_for(op: str, error: dict[str, str], host: str) -> BackendError:
    """The typed error for a failed operation `op` on `host`."""
    fqid = error.get("fqid", "")
    message = error.get("message", "").strip() or "no message"
    first_line = message.splitlines()[0]
    details = "\n".join(f"{key}: {value}" for key, value in sorted(error.items()) if value)
    if fqid.startswith("DesktopVM.MachineNotFound"):
        return MachineNotFound(first_line, details)
    if fqid.startswith("DesktopVM.InvalidState") or fqid.startswith("InvalidState,"):
        return InvalidState(first_line, details)
    if fqid.startswith("DesktopVM.Unsupported"):
        return UnsupportedOperation(first_line, details)
    if is_permission_error(error):
        return PermissionDenied(permission_message(host), command=[f"{op}.ps1"],
                                details=f"{HYPERV_ADMINISTRATORS_HINT}\n{details}")
    if (error.get("type", "").endswith("CommandNotFoundException")
            and error.get("target", "").lower().startswith("hyper-v\\")):
        return BackendUnavailable(f"The Hyper-V PowerShell module is not available on {host}",
                                  details, install_hint=ENABLE_HYPERV_HINT)
    return CommandFailed(f"Hyper-V could not {describe(op)}: {first_line}",
                         command=[f"{op}.ps1"], details=details)


OP_DESCRIPTIONS = {
    "create_vm": "create the machine", "remove_vm": "delete the machine",
    "start_vm": "start the machine", "stop_vm": "turn the machine off",
    "shutdown_vm": "shut the machine down", "clone_vm": "clone the machine",
    "export_vm": "export the machine", "import_vm": "import the machine",
    "checkpoint_vm": "take the checkpoint", "restore_checkpoint": "restore the checkpoint",
    "remove_checkpoint": "delete the checkpoint", "new_vhd": "create the disk",
    "resize_vhd": "resize the disk", "convert_vhd": "convert the disk",
    "optimize_vhd": "compact the disk", "get_vhd": "read the disk",
}


def describe(op: str) -> str:
    """'create_vm' -> 'create the machine'; unknown ops read as 'run <op>'."""
    return OP_DESCRIPTIONS.get(op, f"run {op.replace('_', ' ')}")
