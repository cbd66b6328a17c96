"""What the host can make (EnvironmentBrowser.QueryConfigOptionEx), through the real SOAP
exchange with vcsim: the facts carry it, creates use its guest ids, its firmware and limits
rule, and it costs one call per connection."""

from __future__ import annotations

import logging
import ssl
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from pyVim.connect import Disconnect, SmartConnect
from pyVmomi.SoapAdapter import SoapStubAdapter

from backends.esxi import inventory, open_remote, translate
from backends.esxi.backend import EsxiBackend
from backends.esxi.session import vim
from desktopvm.model import MachineSpec
from desktopvm.model.devices import ControllerKind, Disk, DiskFormat, StorageController
from desktopvm.model.machine import CpuSpec, Firmware, FirmwareSpec, MemorySpec, UsbSpec
from desktopvm.protocol import CancelToken, InvalidSpec, no_progress
from desktopvm.testing.doubles.esxi import sim
from tests.backends.esxi.conftest import vcsim_call

pytestmark = pytest.mark.vcsim

#: An older host's answer (shaped like ESXi 5.5's: hardware version 10, no NVMe), sent by
#: main.go instead of the simulator's own: Ubuntu on BIOS only, at most one CPU (numCPU lists
#: the default, then the acceptable counts; vcsim's host has two threads), 1 GiB at most; no
#: debian id for creating, so Debian gets the generic Linux id.
OLD_HOST = """<version>vmx-10</version><description>ESXi 5.5 virtual machine</description>
<guestOSDescriptor><id>ubuntu64Guest</id><family>linuxGuest</family>
<fullName>Ubuntu Linux (64-bit)</fullName><supportedMaxCPUs>2</supportedMaxCPUs>
<supportedMaxMemMB>1024</supportedMaxMemMB>
<recommendedDiskController>VirtualLsiLogicController</recommendedDiskController>
<recommendedEthernetCard>VirtualVmxnet3</recommendedEthernetCard>
<supportedFirmware>bios</supportedFirmware><recommendedFirmware>bios</recommendedFirmware>
<supportedForCreate>true</supportedForCreate></guestOSDescriptor>
<guestOSDescriptor><id>otherLinux64Guest</id><family>linuxGuest</family>
<fullName>Other Linux (64-bit)</fullName><supportedFirmware>bios</supportedFirmware>
<supportedFirmware>efi</supportedFirmware><supportedForCreate>true</supportedForCreate>
</guestOSDescriptor>
<guestOSDescriptor><id>debian6_64Guest</id><family>linuxGuest</family>
<fullName>Debian GNU/Linux 6 (64-bit)</fullName><supportedForCreate>false</supportedForCreate>
</guestOSDescriptor>
<hardwareOptions><hwVersion>10</hwVersion><numCPU>1</numCPU><numCPU>1</numCPU>
<memoryMB><min>4</min><max>1024</max><defaultValue>512</defaultValue></memoryMB>
</hardwareOptions>"""


def spec(name: str, os_id: str, firmware: Firmware = Firmware.BIOS) -> MachineSpec:
    return MachineSpec(
        name=name, os=os_id, firmware=FirmwareSpec(kind=firmware),
        cpu=CpuSpec(count=1), memory=MemorySpec(size_mib=512),
        storage=(StorageController(kind=ControllerKind.SCSI, disks=(
            Disk(format=DiskFormat.VMDK, size_bytes=2**30),)),),
        usb=UsbSpec(version=None))


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every SOAP method this process sends, counted by name."""
    counted: Counter[str] = Counter()
    original = SoapStubAdapter.InvokeMethod

    def counting(self: SoapStubAdapter, mo: object, info: object, args: object,
                 outerStub: object = None) -> object:  # noqa: N803 (pyVmomi's name)
        counted[getattr(info, "wsdlName", "?")] += 1
        return original(self, mo, info, args, outerStub)

    monkeypatch.setattr(SoapStubAdapter, "InvokeMethod", counting)
    return counted


@pytest.fixture
def old_host(esx: sim.Sim) -> Iterator[EsxiBackend]:
    """The ESX simulator answering QueryConfigOptionEx as OLD_HOST, through a new backend."""
    vcsim_call(esx, "/desktopvm/environment", OLD_HOST.encode())
    backend = open_remote(esx.host(), password=sim.PASSWORD)
    try:
        yield backend
    finally:
        backend.close()
        vcsim_call(esx, "/desktopvm/environment", b"")


def made(backend: EsxiBackend, machine: MachineSpec, notes: list[str]) -> tuple[str, str]:
    """Create `machine` (its progress texts into `notes`); (its id, the guest id it got)."""
    machine_id = backend.create(machine, progress=lambda _, text: notes.append(text),
                                cancel=CancelToken())
    guest = inventory.read(backend.session, machine_id, ["config.guestId"])["config.guestId"]
    return machine_id, str(guest)


def direct_option(server: sim.Sim) -> Any:
    """QueryConfigOptionEx asked by plain pyVmomi in a session of its own, on the compute
    resource and host the facts chose."""
    admin = SmartConnect(host="127.0.0.1", port=server.port, user=sim.USER, pwd=sim.PASSWORD,
                         sslContext=ssl.create_default_context(cafile=str(server.tls.ca)))
    try:
        content = admin.RetrieveContent()
        view = content.viewManager.CreateContainerView(content.rootFolder,
                                                        [vim.ComputeResource], True)
        return [(r._moId, r.host[0]._moId,
                 r.environmentBrowser.QueryConfigOptionEx(
                     vim.EnvironmentBrowser.ConfigOptionQuerySpec(host=r.host[0])))
                for r in view.view]
    finally:
        Disconnect(admin)


@pytest.mark.parametrize("kind", ["esx", "vpx"])
def test_the_facts_carry_the_hosts_hardware_version_and_guest_ids(
        kind: str, request: pytest.FixtureRequest) -> None:
    server: sim.Sim = request.getfixturevalue(kind)
    backend: EsxiBackend = request.getfixturevalue(f"{kind}_backend")
    facts = backend.facts()
    options = {host: option for _, host, option in direct_option(server)}
    option = options[facts.host._moId]
    environment = facts.environment
    assert environment.read and environment.version == option.version == "vmx-13"
    assert list(environment.guests) == [d.id for d in option.guestOSDescriptor]
    assert "ubuntu64Guest" in environment.guests and "debian12_64Guest" not in environment.guests


def test_a_create_uses_the_tables_guest_id_when_the_host_lists_it(
        esx_backend: EsxiBackend) -> None:
    notes: list[str] = []
    machine_id, guest = made(esx_backend, spec("dvmtest-env-listed", "ubuntu24.04"), notes)
    try:
        assert guest == "ubuntu64Guest"
        assert not any("does not know" in n for n in notes)
    finally:
        esx_backend.delete(machine_id, delete_disks=True, progress=no_progress,
                           cancel=CancelToken())


def test_an_id_the_host_does_not_list_becomes_its_nearest_and_is_said(
        esx_backend: EsxiBackend, caplog: pytest.LogCaptureFixture) -> None:
    # vcsim 0.24 lists Debian up to debian10_64Guest (ESXi 6.7's list): debian12 is not there.
    notes: list[str] = []
    with caplog.at_level(logging.WARNING, logger="backends.esxi.backend"):
        machine_id, guest = made(esx_backend, spec("dvmtest-env-nearest", "debian12"), notes)
    try:
        assert guest == "debian10_64Guest"
        said = [n for n in notes if "does not know the guest OS debian12_64Guest" in n]
        assert said and "using debian10_64Guest" in said[0], notes
        assert any("using debian10_64Guest" in r.getMessage() for r in caplog.records)
        # It still reads back as what it was made as.
        assert esx_backend.get_machine(machine_id).spec.os == "debian12"
    finally:
        esx_backend.delete(machine_id, delete_disks=True, progress=no_progress,
                           cancel=CancelToken())


def test_an_older_host_without_the_kind_gets_the_generic_id(old_host: EsxiBackend) -> None:
    notes: list[str] = []
    # debian6_64Guest is listed but not for creating: the generic Linux id it is.
    machine_id, guest = made(old_host, spec("dvmtest-env-generic", "debian12"), notes)
    try:
        assert guest == "otherLinux64Guest"
        assert "VMware ESXi 6.5.0 does not know the guest OS debian12_64Guest; using " \
            "otherLinux64Guest" in notes, notes
        assert old_host.get_machine(machine_id).spec.os == "debian12"
    finally:
        old_host.delete(machine_id, delete_disks=True, progress=no_progress,
                        cancel=CancelToken())


def test_a_firmware_the_host_does_not_run_the_guest_with_is_refused_first(
        old_host: EsxiBackend, calls: Counter[str]) -> None:
    name = "dvmtest-env-efi"
    with pytest.raises(InvalidSpec) as refused:
        old_host.create(spec(name, "ubuntu24.04", Firmware.UEFI), progress=no_progress,
                        cancel=CancelToken())
    assert [p.field for p in refused.value.problems] == ["firmware.kind"]
    assert "ubuntu64Guest with BIOS firmware only" in refused.value.summary
    assert calls["CreateVM_Task"] == 0
    assert all(m.name != name for m in old_host.list_machines())
    # The same machine on BIOS is made.
    machine_id, guest = made(old_host, spec(name, "ubuntu24.04"), [])
    old_host.delete(machine_id, delete_disks=True, progress=no_progress, cancel=CancelToken())
    assert guest == "ubuntu64Guest"


def test_vcsims_own_answer_leaves_the_hosts_size(esx_backend: EsxiBackend) -> None:
    # Hardware 13 (128 CPUs, NVMe) and no hardwareOptions: the host's own threads and memory.
    facts = esx_backend.facts()
    assert facts.environment.version == "vmx-13" and not facts.environment.max_cpus
    ours = esx_backend.capabilities()
    assert (ours.max_cpus, ours.max_memory_mib) == (facts.cpus, facts.memory_mib) == (2, 4095)
    assert ControllerKind.NVME in ours.controller_kinds


def test_the_hosts_limits_and_hardware_version_flow_to_capabilities(
        old_host: EsxiBackend) -> None:
    assert (old_host.facts().cpus, old_host.facts().memory_mib) == (2, 4095)
    older = old_host.capabilities()
    assert (older.max_cpus, older.max_memory_mib) == (1, 1024)
    assert ControllerKind.NVME not in older.controller_kinds
    assert ControllerKind.SATA in older.controller_kinds
    guest = old_host.facts().environment.guests["ubuntu64Guest"]
    assert (guest.max_cpus, guest.max_memory_mib, guest.disk_controller, guest.nic) == (
        2, 1024, "VirtualLsiLogicController", "VirtualVmxnet3")
    too_big = spec("dvmtest-env-big", "ubuntu24.04").model_copy(
        update={"cpu": CpuSpec(count=2), "memory": MemorySpec(size_mib=2048)})
    with pytest.raises(InvalidSpec) as refused:
        old_host.check(too_big)
    assert {p.field for p in refused.value.problems} >= {"cpu.count", "memory.size_mib"}


def test_one_query_per_connection(esx: sim.Sim, calls: Counter[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    backend = open_remote(esx.host(), password=sim.PASSWORD)
    try:
        backend.capabilities()
        backend.host_info()  # facts read afresh
        monkeypatch.setattr("backends.esxi.backend.FACTS_SECONDS", 0.0)  # and again
        backend.capabilities()
        backend.list_datastores()
        assert calls["QueryConfigOptionEx"] == 1, calls
        assert calls["RetrievePropertiesEx"] >= 4
    finally:
        backend.close()


def test_an_os_change_to_an_id_the_host_does_not_list_is_made_with_the_nearest(
        esx_backend: EsxiBackend) -> None:
    # vcsim's ReconfigVM_Task refuses a guest id it does not list (InvalidArgument
    # configSpec.guestId), as the host would: the edit sends the nearest one instead.
    notes: list[str] = []
    machine_id, _ = made(esx_backend, spec("dvmtest-env-edit", "ubuntu24.04"), [])
    try:
        old = esx_backend.get_machine(machine_id).spec
        esx_backend.update(machine_id, old, old.model_copy(update={"os": "debian12"}),
                           progress=lambda _, text: notes.append(text), cancel=CancelToken())
        guest = inventory.read(esx_backend.session, machine_id, ["config.guestId"])
        assert guest["config.guestId"] == "debian10_64Guest"
        assert any("using debian10_64Guest" in n for n in notes), notes
        assert esx_backend.get_machine(machine_id).spec.os == "debian12"
    finally:
        esx_backend.delete(machine_id, delete_disks=True, progress=no_progress,
                           cancel=CancelToken())


@pytest.mark.parametrize(("wanted", "listed", "family", "used"), [
    ("debian12_64Guest", ["debian10_64Guest", "debian11_64Guest", "debian9_64Guest"], "linux",
     "debian11_64Guest"),
    ("ubuntu64Guest", ["otherLinux64Guest", "ubuntuGuest", "otherGuest64"], "linux",
     "otherLinux64Guest"),  # the 32-bit Ubuntu id is not the same kind
    ("windows2022srvNext_64Guest", ["windows9_64Guest", "windows2019srv_64Guest",
                                    "windows2019srvNext_64Guest"], "windows",
     "windows2019srvNext_64Guest"),
    ("windows11_64Guest", ["windows2019srv_64Guest", "windows9_64Guest", "windows7_64Guest"],
     "windows", "windows9_64Guest"),  # a desktop Windows, not a server one
    ("freebsd14_64Guest", ["freebsd12_64Guest", "freebsd13_64Guest"], "bsd",
     "freebsd13_64Guest"),
    ("debian9_64Guest", ["debian11_64Guest", "debian10_64Guest"], "linux",
     "debian10_64Guest"),  # only newer ones: the oldest of them
    ("almalinux_64Guest", ["rhel8_64Guest", "otherGuest64"], "linux", "otherGuest64"),
    ("ubuntu64Guest", ["ubuntu64Guest"], "linux", "ubuntu64Guest"),
    ("ubuntu64Guest", [], "linux", "ubuntu64Guest"),  # the host could not be asked
    ("ubuntu64Guest", ["dosGuest"], "linux", "ubuntu64Guest"),  # nothing fits: its own words
])
def test_the_nearest_guest_id(wanted: str, listed: list[str], family: str, used: str) -> None:
    assert translate.nearest_guest_id(wanted, listed, family) == used


def test_a_stand_in_guest_id_reads_back_as_the_os_it_was_made_as() -> None:
    assert translate.os_of("debian10_64Guest", kept="debian12") == "debian12"
    assert translate.os_of("otherLinux64Guest", kept="almalinux9") == "almalinux9"
    # Changed in the host's client to another kind: the guest id wins, as before.
    assert translate.os_of("windows9_64Guest", kept="debian12") == "windows10"
    # Made elsewhere: unknown ids read back as before.
    assert translate.os_of("debian10_64Guest") == "other"
