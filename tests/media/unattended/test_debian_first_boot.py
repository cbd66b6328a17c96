"""Debian's unattended install above the backends (desktopvm/seeds.py, the CLI): a backend
that boots kernels gets the installer's first boot with the preseed in its initrd; a disc
without the installer is refused before anything is made; other backends are told in words
that it is not automatic there; a saved machine resumes with its seed."""

from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path

import pytest

from desktopvm import seeds
from desktopvm.media.unattended import Answers, plan_seed
from desktopvm.media.unattended.debian import how_found
from desktopvm.media.unattended.initrd import NoInstaller, newc
from desktopvm.model import catalog, defaults_for
from desktopvm.protocol import CancelToken, no_progress
from desktopvm.settings import Settings
from desktopvm.testing.doubles.memory_backend import MemoryBackend
from tests.media.unattended.test_unattended_cli import BASE, Run, run  # noqa: F401

INITRD = gzip.compress(newc({"init": b"#!/bin/sh\n"}))


class KernelBooting(MemoryBackend):
    """The memory backend with QEMU's installer-boot methods (seeds.InstallerBooting)."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.boots: dict[str, dict[str, object]] = {}

    def boot_installer_once(self, machine_id: str, *, kernel: bytes, initrd: bytes,
                            append: str, label: str) -> None:
        self.boots[machine_id] = {"kernel": kernel, "initrd": initrd, "append": append,
                                  "label": label}

    def drop_installer_boot(self, machine_id: str) -> bool:
        return self.boots.pop(machine_id, None) is not None

    def installer_boot(self, machine_id: str) -> str:
        return str(self.boots.get(machine_id, {}).get("label", ""))


def _disc(tmp_path: Path, files: dict[str, bytes]) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    for name, data in files.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_bytes(data)
    disc = tmp_path / "debian.iso"
    subprocess.run(["xorriso", "-as", "mkisofs", "-r", "-J", "-o", str(disc), str(tree)],
                   check=True, capture_output=True)
    return disc


def _create(tmp_path: Path, disc: Path) -> tuple[Settings, KernelBooting, str]:
    settings = Settings(library_dir=str(tmp_path / "library"))
    backend = KernelBooting(tmp_path / "machines")
    entry = catalog().get("debian12")
    assert entry is not None
    plan = plan_seed(entry, Answers(user="ann", password="pw", hostname="box"), uefi=False,
                     backend_kind="qemu", instance_id="i")
    spec = defaults_for("debian12", backend.capabilities(), name="deb", iso=str(disc))
    machine_id = seeds.create_with_seed(settings, backend, spec, plan, progress=no_progress,
                                        cancel=CancelToken())
    return settings, backend, machine_id


def test_a_kernel_booting_backend_gets_the_installer_with_the_preseed(tmp_path: Path):
    disc = _disc(tmp_path, {"install.amd/vmlinuz": b"KERNEL", "install.amd/initrd.gz": INITRD})
    settings, backend, machine_id = _create(tmp_path, disc)
    boot = backend.boots[machine_id]
    assert boot["kernel"] == b"KERNEL" and seeds.installer_boot(backend, machine_id) == (
        "Debian installer with answers")
    initrd = boot["initrd"]
    assert isinstance(initrd, bytes) and initrd.startswith(INITRD)
    appended = initrd[len(INITRD):].lstrip(b"\0")
    assert b"preseed.cfg\0" in appended and b"d-i netcfg/get_hostname string box" in appended
    assert "console=ttyS0,115200n8 --- quiet" in str(boot["append"])  # debian12 has a COM1
    # Seen running, then off: the seed and the installer's boot go together.
    backend.start(machine_id)
    seeds.observe(settings, backend, backend.list_machines())
    backend.power_off(machine_id)
    assert seeds.observe(settings, backend, backend.list_machines()) == ["deb"]
    assert backend.boots == {} and seeds.records(settings, "memory") == []


def test_a_disc_without_the_installer_is_refused_before_anything_is_made(tmp_path: Path):
    disc = _disc(tmp_path, {"README": b"not debian"})
    with pytest.raises(NoInstaller, match=r"has no Debian installer in /install\.amd/"):
        _create(tmp_path, disc)
    folder = seeds.seed_folder(Settings(library_dir=str(tmp_path / "library")))
    assert not folder.exists() or not any(folder.iterdir())
    backend = KernelBooting(tmp_path / "machines")
    spec = defaults_for("debian12", backend.capabilities(), name="deb")  # no disc at all
    entry = catalog().get("debian12")
    assert entry is not None
    plan = plan_seed(entry, Answers(user="ann", password="pw"), uefi=False,
                     backend_kind="qemu", instance_id="i")
    with pytest.raises(NoInstaller, match="needs the installer's disc"):
        seeds.installer_boot_for(plan, backend, spec)
    assert KernelBooting(tmp_path / "machines").list_machines() == []


def test_other_backends_are_told_it_is_not_automatic(run: Run):  # noqa: F811
    code, _, err = run(*BASE[:6], "debian12", *BASE[7:], "--password-stdin", "--dry-run",
                       stdin="pw\n")
    assert code == 0 and "note: Not automatic on memory: Debian's installer reads a " \
                         "preseed only from" in err
    assert "VBoxManage unattended, is not wired up" in how_found("virtualbox")
    assert how_found("qemu").startswith("DesktopVM starts the first boot with Debian's "
                                        "installer")


def test_a_saved_machine_resumes_with_its_seed(run: Run):  # noqa: F811
    assert run(*BASE, "--password-stdin", stdin="pw\n")[0] == 0
    [record] = seeds.records(run.registry.settings, "memory")
    assert run("start", "web")[0] == 0
    backend = run.registry.open("memory")
    backend.save_state(record.machine_id, progress=no_progress, cancel=CancelToken())
    code, _, err = run("start", "web")  # resumes the first boot: the seed stays for it
    assert code == 0 and "took the seed disc out" not in err
    assert Path(record.seed).exists()


@pytest.mark.qemu
def test_the_cli_refuses_a_debian_disc_without_the_installer_on_qemu(tmp_path: Path,
                                                                      desktopvm_home: Path):
    from tests.backends.qemu.test_qemu_cli import cli

    disc = _disc(tmp_path, {".disk/info": b"Debian GNU/Linux 12", "README": b"no installer"})
    result = cli("create", "--backend", "qemu", "--name", "deb", "--os", "debian12",
                 "--iso", str(disc), "--unattended", "--user", "ann", "--password-stdin",
                 stdin="pw\n", check=False)
    assert result.returncode != 0
    assert "debian.iso has no Debian installer in /install.amd/ (vmlinuz and initrd.gz " \
           "missing)" in result.stderr
    assert json.loads(cli("list", "--json").stdout)["machines"] == []
    assert not list(desktopvm_home.rglob("seed-*"))


def test_the_wizard_box_says_per_backend_whether_debian_reads_the_answers(qtbot):
    from desktopvm.ui.wizard.unattended_box import UnattendedBox

    box = UnattendedBox()
    qtbot.addWidget(box)
    box.show_for("debian12", True, "virtualbox")
    assert "Not automatic on VirtualBox" in box.note.text()
    assert "VBoxManage unattended, is not wired up" in box.note.text()
    box.show_for("debian12", True, "qemu")
    assert "DesktopVM starts the first boot with Debian's installer" in box.note.text()
    box.show_for("ubuntu24.04", True, "virtualbox")
    assert "Not automatic" not in box.note.text()
