"""What plan_copy adds to the fitting (snapshots, the TPM's keys, the target host's networks),
and what copy_to / move_to refuse before they do anything."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from desktopvm.model import (
    Capabilities,
    ControllerKind,
    Disk,
    DiskFormat,
    Firmware,
    FirmwareSpec,
    MachineSpec,
    NetworkAdapter,
    NetworkAttachment,
    StorageController,
    UsbSpec,
)
from desktopvm.protocol import (
    BackendError,
    CancelToken,
    HostInfo,
    HostNetwork,
    InvalidSpec,
    InvalidState,
    MachineInfo,
    MachineSummary,
    PowerState,
    Snapshot,
    no_progress,
)
from desktopvm.testing.doubles.memory_backend import MemoryBackend
from desktopvm.transfer import copy_to, move_to, plan_copy
from tests.model.test_porting_golden import TARGETS

GIB = 1024**3


@dataclass
class Side:
    """Just what planning asks of a backend: a machine, capabilities and the host's networks."""

    caps: Capabilities
    spec: MachineSpec = field(default_factory=lambda: MachineSpec(name="m"))
    snapshots: tuple[Snapshot, ...] = ()
    networks: tuple[HostNetwork, ...] | None = ()
    name: str = "side"
    display_name: str = "Side"
    asked: list[str] = field(default_factory=list)

    def get_machine(self, machine_id: str) -> MachineInfo:
        self.asked.append("get_machine")
        return MachineInfo(MachineSummary(self.name, machine_id, self.spec.name, PowerState.OFF),
                           self.spec, snapshots=self.snapshots)

    def capabilities(self) -> Capabilities:
        return self.caps

    def host_info(self) -> HostInfo:
        if self.networks is None:
            raise BackendError("the host did not answer")
        return HostInfo(hostname="h", cpus=8, memory_mib=16384, networks=self.networks)


def plan(source: Side, target: Side) -> dict[str, tuple[str, str, str]]:
    fitting = plan_copy(source, "id", target)  # type: ignore[arg-type]
    return {c.what: (c.before, c.after, c.reason) for c in fitting.changes}


def test_the_report_says_snapshots_stay_behind():
    snapshot = Snapshot(id="s1", name="before update")
    got = plan(Side(TARGETS["qemu"], snapshots=(snapshot,)), Side(TARGETS["qemu"]))
    assert got["snapshots"][:2] == ("1", "none")
    assert "a move deletes them with it" in got["snapshots"][2]


@dataclass
class FirmwareSide(Side):
    """A side that captures the firmware state and puts it back (as QEMU does)."""

    def capture(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("planning captures nothing")

    def forget_capture_points(self, machine_id: str) -> None:
        raise AssertionError("planning forgets nothing")

    def put_firmware_state(self, *args: object, **kwargs: object) -> tuple[str, ...]:
        raise AssertionError("planning puts nothing")


WINDOWS = MachineSpec(name="w", os="windows11", firmware=FirmwareSpec(kind=Firmware.UEFI,
                                                                      tpm=True))


def test_the_report_says_the_uefi_variables_and_tpm_state_stay_behind():
    for source, why in ((Side(TARGETS["qemu"], spec=WINDOWS, display_name="Plain"),
                         "Plain does not back them up"),
                        (FirmwareSide(TARGETS["qemu"], spec=WINDOWS),
                         "VirtualBox cannot take them")):
        got = plan(source, Side(TARGETS["virtualbox"], display_name="VirtualBox"))
        line = got["UEFI variables and TPM state"]
        assert line[1] == "stay behind"
        assert why in line[2] and "BitLocker" in line[2] and "UEFI shell" in line[2]


def test_between_backends_that_keep_the_firmware_state_the_report_has_no_such_line():
    got = plan(FirmwareSide(TARGETS["qemu"], spec=WINDOWS), FirmwareSide(TARGETS["qemu"]))
    assert not [what for what in got if "UEFI variables" in what or "TPM" in what]
    bios = MachineSpec(name="b", os="windows11")  # nothing to keep: no line either way
    assert not [w for w in plan(Side(TARGETS["qemu"], spec=bios), Side(TARGETS["virtualbox"]))
                if "UEFI variables" in w]


def test_networks_the_target_host_lacks_are_disconnected_and_a_silent_host_changes_nothing():
    spec = MachineSpec(name="n", network=(
        NetworkAdapter(attachment=NetworkAttachment.BRIDGED, network="eth9"),
        NetworkAdapter(attachment=NetworkAttachment.BRIDGED, network="eth0")))
    host = (HostNetwork("nat", ""), HostNetwork("bridged", "eth0"))
    got = plan(Side(TARGETS["virtualbox"], spec=spec), Side(TARGETS["virtualbox"],
                                                           networks=host))
    assert got["network adapter 1"][:2] == ("bridged 'eth9'", "not connected")
    assert "network adapter 2" not in got
    silent = plan(Side(TARGETS["virtualbox"], spec=spec), Side(TARGETS["virtualbox"],
                                                              networks=None))
    assert "network adapter 1" not in silent


def test_a_blocked_copy_does_nothing(tmp_path: Path):
    huge = MachineSpec(name="big", storage=(StorageController(kind=ControllerKind.SATA, disks=(
        Disk(format=DiskFormat.QCOW2, size_bytes=3 * 1024 * GIB, existing=True),)),))
    source = Side(TARGETS["qemu"], spec=huge)
    with pytest.raises(InvalidSpec, match=r"Disk 1 is 3\.0 TiB"):
        copy_to(source, "id", Side(TARGETS["virtualbox"]), name="x",  # type: ignore[arg-type]
                progress=no_progress, cancel=CancelToken(), scratch=tmp_path / "scratch")
    assert not (tmp_path / "scratch").exists()


def test_a_running_machine_is_not_moved(tmp_path: Path):
    source = MemoryBackend(tmp_path / "source")
    target = MemoryBackend(tmp_path / "target")
    machine = source.create(MachineSpec(name="busy", usb=UsbSpec(version=None)),
                            progress=no_progress,
                            cancel=CancelToken())
    source.start(machine)
    with pytest.raises(InvalidState, match="shut it down before moving it"):
        move_to(source, machine, target, name="moved", progress=no_progress,
                cancel=CancelToken(), scratch=tmp_path / "scratch")
    assert [m.id for m in source.list_machines()] == [machine]
    assert target.list_machines() == [] and not (tmp_path / "scratch").exists()
