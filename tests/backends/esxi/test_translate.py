"""The pure parts: guest ids against the OS catalog, key codes, ConfigSpecs, a task's cancel
(no host needed)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from backends.esxi import keys, plans, tasks, translate
from backends.esxi.session import Session, vim, vmodl
from desktopvm.model import MachineSpec
from desktopvm.model.catalog import catalog
from desktopvm.model.devices import ControllerKind, Disk, DiskFormat, StorageController
from desktopvm.model.machine import Firmware, FirmwareSpec
from desktopvm.protocol import AuthenticationFailed, CancelToken, OperationCancelled
from desktopvm.protocol.keys import KEYS, UnknownKey
from desktopvm.testing.doubles.esxi import sim

KNOWN_GUEST_IDS = set(vim.vm.GuestOsDescriptor.GuestOsIdentifier.values)


def test_every_catalog_os_has_a_guest_id_pyvmomi_knows() -> None:
    for os_id in catalog().ids():
        assert translate.GUEST_IDS[os_id] in KNOWN_GUEST_IDS, os_id


def test_guest_ids_read_back_as_the_os_they_were_made_as() -> None:
    for os_id in catalog().ids():
        assert translate.os_of(translate.guest_id_of(os_id), kept=os_id) == os_id
    # A machine made elsewhere: the first catalog entry with that guest id, or a family.
    assert translate.os_of("windows11_64Guest") == "windows11"
    assert translate.os_of("sles15_64Guest") == "other-linux"
    assert translate.os_of("darwin21_64Guest") == "other"
    # A kept id that no longer agrees with the guest id (changed in the host's client) loses.
    assert translate.os_of("windows11_64Guest", kept="debian12") == "windows11"


def test_every_shared_key_but_sysrq_has_a_usb_code() -> None:
    assert set(KEYS) - keys.SENDABLE == {"sysrq"}
    assert len(set(keys.HID.values())) == len(keys.HID)  # no two keys share a code


def test_a_combination_holds_its_modifiers() -> None:
    event = keys.combo_event("Ctrl+Alt+Delete")
    assert event.usbHidCode == (0x4C << 16) | 7
    assert event.modifiers.leftControl and event.modifiers.leftAlt
    assert not event.modifiers.leftShift
    with pytest.raises(UnknownKey, match="cannot hold"):
        keys.combo_event("a-b")


def test_a_new_machine_is_thin_on_the_datastore_with_its_os_kept() -> None:
    spec = MachineSpec(name="x", os="windows11",
                       firmware=FirmwareSpec(kind=Firmware.UEFI, secure_boot=True),
                       storage=(StorageController(kind=ControllerKind.SCSI, disks=(
                           Disk(format=DiskFormat.VMDK, size_bytes=3 * 1024 + 1),)),))
    config = plans.create_spec(spec, "ds1", {})
    assert config.files.vmPathName == "[ds1]"
    assert config.guestId == "windows11_64Guest" and config.firmware == "efi"
    assert config.bootOptions.efiSecureBootEnabled
    assert [(o.key, o.value) for o in config.extraConfig] == [("desktopvm.os", "windows11")]
    controller, disk = (change.device for change in config.deviceChange[:2])
    # Windows gets LSI Logic SAS (its installer has the driver); others get PVSCSI.
    assert isinstance(controller, vim.vm.device.VirtualLsiLogicSASController)
    assert disk.controllerKey == controller.key < 0
    assert disk.backing.thinProvisioned and disk.backing.fileName == "[ds1]"
    assert disk.capacityInKB == 4  # rounded up, never down
    assert config.deviceChange[1].fileOperation == "create"


def test_an_update_of_the_notes_touches_nothing_else() -> None:
    old = MachineSpec(name="x")
    config = plans.update_spec(old, old.model_copy(update={"notes": "n"}), {"notes"},
                               devices=translate.Devices(), datastore="ds1", networks={})
    assert config.annotation == "n"
    assert config.numCPUs is None and config.memoryMB is None and config.name is None
    assert not config.deviceChange


def test_without_the_simulator_the_tests_skip_saying_how_to_build_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKTOPVM_VCSIM_CACHE", str(tmp_path))
    reason = sim.missing_reason()
    assert ".ci/vcsim" in reason and "golang-github-vmware-govmomi-dev" in reason
    assert str(tmp_path) in reason
    built = sim.binary()
    built.parent.mkdir(parents=True)
    built.write_bytes(b"")
    assert sim.missing_reason() == ""


class RunningTask:
    """A stand-in for a host whose task runs until CancelTask, then ends in RequestCanceled
    (the documented vSphere behaviour; vcsim's tasks end before they can be cancelled)."""

    def __init__(self) -> None:
        self.cancelled = False
        self.reads = 0

    def properties(self, obj: object, paths: object) -> dict[str, object]:
        self.reads += 1
        if not self.cancelled:
            return {"info.state": vim.TaskInfo.State.running, "info.progress": 40}
        return {"info.state": vim.TaskInfo.State.error,
                "info.error": vmodl.fault.RequestCanceled(msg="The task was canceled by a user.")}

    def run(self, action: Callable[[object], object], doing: str = "") -> object:
        return action(self)

    @property
    def _stub(self) -> object:
        return None


@pytest.mark.timeout(30)  # without CancelTask the stand-in's task would run for ever
def test_cancel_asks_the_host_to_cancel_the_running_task(
        monkeypatch: pytest.MonkeyPatch) -> None:
    host = RunningTask()

    class Task:
        _moId = "task-1"  # noqa: N815  (pyVmomi's attribute)

        def __init__(self, moid: str, stub: object) -> None:
            pass

        def CancelTask(self) -> None:
            host.cancelled = True

    monkeypatch.setattr(Session, "bind", staticmethod(lambda si, kind, moid: Task(moid, None)))
    token = CancelToken()
    seen: list[float | None] = []

    def report(fraction: float | None, stage: str) -> None:
        seen.append(fraction)
        if fraction == 0.4:
            token.cancel()

    with pytest.raises(OperationCancelled, match="cancelled"):
        tasks.wait(host, Task("task-1", None), progress=report,  # type: ignore[arg-type]
                   cancel=token, stage="Copying")
    assert host.cancelled and seen[0] == 0.4


class FailedTask:
    """A stand-in for a host whose task ends in the given fault (vcsim 0.24 checks no
    privileges, so it never sends NoPermission)."""

    def __init__(self, fault: vmodl.MethodFault) -> None:
        self.fault = fault

    def properties(self, obj: object, paths: object) -> dict[str, object]:
        return {"info.state": vim.TaskInfo.State.error, "info.error": self.fault}


def _failed_with(fault: vmodl.MethodFault) -> AuthenticationFailed:
    with pytest.raises(AuthenticationFailed) as caught:
        tasks.wait(FailedTask(fault), object(), progress=lambda *_: None,  # type: ignore[arg-type]
                   cancel=CancelToken(), stage="Taking the snapshot s")
    return caught.value


def test_no_permission_names_the_privilege_the_fault_gives() -> None:
    denied = "Permission to perform this operation was denied."
    error = _failed_with(vim.fault.NoPermission(
        msg=denied, privilegeId="VirtualMachine.State.CreateSnapshot",
        object=vim.VirtualMachine("vm-42")))
    assert str(error).startswith("Taking the snapshot s: the user lacks the privilege "
                                 "VirtualMachine.State.CreateSnapshot on vm-42")
    assert error.details == f"vim.fault.NoPermission: {denied}"  # the host's own words kept
    # vSphere 7 and later list every missing privilege, with the object it is missing on.
    listed = _failed_with(vim.fault.NoPermission(msg=denied, missingPrivileges=[
        vim.fault.NoPermission.EntityPrivileges(
            entity=vim.Datastore("datastore-1"),
            privilegeIds=["Datastore.AllocateSpace", "Datastore.Browse"])]))
    assert "Datastore.AllocateSpace on datastore-1, Datastore.Browse on datastore-1" in str(listed)
    # A fault that names no privilege says so instead of guessing one.
    assert "did not say which" in str(_failed_with(vim.fault.NoPermission(msg=denied)))


def test_not_authenticated_says_the_session_is_no_longer_accepted() -> None:
    error = _failed_with(vim.fault.NotAuthenticated(msg="The session is not authenticated."))
    assert "no longer accepts this session" in str(error)
    assert "privilege" not in str(error)
