"""Property: for any valid machine and any backend, `fit` gives a spec the backend's own
validation accepts — or says why it cannot (blockers) — and fitting it again changes nothing."""

from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from desktopvm.model import (
    BootDevice,
    ControllerKind,
    CpuSpec,
    Disk,
    DiskFormat,
    DisplaySpec,
    DynamicMemory,
    Firmware,
    FirmwareSpec,
    MachineSpec,
    MemorySpec,
    NetworkAdapter,
    NetworkAttachment,
    NicModel,
    OpticalDrive,
    SecureBootTemplate,
    SerialMode,
    SerialPort,
    StorageController,
    UsbSpec,
    UsbVersion,
    catalog,
    errors,
    generic_capabilities,
    validate,
)
from desktopvm.model.porting import fit
from tests.model.test_porting_golden import TARGETS

GIB = 1024**3
GENERIC = generic_capabilities()


@st.composite
def controllers(draw: st.DrawFn) -> tuple[StorageController, ...]:
    result = []
    for index in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(list(ControllerKind)))
        per_port = 2 if kind is ControllerKind.IDE else 1
        ports = 2 if kind is ControllerKind.IDE else 12
        slots = draw(st.lists(st.tuples(st.integers(0, ports - 1), st.integers(0, per_port - 1)),
                              unique=True, max_size=4))
        removable = kind not in (ControllerKind.NVME, ControllerKind.VIRTIO)
        optical_count = draw(st.integers(0, len(slots))) if removable else 0
        disks = tuple(Disk(format=draw(st.sampled_from(list(DiskFormat))),
                           size_bytes=draw(st.sampled_from([GIB, 64 * GIB, 3 * 1024 * GIB])),
                           port=p, device=d, path=f"/vms/c{index}/{p}-{d}.img", existing=True)
                      for p, d in slots[optical_count:])
        optical = tuple(OpticalDrive(port=p, device=d) for p, d in slots[:optical_count])
        result.append(StorageController(name=f"c{index}", kind=kind, disks=disks,
                                        optical=optical))
    return tuple(result)


@st.composite
def adapters(draw: st.DrawFn) -> tuple[NetworkAdapter, ...]:
    result = []
    for _ in range(draw(st.integers(0, 10))):
        attachment = draw(st.sampled_from(list(NetworkAttachment)))
        named = attachment in (NetworkAttachment.BRIDGED, NetworkAttachment.INTERNAL,
                               NetworkAttachment.SWITCH, NetworkAttachment.HOST_ONLY)
        result.append(NetworkAdapter(attachment=attachment, network="net0" if named else "",
                                     model=draw(st.none() | st.sampled_from(list(NicModel)))))
    return tuple(result)


@st.composite
def machines(draw: st.DrawFn) -> MachineSpec:
    uefi = draw(st.booleans())
    secure = uefi and draw(st.booleans())
    size = draw(st.integers(4, 65536)) * 2
    dynamic = draw(st.none() | st.just(DynamicMemory(minimum_mib=max(4, size // 2),
                                                     maximum_mib=size * 2)))
    numbers = draw(st.lists(st.integers(1, 4), unique=True, max_size=4))
    spec = MachineSpec(
        name=draw(st.sampled_from(["web", "a/b%c", "x" * 150])),
        os=draw(st.sampled_from(catalog().ids())),
        firmware=FirmwareSpec(kind=Firmware.UEFI if uefi else Firmware.BIOS,
                              secure_boot=secure, tpm=draw(st.booleans()),
                              secure_boot_template=draw(st.none() | st.sampled_from(
                                  list(SecureBootTemplate))) if secure else None),
        cpu=CpuSpec(count=draw(st.integers(1, 64)), nested_virtualization=draw(st.booleans())),
        memory=MemorySpec(size_mib=size, dynamic=dynamic),
        storage=draw(controllers()),
        network=draw(adapters()),
        display=DisplaySpec(video_memory_mib=draw(st.integers(1, 2048)),
                            monitors=draw(st.integers(1, 16))),
        usb=UsbSpec(version=draw(st.none() | st.sampled_from(list(UsbVersion)))),
        serial=tuple(SerialPort(number=n, mode=draw(st.sampled_from(list(SerialMode))))
                     for n in numbers),
        boot_order=tuple(draw(st.permutations(list(BootDevice)))[:draw(st.integers(0, 3))]),
    )
    assume(not errors(validate(spec, GENERIC, check_paths=False)))
    return spec


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.filter_too_much])
@given(spec=machines(), target=st.sampled_from(sorted(TARGETS)),
       source=st.none() | st.sampled_from(sorted(TARGETS)))
def test_fit_always_validates_on_the_target_or_says_why_not(spec: MachineSpec, target: str,
                                                            source: str | None):
    caps = TARGETS[target]
    fitting = fit(spec, caps, source=TARGETS[source] if source else None)
    assert len(fitting.spec.all_disks()) == len(spec.all_disks()) or fitting.blockers
    if fitting.blockers:
        return
    problems = errors(validate(fitting.spec, caps, check_paths=False))
    assert problems == [], (problems, fitting.changes)
    again = fit(fitting.spec, caps)
    assert (again.changes, again.spec) == ((), fitting.spec)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.filter_too_much])
@given(spec=machines(), generation=st.sampled_from(["hyperv-gen1", "hyperv-gen2"]))
def test_a_spec_fitted_to_hyperv_passes_hypervs_own_placement_rules(spec: MachineSpec,
                                                                    generation: str):
    from backends.hyperv import placement

    # Nested virtualisation with dynamic memory exists on no source: only Hyper-V has dynamic
    # memory, and it refuses the two together.
    assume(not (spec.cpu.nested_virtualization and spec.memory.dynamic))
    fitting = fit(spec, TARGETS[generation])
    assume(not fitting.blockers)
    assert [p for p in placement.problems(fitting.spec) if p.severity.value == "error"] == []
