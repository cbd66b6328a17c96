"""A set's spec fitted to a restore target (desktopvm.model.porting), blockers refused."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace

from desktopvm.model import Capabilities, ControllerKind, MachineSpec, SerialMode, SerialPort
from desktopvm.model.devices import NetworkAttachment
from desktopvm.model.porting import Fitting, fit
from desktopvm.model.problems import error
from desktopvm.protocol import InvalidSpec, Progress


@dataclass(frozen=True)
class Fitted:
    """The spec the target takes and the changes made to it, in words ("what: before → after")."""

    spec: MachineSpec
    changes: tuple[str, ...] = ()


# The names backends give in Capabilities.backend, by the kind a backup set records.
_DISPLAY_NAMES = {"qemu": "QEMU", "virtualbox": "VirtualBox", "hyperv": "Hyper-V",
                  "vmware": "VMware Workstation", "esxi": "VMware ESXi"}


# Targets whose own tool imports the OVF package a restore hands them (VBoxManage import):
# they place disks from the standard OVF items, which have no VirtIO bus, so a VirtIO disk
# comes in on SATA whatever was planned. Plan what the import will make.
_STANDARD_OVF_IMPORTERS = ("VirtualBox",)  # Capabilities.backend begins so ("VirtualBox 7.2")
_NO_VIRTIO_WHY = ("{backend}'s import reads no VirtIO bus from an OVF package, so the disk "
                  "comes in on SATA")


def fit_for_restore(spec: MachineSpec, target: Capabilities, *,
                    source: Capabilities | None = None,
                    networks: Mapping[NetworkAttachment, Collection[str]] | None = None,
                    ) -> Fitting:
    """porting.fit for a machine a restore will bring onto `target`: what its import can
    place (`source` and `networks` as fit takes them)."""
    caps = target
    if target.backend.startswith(_STANDARD_OVF_IMPORTERS) and \
            ControllerKind.VIRTIO in target.controller_kinds:
        caps = target.model_copy(update={
            "controller_kinds": target.controller_kinds - {ControllerKind.VIRTIO}})
    fitting = fit(spec, caps, source=source, networks=networks)
    if caps is target:
        return fitting
    lacking = f"{target.backend} has no VirtIO controller"
    why = _NO_VIRTIO_WHY.format(backend=target.backend)
    changes = tuple(replace(c, reason=why + c.reason[len(lacking):])
                    if c.reason.startswith(lacking) else c for c in fitting.changes)
    return replace(fitting, changes=changes)


def fit_to(spec: MachineSpec, target: Capabilities, *, source_kind: str = "") -> Fitted:
    """`spec` as `target` can take it; InvalidSpec naming each blocker when it cannot.

    Disks may move (buses, order: the boot disk first); each keeps its `path`, which is how
    `restore` tells them apart. `source_kind` is the backend the set was made on: a bus that
    is VirtIO on the target but was not there (VirtualBox's SCSI restored into QEMU, whose
    SCSI is virtio-scsi) then goes to SATA, so a guest without VirtIO drivers still boots.
    """
    # fit() asks the source only which of its buses are VirtIO devices, by its name; the
    # backend the set came from may not be reachable now, so its name is all it gets.
    source = Capabilities(backend=_DISPLAY_NAMES[source_kind]) \
        if source_kind in _DISPLAY_NAMES else None
    fitting = fit_for_restore(spec, target, source=source)
    if fitting.blockers:
        raise InvalidSpec([error("machine", blocker) for blocker in fitting.blockers])
    if len(fitting.spec.all_disks()) != len(spec.all_disks()):
        raise InvalidSpec([error("storage", f"{target.backend} would take "
                                 f"{len(fitting.spec.all_disks())} of the machine's "
                                 f"{len(spec.all_disks())} disks")])
    return Fitted(fitting.spec, tuple(f"{c.what}: {c.before} → {c.after} ({c.reason})"
                                      for c in fitting.changes))


#: Serial modes whose `path` names something on the host: a file written to, a socket or pipe.
_HOST_PATH_MODES = (SerialMode.FILE, SerialMode.SOCKET, SerialMode.PIPE)
_WHY = "a backup cannot choose files on this computer"


def without_host_paths(spec: MachineSpec, target: Capabilities, *,
                       own: tuple[SerialPort, ...] = ()) -> Fitted:
    """`spec` naming no file on this computer, each change in words.

    A set's spec.json is only as trustworthy as the folder it lies in (SHA256SUMS is no
    signature): a serial port writing to a file could overwrite any file of the user's, an
    ISO could show the guest any file. So a serial port's host path goes (a file becomes the
    machine's own console socket, or disconnected; a socket or pipe gets the backend's own
    name) and ISOs are not put back. `own` are the serial ports the machine restored over has
    now: those are the user's own choice and stay.
    """
    changes = []
    ports = []
    for port in spec.serial:
        if port.mode not in _HOST_PATH_MODES or not port.path or port in own:
            ports.append(port)
            continue
        label = f"serial port COM{port.number}"
        if port.mode is SerialMode.FILE:
            mode = SerialMode.SOCKET if SerialMode.SOCKET in target.serial_modes \
                else SerialMode.DISCONNECTED
            after = "the machine's console socket" if mode is SerialMode.SOCKET \
                else "disconnected"
            changes.append(f"{label} wrote to {port.path}: {after} — {_WHY}")
        else:
            mode = port.mode
            changes.append(f"{label} used {port.path}: the machine's own {mode.value} — {_WHY}")
        ports.append(port.model_copy(update={"mode": mode, "path": ""}))
    storage = []
    for controller in spec.storage:
        drives = []
        for drive in controller.optical:
            if drive.iso:
                changes.append(f"{controller.name or controller.kind.value} DVD drive (port "
                               f"{drive.port}) had {drive.iso}: left empty, attach it again "
                               f"in Settings — {_WHY}")
            drives.append(drive.model_copy(update={"iso": ""}))
        storage.append(controller.model_copy(update={"optical": tuple(drives)}))
    safe = spec.model_copy(update={"serial": tuple(ports), "storage": tuple(storage)})
    return Fitted(safe, tuple(changes))


def fitted_for(spec: MachineSpec, target: Capabilities, target_name: str, *,
               source_kind: str = "", progress: Progress) -> MachineSpec:
    """`spec` fitted to the target (fit_to) and naming no file on this computer
    (without_host_paths), each change said through `progress` as it is made."""
    fitting = fit_to(spec, target, source_kind=source_kind)
    for change in fitting.changes:
        progress(None, f"Changed for {target_name}: {change}")
    safe = without_host_paths(fitting.spec, target)
    for change in safe.changes:
        progress(None, f"Changed: {change}")
    return safe.spec
