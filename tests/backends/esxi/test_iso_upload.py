"""A CD/DVD naming an ISO on this computer: uploaded to the datastore (HTTP PUT to /folder)
on vcsim, reused when there, deleted when cancelled, refused when missing."""

from __future__ import annotations

import contextlib
import io
import json
import socket
import ssl
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from backends.esxi import datastores
from backends.esxi.backend import EsxiBackend
from backends.esxi.session import Session
from desktopvm.connections import HostConfig
from desktopvm.model import MachineSpec
from desktopvm.model.devices import (
    ControllerKind,
    Disk,
    DiskFormat,
    NetworkAdapter,
    NetworkAttachment,
    OpticalDrive,
    StorageController,
)
from desktopvm.model.machine import UsbSpec
from desktopvm.protocol import (
    CancelToken,
    CommandFailed,
    InvalidSpec,
    OperationCancelled,
    PowerState,
    Progress,
    no_progress,
)
from desktopvm.testing.doubles.certs import make_tls
from desktopvm.testing.doubles.esxi import sim
from tests.backends.esxi.conftest import removed

pytestmark = pytest.mark.vcsim
MIB = 2**20


def spec(name: str, iso: str = "") -> MachineSpec:
    return MachineSpec(
        name=name, os="debian12",
        storage=(StorageController(kind=ControllerKind.SCSI, disks=(
            Disk(format=DiskFormat.VMDK, size_bytes=MIB),)),
                 StorageController(kind=ControllerKind.SATA,
                                   optical=(OpticalDrive(iso=iso),))),
        network=(NetworkAdapter(attachment=NetworkAttachment.SWITCH, network="VM Network"),),
        usb=UsbSpec(version=None))


def upload_iso(backend: EsxiBackend, path: Path, *, progress: Progress,
               cancel: CancelToken) -> str:
    """datastores.upload() on its own, to the datastore a new machine would go on."""
    facts = backend.facts()
    return datastores.upload(backend.session, facts, path, facts.datastore().name,
                             progress=progress, cancel=cancel)


def isos(machine: MachineSpec) -> list[str]:
    return [o.iso for c in machine.storage for o in c.optical]


@pytest.fixture
def iso(tmp_path: Path) -> Path:
    """A local ISO of 5 MiB and a bit (several upload chunks), with a name no other test
    uses: the simulator lives for the whole session."""
    path = tmp_path / f"install-{uuid.uuid4().hex[:8]}.iso"
    path.write_bytes(bytes(range(256)) * (5 * MIB // 256) + b"the end")
    return path


@pytest.fixture
def store_folder(esx_backend: EsxiBackend) -> Path:
    """vcsim's datastore is a folder on this computer: what reached it can be read."""
    store = esx_backend.facts().datastore()
    return Path(esx_backend.session.properties(store.ref, ["summary.url"])["summary.url"])


@pytest.fixture
def made(esx_backend: EsxiBackend) -> Iterator[list[str]]:
    """Machine ids a test made; deleted after it."""
    ids: list[str] = []
    yield ids
    for machine_id in ids:
        removed(esx_backend, machine_id)


def puts(esx: sim.Sim, name: str) -> int:
    """How many PUTs reached the simulator's /folder for desktopvm-iso/NAME (main.go counts
    them by path): each goes to a temporary name `.NAME.partial-…` in that folder."""
    context = ssl.create_default_context(cafile=str(esx.tls.ca))
    with urllib.request.urlopen(f"https://127.0.0.1:{esx.port}/desktopvm/folder",
                                context=context, timeout=10) as answer:
        counts = json.loads(answer.read())
    partial = f"/folder/{datastores.ISO_FOLDER}/.{name}.partial-"
    return sum(int(count) for path, count in counts.items() if path.startswith(partial))


def leftovers(store_folder: Path) -> list[str]:
    """Temporary upload files left in desktopvm-iso/ (there must never be any)."""
    folder = store_folder / datastores.ISO_FOLDER
    return sorted(p.name for p in folder.glob(".*.partial-*")) if folder.is_dir() else []


def test_create_uploads_a_local_iso_and_the_drive_reads_the_datastore_copy(
        esx_backend: EsxiBackend, esx: sim.Sim, iso: Path, store_folder: Path,
        made: list[str]) -> None:
    stages: list[str] = []
    made.append(esx_backend.create(spec("dvmtest-iso-create", str(iso)),
                                   progress=lambda _f, stage: stages.append(stage),
                                   cancel=CancelToken()))
    uploaded = store_folder / datastores.ISO_FOLDER / iso.name
    assert uploaded.read_bytes() == iso.read_bytes()
    store = esx_backend.facts().datastore().name
    assert isos(esx_backend.get_machine(made[0]).spec) == \
        [f"[{store}] {datastores.ISO_FOLDER}/{iso.name}"]
    assert puts(esx, iso.name) == 1
    assert any(s.startswith(f"Uploading {iso.name} to {store}") for s in stages)
    listed = esx_backend.list_isos()
    assert datastores.DatastoreFile(f"[{store}] {datastores.ISO_FOLDER}/{iso.name}",
                                    iso.stat().st_size) in listed


def test_a_second_create_reuses_the_iso_already_there(
        esx_backend: EsxiBackend, esx: sim.Sim, iso: Path, made: list[str]) -> None:
    made.append(esx_backend.create(spec("dvmtest-iso-first", str(iso)), progress=no_progress,
                                   cancel=CancelToken()))
    stages: list[str] = []
    made.append(esx_backend.create(spec("dvmtest-iso-second", str(iso)),
                                   progress=lambda _f, stage: stages.append(stage),
                                   cancel=CancelToken()))
    assert puts(esx, iso.name) == 1  # no second PUT
    assert any("already on" in s and "not uploading again" in s for s in stages)
    assert isos(esx_backend.get_machine(made[1]).spec) == \
        isos(esx_backend.get_machine(made[0]).spec)


def test_a_different_iso_of_the_same_name_takes_a_name_with_its_size(
        esx_backend: EsxiBackend, esx: sim.Sim, iso: Path, store_folder: Path,
        made: list[str]) -> None:
    """Another machine's CD keeps its disc: the new one is never PUT over it."""
    first = iso.read_bytes()
    made.append(esx_backend.create(spec("dvmtest-iso-same-name", str(iso)),
                                   progress=no_progress, cancel=CancelToken()))
    iso.write_bytes(b"a different disc " * 1000)
    path = upload_iso(esx_backend, iso, progress=no_progress, cancel=CancelToken())
    store = esx_backend.facts().datastore().name
    renamed = f"{iso.stem}-{iso.stat().st_size}.iso"
    assert path == f"[{store}] {datastores.ISO_FOLDER}/{renamed}"
    assert (store_folder / datastores.ISO_FOLDER / renamed).read_bytes() == iso.read_bytes()
    assert (store_folder / datastores.ISO_FOLDER / iso.name).read_bytes() == first
    assert isos(esx_backend.get_machine(made[0]).spec) == \
        [f"[{store}] {datastores.ISO_FOLDER}/{iso.name}"]
    assert puts(esx, iso.name) == 2
    # Sent again, the second disc is found under its new name: nothing more is sent.
    assert upload_iso(esx_backend, iso, progress=no_progress, cancel=CancelToken()) == path
    assert puts(esx, iso.name) == 2
    assert leftovers(store_folder) == []


def test_a_cancelled_upload_leaves_no_partial_file_and_no_machine(
        esx_backend: EsxiBackend, esx: sim.Sim, iso: Path, store_folder: Path) -> None:
    before = {m.id for m in esx_backend.list_machines()}
    cancel = CancelToken()

    def progress(fraction: float | None, stage: str) -> None:
        if fraction and 0 < fraction < 1:  # midway: some of the file is on its way
            cancel.cancel()

    with pytest.raises(OperationCancelled, match="partial file was deleted"):
        esx_backend.create(spec("dvmtest-iso-cancel", str(iso)), progress=progress,
                           cancel=cancel)
    assert puts(esx, iso.name) == 1  # the upload had started
    assert not (store_folder / datastores.ISO_FOLDER / iso.name).exists()
    assert {m.id for m in esx_backend.list_machines()} == before


def midway(cancel: CancelToken) -> Progress:
    """A progress report that cancels once some of the file is on its way."""
    def report(fraction: float | None, _stage: str) -> None:
        if fraction and 0 < fraction < 1:
            cancel.cancel()
    return report


def placed(store_folder: Path, name: str, data: bytes) -> Path:
    """A file put straight into vcsim's desktopvm-iso/ (another upload's, or one a machine
    already uses)."""
    path = store_folder / datastores.ISO_FOLDER / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("how", ["cancelled midway", "refused before any byte"])
def test_a_failed_upload_never_deletes_a_file_that_was_there(
        esx_backend: EsxiBackend, iso: Path, store_folder: Path,
        monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    there = placed(store_folder, iso.name, b"the disc another machine uses")
    cancel = CancelToken()
    if how == "refused before any byte":  # stand-in for the host's 401 (or a refused socket)
        def refused(*_args: object, **_kwargs: object) -> None:
            raise CommandFailed("127.0.0.1 refused the upload (HTTP 401)")
        monkeypatch.setattr(esx_backend.session, "upload", refused)
    with pytest.raises(OperationCancelled if how == "cancelled midway" else CommandFailed):
        upload_iso(esx_backend, iso, progress=midway(cancel), cancel=cancel)
    assert there.read_bytes() == b"the disc another machine uses"
    assert leftovers(store_folder) == []


def test_a_cancel_deletes_only_its_own_file_not_the_one_another_upload_finished(
        esx_backend: EsxiBackend, iso: Path, store_folder: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two creates send the same ISO; one finishes while the other is sending, then the
    other is cancelled: the finished file stays."""
    real = esx_backend.session.upload

    def while_another_finishes(*args: Any, **kwargs: Any) -> None:
        placed(store_folder, iso.name, iso.read_bytes())
        real(*args, **kwargs)

    monkeypatch.setattr(esx_backend.session, "upload", while_another_finishes)
    cancel = CancelToken()
    with pytest.raises(OperationCancelled, match="partial file was deleted"):
        upload_iso(esx_backend, iso, progress=midway(cancel), cancel=cancel)
    assert (store_folder / datastores.ISO_FOLDER / iso.name).read_bytes() == iso.read_bytes()
    assert leftovers(store_folder) == []


@pytest.mark.parametrize("same", [True, False], ids=["the same file", "another file"])
def test_a_name_taken_while_uploading_is_never_overwritten(
        esx_backend: EsxiBackend, iso: Path, store_folder: Path,
        monkeypatch: pytest.MonkeyPatch, same: bool) -> None:
    """Another upload finishes first under the name: the same file is used (ours dropped);
    another file keeps its name and ours takes the name with its size."""
    real = esx_backend.session.upload
    theirs = iso.read_bytes() if same else b"another disc of that name"

    def another_finishes_first(*args: Any, **kwargs: Any) -> None:
        real(*args, **kwargs)
        placed(store_folder, iso.name, theirs)

    monkeypatch.setattr(esx_backend.session, "upload", another_finishes_first)
    path = upload_iso(esx_backend, iso, progress=no_progress, cancel=CancelToken())
    name = iso.name if same else f"{iso.stem}-{iso.stat().st_size}.iso"
    assert path.endswith(f"] {datastores.ISO_FOLDER}/{name}")
    assert (store_folder / datastores.ISO_FOLDER / iso.name).read_bytes() == theirs
    assert (store_folder / datastores.ISO_FOLDER / name).read_bytes() == iso.read_bytes()
    assert leftovers(store_folder) == []


def test_a_name_with_wildcard_characters_is_found_and_not_sent_again(
        esx_backend: EsxiBackend, esx: sim.Sim, tmp_path: Path, store_folder: Path) -> None:
    odd = tmp_path / f"disc [v2] *?-{uuid.uuid4().hex[:6]}.iso"
    odd.write_bytes(b"y" * 4000)
    first = upload_iso(esx_backend, odd, progress=no_progress, cancel=CancelToken())
    stages: list[str] = []
    again = upload_iso(esx_backend, odd, progress=lambda _f, stage: stages.append(stage),
                                   cancel=CancelToken())
    assert again == first and first.endswith(f"/{odd.name}")
    assert puts(esx, odd.name) == 1
    assert any("not uploading again" in s for s in stages)
    assert datastores.folder_files(esx_backend.session, esx_backend.facts(),
                                   esx_backend.facts().datastore().name,
                                   datastores.ISO_FOLDER)[odd.name] == 4000


def test_an_iso_bigger_than_the_free_space_is_refused_before_sending(
        esx_backend: EsxiBackend, esx: sim.Sim, tmp_path: Path) -> None:
    store = esx_backend.facts().datastore()
    free = int(esx_backend.session.properties(store.ref, ["summary.freeSpace"])
               ["summary.freeSpace"])
    big = tmp_path / f"huge-{uuid.uuid4().hex[:6]}.iso"
    with big.open("wb") as sparse:  # its size, not its bytes: it takes no room here
        sparse.truncate(free + 2**30)
    with pytest.raises(CommandFailed) as refused:
        upload_iso(esx_backend, big, progress=no_progress, cancel=CancelToken())
    assert str(refused.value) == (f"{big.name} needs {(free + 2**30) / 2**30:,.1f} GB; "
                                  f"datastore {store.name} has {free / 2**30:,.1f} GB free")
    assert puts(esx, big.name) == 0


def test_the_folder_url_names_the_file_datacenter_and_datastore() -> None:
    assert datastores.folder_url("ha-datacenter", "[datastore 1] isos/my #1.iso") == \
        "https://*/folder/isos/my%20%231.iso?dcPath=ha-datacenter&dsName=datastore+1"


def test_a_missing_local_iso_is_refused_before_anything_is_made_or_sent(
        esx_backend: EsxiBackend, esx: sim.Sim, tmp_path: Path) -> None:
    before = {m.id for m in esx_backend.list_machines()}
    missing = tmp_path / "not-here.iso"
    with pytest.raises(InvalidSpec) as raised:
        esx_backend.create(spec("dvmtest-iso-missing", str(missing)), progress=no_progress,
                           cancel=CancelToken())
    [problem] = raised.value.problems
    assert problem.field == "storage[1].optical[0].iso"
    assert str(missing) in problem.message and "does not exist" in problem.message
    assert {m.id for m in esx_backend.list_machines()} == before
    assert puts(esx, missing.name) == 0


def test_editing_a_running_machine_to_a_local_iso_uploads_and_attaches_it(
        esx_backend: EsxiBackend, esx: sim.Sim, iso: Path, store_folder: Path,
        made: list[str]) -> None:
    made.append(esx_backend.create(spec("dvmtest-iso-edit"), progress=no_progress,
                                   cancel=CancelToken()))
    esx_backend.start(made[0])
    old = esx_backend.get_machine(made[0]).spec
    new = old.model_copy(update={"storage": (old.storage[0], old.storage[1].model_copy(
        update={"optical": (old.storage[1].optical[0].model_copy(
            update={"iso": str(iso)}),)}))})
    esx_backend.update(made[0], old, new, progress=no_progress, cancel=CancelToken())
    after = esx_backend.get_machine(made[0])
    store = esx_backend.facts().datastore().name
    assert isos(after.spec) == [f"[{store}] {datastores.ISO_FOLDER}/{iso.name}"]
    assert after.state is PowerState.RUNNING
    assert (store_folder / datastores.ISO_FOLDER / iso.name).read_bytes() == iso.read_bytes()
    assert puts(esx, iso.name) == 1


def test_an_edit_to_a_missing_local_iso_is_refused_before_anything_is_sent(
        esx_backend: EsxiBackend, esx: sim.Sim, tmp_path: Path, made: list[str]) -> None:
    made.append(esx_backend.create(spec("dvmtest-iso-edit-missing"), progress=no_progress,
                                   cancel=CancelToken()))
    old = esx_backend.get_machine(made[0]).spec
    missing = tmp_path / "gone.iso"
    new = old.model_copy(update={"storage": (old.storage[0], old.storage[1].model_copy(
        update={"optical": (OpticalDrive(iso=str(missing)),)}))})
    with pytest.raises(InvalidSpec, match="does not exist"):
        esx_backend.update(made[0], old, new, progress=no_progress, cancel=CancelToken())
    assert isos(esx_backend.get_machine(made[0]).spec) == [""]
    assert puts(esx, missing.name) == 0


def test_datastore_paths_and_local_paths_are_told_apart() -> None:
    assert datastores.is_datastore_path("[datastore1] isos/debian.iso")
    assert datastores.split("[datastore 2] isos/debian.iso") == ("datastore 2",
                                                                 "isos/debian.iso")
    assert not datastores.is_datastore_path("/home/me/debian.iso")
    assert not datastores.is_datastore_path(r"C:\isos\debian.iso")
    assert datastores.target("~/x.iso", "ds") == f"[ds] {datastores.ISO_FOLDER}/x.iso"


def test_the_datastores_are_listed_with_their_free_space(esx_backend: EsxiBackend) -> None:
    stores = esx_backend.list_datastores()
    assert stores and all(s.capacity_bytes >= s.free_bytes > 0 for s in stores)
    assert [s.free_bytes for s in stores] == sorted((s.free_bytes for s in stores),
                                                    reverse=True)


def test_an_upload_url_quotes_the_name(esx_backend: EsxiBackend, esx: sim.Sim,
                                       tmp_path: Path, store_folder: Path) -> None:
    odd = tmp_path / f"my disc #{uuid.uuid4().hex[:6]}.iso"
    odd.write_bytes(b"x" * 3000)
    path = upload_iso(esx_backend, odd, progress=no_progress, cancel=CancelToken())
    assert path.endswith(f"{datastores.ISO_FOLDER}/{odd.name}")
    assert (store_folder / datastores.ISO_FOLDER / odd.name).read_bytes() == odd.read_bytes()
    assert puts(esx, urllib.parse.quote(odd.name)) + puts(esx, odd.name) == 1


def test_a_cancelled_upload_returns_only_once_the_host_is_done_with_the_request(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The partial file is deleted after the upload returns: had the host not finished
    writing it by then, it could write it again after the delete. A stand-in host that takes
    a while to finish after the body stops (as a busy hostd may) shows the upload waits."""
    tls = make_tls(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls.certificate, tls.key)
    listener = socket.create_server(("127.0.0.1", 0))
    finished = threading.Event()

    def host() -> None:
        connection, _ = listener.accept()
        with context.wrap_socket(connection, server_side=True) as tls_socket, \
                contextlib.suppress(OSError):
            while tls_socket.recv(65536):  # headers, then the body until the client stops
                pass
            time.sleep(0.5)  # finishing the file: the client must not return meanwhile
            finished.set()

    server = threading.Thread(target=host, daemon=True)
    server.start()
    session = Session(HostConfig(kind="esxi", address="127.0.0.1",
                                 port=listener.getsockname()[1], username="root",
                                 ca_file=str(tls.ca)), lambda: "")
    monkeypatch.setattr(session, "service", lambda: SimpleNamespace(
        _stub=SimpleNamespace(cookie="vmware_soap_session=x")))
    cancel = CancelToken()
    with pytest.raises(OperationCancelled):
        session.upload("https://*/folder/x.iso?dsName=ds", io.BytesIO(bytes(8 * MIB)),
                       8 * MIB, sent=lambda _count: cancel.cancel(), cancel=cancel,
                       method="PUT")
    assert finished.is_set()
    server.join(timeout=30)
    listener.close()


def test_through_vcenter_the_upload_reaches_the_datastore(vpx_backend: EsxiBackend,
                                                         iso: Path) -> None:
    """On vcsim's vCenter model (its datacenter DC0, not ESXi's ha-datacenter) the upload
    reaches the datastore the machine is made on."""
    store = vpx_backend.facts().datastore()
    folder = Path(vpx_backend.session.properties(store.ref, ["summary.url"])["summary.url"])
    machine_id = vpx_backend.create(spec("dvmtest-iso-vcenter", str(iso)), progress=no_progress,
                                    cancel=CancelToken())
    try:
        assert isos(vpx_backend.get_machine(machine_id).spec) == \
            [f"[{store.name}] {datastores.ISO_FOLDER}/{iso.name}"]
        assert (folder / datastores.ISO_FOLDER / iso.name).read_bytes() == iso.read_bytes()
    finally:
        vpx_backend.delete(machine_id, delete_disks=True, progress=no_progress,
                           cancel=CancelToken())
