"""The Hyper-V backend's sessions on one host: quick requests, long copies, cached host facts."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from backends.hyperv import parsers
from backends.hyperv.plans import Call
from backends.hyperv.session import Channel, PowerShellSession
from desktopvm.protocol import CancelToken, MachineNotFound, states
from desktopvm.protocol.states import Operation

FACTS_TTL = 60.0
# Requests that only read: one whose connection drops is asked again on a fresh session.
# Every other operation may have run when its reply was lost, so it is never resent.
READ_ONLY = frozenset({"list_vms", "get_vm", "host_info", "probe", "get_vhd",
                       "guest_addresses", "thumbnail", "read_file", "file_hash"})


class Runner:
    """Two PowerShell sessions on one host, so an export does not hold up the inventory.

    Each session runs its requests one at a time; `slow=True` sends a request on the second.
    """

    def __init__(self, channel_factory: Callable[[], Channel], *, host: str,
                 local: bool) -> None:
        self.host = host
        self.local = local
        self.quick = PowerShellSession(channel_factory, host=host)
        self.slow = PowerShellSession(channel_factory, host=host)
        self._facts: tuple[float, parsers.HostFacts] | None = None
        self._facts_lock = threading.Lock()

    def close(self) -> None:
        """Stop both PowerShell sessions."""
        self.quick.close()
        self.slow.close()

    def run(self, call: Call, *, cancel: CancelToken | None = None, interruptible: bool = True,
            slow: bool = False) -> Any:
        """Send one planned request on the quick (or the slow) session."""
        session = self.slow if slow else self.quick
        return session.request(call.op, call.args, timeout=call.timeout, cancel=cancel,
                               interruptible=interruptible, idempotent=call.op in READ_ONLY)

    def facts(self, *, fresh: bool = False) -> parsers.HostFacts:
        """host_info, cached for a minute."""
        with self._facts_lock:
            if fresh or self._facts is None or time.monotonic() - self._facts[0] > FACTS_TTL:
                self._facts = (time.monotonic(), parsers.host_facts(self.run(Call("host_info"))))
            return self._facts[1]

    def details(self, vm_id: str) -> dict[str, Any]:
        """get_vm: everything about one VM."""
        result: dict[str, Any] = self.run(Call("get_vm", {"Id": vm_id}))
        return result

    def require(self, operation: Operation, vm_id: str) -> None:
        """InvalidState unless the VM's power state allows `operation` (protocol.states)."""
        details = self.details(vm_id)
        states.require(operation, parsers.power_state(details.get("State")),
                       str(details.get("Name") or vm_id))


def machine_id(machine_id: str) -> str:
    """A VM id in canonical form; anything that is not a GUID names no machine."""
    try:
        return str(uuid.UUID(machine_id))
    except (ValueError, AttributeError, TypeError):
        raise MachineNotFound(f"No machine with id {machine_id}") from None
