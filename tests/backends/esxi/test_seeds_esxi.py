"""Unattended installs on ESXi (vcsim): `create --unattended` uploads the seed disc to the
datastore like any local ISO, and after the first boot the drive, the datastore copy and the
local seed all go. A remote Hyper-V host is still refused, in words."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtWidgets import QComboBox, QWizard

from backends.esxi import datastores
from backends.esxi.backend import EsxiBackend
from desktopvm import credentials, seeds
from desktopvm.cli import main
from desktopvm.cli.unattended_commands import Seeding
from desktopvm.connections import HostConfig
from desktopvm.media.unattended import Answers, plan_seed
from desktopvm.model import catalog
from desktopvm.protocol import (
    CancelToken,
    OperationCancelled,
    no_progress,
)
from desktopvm.registry import Registry
from desktopvm.settings import Settings, load_settings
from desktopvm.testing.doubles.esxi import sim
from desktopvm.ui.connection_refresh import list_connection
from desktopvm.ui.editors import IdentityEditor
from desktopvm.ui.wizard import PageId
from desktopvm.ui.wizard.wizard import NewVmWizard
from tests.backends.esxi.conftest import removed
from tests.backends.esxi.test_iso_upload import spec as iso_spec
from tests.keyring_fixture import TestKeyring, test_keyring  # noqa: F401  (fixture)
from tests.ui.conftest import make_facts, runner  # noqa: F401  (fixtures)
from tests.ui.test_wizard import editor, go_to

pytestmark = pytest.mark.vcsim
PASSWORD = "not on the host in clear"


class Cli:
    """The CLI in-process over a registry that knows the simulator as an added host."""

    def __init__(self, host: HostConfig) -> None:
        self.host = host
        self.registry = Registry(Settings(hosts=(host,)))

    def __call__(self, *argv: str, stdin: str = "") -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = main(list(argv), registry=self.registry, out=out, err=err,
                    stdin=io.StringIO(stdin))
        return code, out.getvalue(), err.getvalue()


@pytest.fixture
def cli(esx: sim.Sim, test_keyring: TestKeyring) -> Iterator[Cli]:  # noqa: F811
    host = esx.host()
    credentials.store_password(host, sim.PASSWORD)
    run = Cli(host)
    yield run
    run.registry.close()


@pytest.fixture
def installer(tmp_path: Path) -> Path:
    path = tmp_path / f"ubuntu-{uuid.uuid4().hex[:8]}.iso"
    path.write_bytes(b"installer disc " * 4096)
    return path


def store_folder(backend: EsxiBackend) -> Path:
    """vcsim's datastore is a folder on this computer: what reached it can be read."""
    store = backend.facts().datastore()
    return Path(backend.session.properties(store.ref, ["summary.url"])["summary.url"])


def on_store(backend: EsxiBackend, path: str) -> Path:
    return store_folder(backend) / datastores.split(path)[1]


def test_create_unattended_uploads_the_seed_and_the_first_boot_takes_it_all_out(
        cli: Cli, esx_backend: EsxiBackend, installer: Path) -> None:
    name = f"dvmtest-seed-{uuid.uuid4().hex[:6]}"
    code, out, err = cli("create", "--host", cli.host.id, "--name", name, "--os",
                         "ubuntu24.04", "--iso", str(installer), "--network", "switch:VM Network",
                         "--unattended", "--user",
                         "ann", "--password-stdin", "--json", stdin=PASSWORD + "\n")
    assert code == 0, err
    machine_id = json.loads(out)["id"]
    try:
        [record] = seeds.records(cli.registry.settings, cli.host.id)
        seed = Path(record.seed)
        assert record.machine_id == machine_id and seed.is_file()
        # Two CD/DVD drives: the installer and the seed, both read from the datastore.
        drives = [d.iso for _, d in esx_backend.get_machine(machine_id).spec.all_optical()]
        store = esx_backend.facts().datastore().name
        assert sorted(drives) == sorted([f"[{store}] desktopvm-iso/{installer.name}",
                                         record.host_copy])
        assert record.host_copy == f"[{store}] desktopvm-iso/{seed.name}"
        assert on_store(esx_backend, record.host_copy).read_bytes() == seed.read_bytes()
        assert "its copy on the host" in err
        assert PASSWORD not in record.path.read_text()

        # Running (seen by the window's refresh), then off: the next listing (the CLI's)
        # takes the seed out everywhere.
        esx_backend.start(machine_id)
        listing = list_connection(cli.registry, cli.host.id, False, no_progress,
                                  CancelToken())
        assert listing.error is None
        assert seeds.records(cli.registry.settings, cli.host.id)[0].seen_running
        esx_backend.power_off(machine_id)
        code, _, err = cli("list", "--host", cli.host.id)
        assert code == 0 and f"took the seed disc out of {name}" in err
        after = esx_backend.get_machine(machine_id).spec
        assert [d.iso for _, d in after.all_optical()] == \
            [f"[{store}] desktopvm-iso/{installer.name}"]
        assert not on_store(esx_backend, record.host_copy).exists()
        assert not seed.exists() and not record.path.exists()
        assert seeds.records(cli.registry.settings, cli.host.id) == []
    finally:
        removed(esx_backend, machine_id)


def test_delete_upload_deletes_only_in_the_upload_folder(esx_backend: EsxiBackend) -> None:
    store = esx_backend.facts().datastore().name
    with pytest.raises(ValueError, match="not in desktopvm-iso/"):
        esx_backend.delete_uploaded(f"[{store}] ha-host_VM0/ha-host_VM0.vmx")
    assert (store_folder(esx_backend) / "ha-host_VM0").is_dir()


def test_esxi_takes_seeds_and_a_remote_hyperv_host_is_refused_in_words() -> None:
    assert issubclass(EsxiBackend, seeds.SeedUploading)  # what UPLOADING_KINDS stands for
    assert seeds.refusal("esxi@127.0.0.1") == "" and seeds.refusal("qemu") == ""
    assert "WinRM" in seeds.refusal("hyperv@hv01") and "cannot copy" in seeds.refusal(
        "hyperv@hv01")


def test_the_wizard_offers_the_box_on_esxi_and_create_uploads_the_seed(
        qtbot, runner, make_facts, esx_backend: EsxiBackend) -> None:  # noqa: F811
    facts = replace(make_facts(esx_backend), host=esx_backend.host)  # as host_facts has it
    wizard = NewVmWizard([facts], runner, lambda _name: esx_backend)
    qtbot.addWidget(wizard)
    wizard.show()
    assert not wizard.check_paths()  # a remote host, not this computer
    go_to(wizard, PageId.IDENTITY)
    editor(wizard, IdentityEditor).os_changed.emit("ubuntu24.04")
    box = wizard.identity_page.unattended
    assert box.isVisible()
    name = f"dvmtest-wizseed-{uuid.uuid4().hex[:6]}"
    editor(wizard, IdentityEditor).name.setText(name)
    box.setChecked(True)
    qtbot.keyClicks(box.user, "ann")
    qtbot.keyClicks(box.password, PASSWORD)
    go_to(wizard, PageId.NETWORK)
    network = wizard.currentPage().findChild(QComboBox, "network-name")
    assert network is not None
    network.setCurrentText("VM Network")
    go_to(wizard, PageId.SUMMARY)
    assert wizard.button(QWizard.WizardButton.FinishButton).isEnabled(), \
        [p.message for p in wizard.all_problems()]
    wizard.button(QWizard.WizardButton.FinishButton).click()
    errors: list[object] = []
    job = wizard.job
    assert job is not None
    job.failed.connect(errors.append)
    with qtbot.waitSignal(wizard.created, timeout=60000) as created:
        qtbot.waitUntil(lambda: errors or not wizard.is_creating(), timeout=60000)
        assert not errors, errors
    machine_id = created.args[1]
    try:
        [record] = seeds.records(load_settings(), esx_backend.name)
        assert record.machine_id == machine_id and record.host_copy
        assert on_store(esx_backend, record.host_copy).read_bytes() == \
            Path(record.seed).read_bytes()
    finally:
        esx_backend.delete(machine_id, delete_disks=True, progress=no_progress,
                           cancel=CancelToken())
        for record in seeds.records(load_settings(), esx_backend.name):
            seeds.drop_host_copy(esx_backend, record)


def test_a_machine_deleted_before_its_first_boot_leaves_no_copy_on_the_datastore(
        cli: Cli, esx_backend: EsxiBackend, installer: Path) -> None:
    name = f"dvmtest-seedgone-{uuid.uuid4().hex[:6]}"
    code, out, err = cli("create", "--host", cli.host.id, "--name", name, "--os",
                         "ubuntu24.04", "--iso", str(installer), "--network", "switch:VM Network",
                         "--unattended", "--user", "ann", "--password-stdin", "--json",
                         stdin=PASSWORD + "\n")
    assert code == 0, err
    [record] = seeds.records(cli.registry.settings, cli.host.id)
    assert on_store(esx_backend, record.host_copy).is_file()
    esx_backend.delete(json.loads(out)["id"], delete_disks=True, progress=no_progress,
                       cancel=CancelToken())
    assert cli("list", "--host", cli.host.id)[0] == 0
    assert not on_store(esx_backend, record.host_copy).exists()
    assert not Path(record.seed).exists() and not record.path.exists()
    assert on_store(esx_backend, f"[x] desktopvm-iso/{installer.name}").is_file()  # not ours


def test_a_create_that_fails_after_sending_the_seed_deletes_its_copy(
        esx_backend: EsxiBackend, tmp_path: Path) -> None:
    entry = catalog().get("ubuntu24.04")
    assert entry is not None
    plan = plan_seed(entry, Answers(user="ann", password=PASSWORD), uefi=False,
                     backend_kind="esxi", instance_id="i")
    settings = Settings(library_dir=str(tmp_path / "library"))
    cancel = CancelToken()
    sent: list[str] = []

    def progress(_fraction: float | None, stage: str, /) -> None:
        if stage.startswith("Uploaded seed-"):  # the seed is on the datastore: now fail
            sent.append(stage)
            cancel.cancel()

    name = f"dvmtest-seedfail-{uuid.uuid4().hex[:6]}"
    with pytest.raises(OperationCancelled):
        seeds.create_with_seed(settings, esx_backend, iso_spec(name), plan,
                               progress=progress, cancel=cancel)
    assert sent  # it did fail after the upload
    assert name not in {m.name for m in esx_backend.list_machines()}
    seed_name = sent[0].split()[1]  # "Uploaded seed-….iso to LocalDS_0 (…)"
    assert seed_name.startswith("seed-") and seed_name.endswith(".iso")
    assert not (store_folder(esx_backend) / datastores.ISO_FOLDER / seed_name).exists()
    assert not list(seeds.seed_folder(settings).glob("*"))


def test_the_clis_undo_deletes_a_seed_already_sent(esx_backend: EsxiBackend,
                                                   tmp_path: Path) -> None:
    """`create` undoes its seeding when the create fails: a copy already sent goes too."""
    seed = tmp_path / f"seed-{uuid.uuid4().hex[:12]}.iso"
    seed.write_bytes(b"answers " * 512)
    facts = esx_backend.facts()
    copy = datastores.upload(esx_backend.session, facts, seed, facts.datastore().name,
                             progress=no_progress, cancel=CancelToken())
    assert on_store(esx_backend, copy).is_file()
    seeding = Seeding(spec=iso_spec("unused"), seed=seed, backend=esx_backend, made=[seed])
    seeding.undo()
    assert not on_store(esx_backend, copy).exists() and not seed.exists()
