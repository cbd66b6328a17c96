"""The inventory's VBoxManage calls per refresh on the real 7.2, beside the naive way (issue 14).

50 machines made by VirtualBox itself (createvm). The counts are exact and asserted; the times
are printed (`pytest -rP`) and quoted in docs/virtualbox.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from backends.virtualbox.backend import VirtualBoxBackend
from backends.virtualbox.parse import parse_vm_list
from tests.backends.virtualbox.real.realvbox import RealVBox

MACHINES = 50


def measure(backend: VirtualBoxBackend, action: Callable[[], object]) -> tuple[int, float]:
    """(VBoxManage processes started, seconds) of one action."""
    starts = backend.vbox.stats.process_starts
    started = time.perf_counter()
    action()
    return backend.vbox.stats.process_starts - starts, time.perf_counter() - started


def test_inventory_calls_per_refresh_on_the_real_tool(real_vbox: RealVBox,
                                                      real_backend: VirtualBoxBackend):
    for index in range(MACHINES):
        real_vbox.run("createvm", f"--name=vm {index:02}", "--ostype=Debian12_64", "--register")
    real_backend.os_types()  # asked once per backend, not per refresh

    def naive() -> None:
        vbox = real_backend.vbox
        for _, uuid in parse_vm_list(vbox.run(["list", "vms"]).stdout):
            vbox.run(["showvminfo", uuid, "--machinereadable"])

    rows = {"naive (list vms + showvminfo each)": measure(real_backend, naive),
            "first refresh": measure(real_backend, real_backend.list_machines),
            "next refresh": measure(real_backend, real_backend.list_machines)}
    changed = real_backend.list_machines()[7].id
    real_vbox.run("modifyvm", changed, "--memory=512")  # behind the backend's back
    rows["1 changed"] = measure(real_backend, real_backend.list_machines)
    rows["then"] = measure(real_backend, real_backend.list_machines)
    for label, (calls, seconds) in rows.items():
        print(f"{MACHINES} machines, {label}: {calls} calls, {seconds:.2f} s")
    assert [calls for calls, _ in rows.values()] == [1 + MACHINES, 2 + MACHINES, 2, 3, 2]
    assert {m.id: m.memory_mib for m in real_backend.list_machines()}[changed] == 512
