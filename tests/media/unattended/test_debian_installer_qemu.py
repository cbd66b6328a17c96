"""The real Debian installer (debian-installer 12, from the Debian package of its netboot
images) reads the answers DesktopVM puts in its initrd, on real QEMU (TCG).

The test disc is laid out like Debian's netinst (`install.amd/vmlinuz`, `install.amd/
initrd.gz`, `.disk/info`) with the package's text-mode kernel and initrd, built with xorriso
and cached. The installer runs on the serial console (the machine has one). With the answers
it goes from its first screen through the network set-up to "Checking the Debian archive
mirror" — the mirror came from the preseed — without asking anything (no language, keyboard,
host name or mirror question). Without them (the initrd left as it is on the disc) it stops
at "[!!] Download debconf preconfiguration file", asking where its answers are. The test
stops there: the install itself would need the mirror (the internet).
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path

import pytest

from backends.qemu.backend import QemuBackend
from desktopvm.settings import load_settings
from desktopvm.testing.guest.build_iso import default_cache_dir
from desktopvm.testing.qemu_guest import SerialReader
from tests.backends.qemu.test_qemu_cli import cli

pytestmark = [pytest.mark.qemu, pytest.mark.slow]
IMAGES = Path("/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64")
PACKAGE = "debian-installer-12-netboot-amd64"
DISC_INFO = b'Debian GNU/Linux 12 "Bookworm" - Official amd64 NETINST'
# What the installer shows once the mirror (from the answers) is being checked; a box whose
# title starts with [!!], [!] or [?] is a question it had no answer for.
REACHED = b"Checking the Debian archive mirror"
QUESTION = re.compile(rb"\[(?:!!|!|\?)\] [A-Za-z][^\x1b]*")


def _netinst_disc() -> Path:
    kernel, initrd = IMAGES / "linux", IMAGES / "initrd.gz"
    if not (kernel.is_file() and initrd.is_file()):
        pytest.skip(f"needs Debian's installer images (apt-get install {PACKAGE})")
    digest = hashlib.sha256()
    for path in (kernel, initrd):
        digest.update(path.read_bytes())
    cache = default_cache_dir()
    disc = cache / f"desktopvm-test-debian12-netinst-{digest.hexdigest()[:12]}.iso"
    if disc.is_file():
        return disc
    tree = cache / f".build-debian-netinst-{digest.hexdigest()[:12]}"
    subprocess.run(["rm", "-rf", str(tree)], check=True)
    (tree / "install.amd").mkdir(parents=True)
    (tree / ".disk").mkdir()
    (tree / "install.amd" / "vmlinuz").write_bytes(kernel.read_bytes())
    (tree / "install.amd" / "initrd.gz").write_bytes(initrd.read_bytes())
    (tree / ".disk" / "info").write_bytes(DISC_INFO)
    partial = disc.with_name(disc.name + ".partial")
    subprocess.run(["xorriso", "-as", "mkisofs", "-r", "-J", "-V", "Debian 12 amd64 n",
                    "-o", str(partial), str(tree)], check=True, capture_output=True)
    partial.replace(disc)
    subprocess.run(["rm", "-rf", str(tree)], check=True)
    for stale in cache.glob("desktopvm-test-debian12-netinst-*.iso"):
        if stale != disc:
            stale.unlink(missing_ok=True)
    return disc


def _plain(screen: bytes) -> str:
    """The serial output without terminal escapes and line-drawing runs (for messages)."""
    text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][0-9A-Z]|\x1b.", b"", screen)
    return re.sub(r"\s{2,}", "  ", text.decode("utf-8", errors="replace"))


def _qemu_command_line(machine_id: str) -> list[str]:
    backend = QemuBackend(load_settings())
    runtime = json.loads(backend.store.files(machine_id).runtime.read_text())
    return Path(f"/proc/{runtime['pid']}/cmdline").read_bytes().decode().split("\0")


def test_debian_installer_reads_the_answers_from_its_initrd(desktopvm_home: Path):
    disc = _netinst_disc()
    name = "bookworm"
    created = cli("create", "--backend", "qemu", "--name", name, "--os", "debian12",
                  "--firmware", "bios", "--no-secure-boot", "--memory", "1024M", "--cpus",
                  "1", "--disk", "1G", "--iso", str(disc), "--unattended", "--user", "ann",
                  "--hostname", "preseedbox", "--password-stdin", "--json",
                  stdin="correct horse\n")
    machine_id = json.loads(created.stdout)["id"]
    assert "first boot: Debian installer with answers" in created.stderr
    assert "First boot: Debian installer with answers" in cli("show", name).stdout
    assert json.loads(cli("show", name, "--json").stdout)["first_boot"] == (
        "Debian installer with answers")
    try:
        cli("start", name, "--headless")
        assert "-kernel" in _qemu_command_line(machine_id)
        reader = SerialReader(QemuBackend(load_settings()), machine_id)
        try:
            # Whichever comes first: the mirror check, or a question it had no answer for.
            reader._read_until(lambda: REACHED in reader.seen or QUESTION.search(reader.seen),
                               "the mirror check or a question", timeout=400)
        finally:
            reader.close()
        # Only what came before the mirror check counts: without the internet the check
        # itself fails next, with a question of its own.
        shown = reader.seen.split(REACHED)[0]
        asked = QUESTION.search(shown)
        assert asked is None, f"the installer asked: {_plain(asked[0])[:200]!r}; screen: " \
                              f"{_plain(shown)[-1500:]}"
        assert REACHED in reader.seen
        screen = _plain(shown)
        assert "Configuring the network with DHCP" in screen  # it went past the early screens
        for question in ("Select a language", "Choose language", "Configure the keyboard",
                         "Hostname:", "Choose a mirror"):
            assert question not in screen
        cli("poweroff", name)
        listed = cli("list")  # seen running, now off: the seed and the installer's boot go
        assert f"took the seed disc out of {name}" in listed.stderr
        assert "First boot" not in cli("show", name).stdout
        folder = QemuBackend(load_settings()).store.files(machine_id).folder
        assert not list(folder.glob("first-boot*"))
        cli("start", name, "--headless")  # the second boot is from the disk
        assert "-kernel" not in _qemu_command_line(machine_id)
    finally:
        cli("poweroff", name, check=False)
        cli("delete", name, "--delete-disks", "--yes", check=False)
