"""Conformance harnesses for VirtualBox: over the VBoxManage double, and over a real VirtualBox."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from desktopvm.model import (
    BootDevice,
    ControllerKind,
    CpuSpec,
    Disk,
    DiskFormat,
    FirmwareSpec,
    MachineSpec,
    MemorySpec,
    OpticalDrive,
    SerialMode,
    SerialPort,
    StorageController,
    defaults_for,
)
from desktopvm.testing.doubles.virtualbox.double import FakeVBox

if TYPE_CHECKING:  # imported lazily: tests/conformance/harness.py imports this module
    from backends.virtualbox.backend import VirtualBoxBackend
    from tests.conformance.harness import Harness
    from tests.conformance.live import LiveOptions

MIB = 1024**2


@contextmanager
def virtualbox_replay_harness(folder: Path, version: str = "7.0") -> Iterator[Harness]:
    """The real backend and door, with the VBoxManage double in place of VirtualBox."""
    from tests.conformance.harness import Harness

    fake = FakeVBox(folder / "fake-virtualbox", version)
    backend = fake.backend()

    def make_spec(name: str) -> MachineSpec:
        return defaults_for("other-linux", backend.capabilities(), name=name)

    yield Harness(backend, make_spec, wait_until_guest_ready=lambda machine_id: None,
                  state_timeout=10.0)


def live_guest_spec(name: str, iso: Path) -> MachineSpec:
    """The conformance test guest (desktopvm/testing/guest) on VirtualBox: BIOS, SATA, serial."""
    return MachineSpec(
        name=name, os="other-linux", firmware=FirmwareSpec(), cpu=CpuSpec(count=1),
        memory=MemorySpec(size_mib=256),
        storage=(StorageController(name="SATA", kind=ControllerKind.SATA, disks=(
            Disk(format=DiskFormat.VDI, size_bytes=64 * MIB),), optical=(
            OpticalDrive(iso=str(iso), port=1),)),),
        network=(), serial=(SerialPort(number=1, mode=SerialMode.SOCKET),),
        boot_order=(BootDevice.OPTICAL, BootDevice.DISK))


@contextmanager
def virtualbox_live_harness(folder: Path, options: LiveOptions, *,
                            backend: VirtualBoxBackend | None = None,
                            make_spec: Callable[[str], MachineSpec] | None = None
                            ) -> Iterator[Harness]:
    """A real VirtualBox on this machine (tests marked live_virtualbox, run with
    --live-virtualbox), guarded by tests/conformance/live.py: refused on a host with machines
    the tests did not make unless --live-prefix names theirs; afterwards only the machines the
    test made (named with the prefix) are removed.

    `backend` and `make_spec` replace the real VirtualBox and the test guest (the guard's own
    test points this harness at the VBoxManage double).
    """
    from backends.virtualbox.backend import VirtualBoxBackend
    from desktopvm.settings import Settings
    from desktopvm.testing.qemu_guest import READY, SerialReader
    from tests.conformance.harness import Harness
    from tests.conformance.live import live_session

    if backend is None:
        backend = VirtualBoxBackend(Settings())
        probe = backend.probe()
        if not probe.available:
            pytest.skip(f"no usable VirtualBox here: {probe.reason}")
    live = backend

    def guest_spec(name: str) -> MachineSpec:
        from desktopvm.testing.guest.build_iso import build_test_iso

        return live_guest_spec(name, build_test_iso())

    def wait_until_ready(machine_id: str) -> None:
        SerialReader(live, machine_id).wait_for(READY, timeout=180)

    harness = Harness(live, make_spec or guest_spec, wait_until_ready, state_timeout=120.0)
    with live_session(harness, options) as guarded:
        yield guarded
