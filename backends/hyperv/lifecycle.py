"""Hyper-V power operations: one request each; the host checks the state (see the scripts)."""

from __future__ import annotations

from backends.hyperv import plans
from backends.hyperv.plans import Call
from backends.hyperv.runner import Runner

#: Protocol operation -> (script, time limit).
POWER = {
    "start": ("start_vm", plans.SLOW), "shutdown": ("shutdown_vm", plans.QUICK),
    "power_off": ("stop_vm", plans.SLOW), "reset": ("restart_vm", plans.SLOW),
    "pause": ("suspend_vm", plans.SLOW), "resume": ("resume_vm", plans.SLOW),
    "save_state": ("save_vm", plans.SLOW),
}


def power(runner: Runner, operation: str, vm_id: str) -> None:
    """Run the script for `operation` (a key of POWER) on the VM; it runs to its end."""
    op, timeout = POWER[operation]
    runner.run(Call(op, {"Id": vm_id}, timeout=timeout), interruptible=False)
