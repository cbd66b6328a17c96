"""`kill -9` of the CLI in the middle of clone, export, import and create loses nothing (#21).

Each case starts the real CLI on a machine whose 2 GiB disk holds 320 MiB of random data (so
the copy takes long enough to be caught half-way), kills it with SIGKILL once a partial file
is being written (none of our clean-up runs), and then checks what a user would: `list` works
and shows no half-made machine, the source disk is byte for byte what it was, no qemu-img
keeps writing for nobody, the same command works when run again, and afterwards nothing the
killed run left is lying around (partial files are swept by the next run).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from backends.qemu import process
from tests.backends.qemu.test_killed_operations import qemu_img_children_of
from tests.images.hostile import qemu_img

CLI = str(Path(sys.executable).with_name("desktopvm-cli"))
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")]
PARTIAL = (".part", ".making", ".import-")


class Lab:
    """A DesktopVM home with one machine `src` on a 2 GiB disk holding random data."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = {**os.environ, "DESKTOPVM_HOME": str(root / "home")}
        self.library = root / "home" / "machines"
        self.out = root / "out"
        self.out.mkdir()
        raw = root / "data.raw"
        with raw.open("wb") as data:
            data.truncate(2 << 30)
            for _ in range(320):
                data.write(os.urandom(1 << 20))
        self.disk = root / "src.qcow2"
        qemu_img("convert", "-f", "raw", "-O", "qcow2", str(raw), str(self.disk))
        raw.unlink()
        self.cli("create", "--backend", "qemu", "--name", "src", "--attach-disk",
                 str(self.disk), "--disk", "0")
        self.digest = digest(self.disk)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([CLI, *args], env=self.env, capture_output=True, text=True,
                              timeout=600, check=False)
        if check:
            assert done.returncode == 0, f"{args}: {done.stderr}"
        return done

    def names(self) -> list[str]:
        listed = self.cli("list", "--json")
        return sorted(m["name"] for m in json.loads(listed.stdout)["machines"])

    def leftovers(self) -> list[str]:
        return sorted(str(p.relative_to(self.root)) for folder in (self.library, self.out)
                      for p in folder.rglob("*") if any(mark in p.name for mark in PARTIAL))


def digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    return Lab(tmp_path_factory.mktemp("kill"))


def writing(lab: Lab) -> bool:
    """A partial file of more than 8 MiB is being written somewhere (library or output)."""
    for folder in (lab.library, lab.out):
        for path in folder.rglob("*"):
            parts = path.relative_to(folder).parts
            if any(mark in part for part in parts for mark in PARTIAL) and path.is_file() \
                    and path.stat().st_size > (8 << 20):
                return True
    return False


def kill_half_way(lab: Lab, args: list[str], started: Callable[[Lab], bool]) -> None:
    """Run the CLI, SIGKILL it once `started`, and wait until its qemu-img children died."""
    log = lab.root / "killed.log"
    with log.open("wb") as stderr:
        cli = subprocess.Popen([CLI, *args], env=lab.env, stdout=subprocess.DEVNULL,
                               stderr=stderr)
    try:
        deadline = time.monotonic() + 120
        while not started(lab):
            assert cli.poll() is None, f"finished before it could be killed: {log.read_text()}"
            assert time.monotonic() < deadline, "the operation never started writing"
            time.sleep(0.01)
        workers = qemu_img_children_of(cli.pid)
        cli.send_signal(signal.SIGKILL)
        cli.wait()
    finally:
        if cli.poll() is None:
            cli.kill()
    for worker in workers:  # children die with the CLI (no writer left for nobody)
        assert process.wait_for_exit(worker, 10), f"qemu-img {worker} still runs"


def check_after(lab: Lab, before: list[str]) -> None:
    """What must hold right after a kill, before anything is run again."""
    assert lab.names() == before  # list works; no half-registered machine
    assert digest(lab.disk) == lab.digest  # the source disk is untouched


def test_a_killed_full_clone_leaves_the_source_intact_and_works_again(lab: Lab):
    before = lab.names()
    kill_half_way(lab, ["clone", "src", "copy"], writing)
    check_after(lab, before)
    lab.cli("clone", "src", "copy")
    assert lab.names() == sorted([*before, "copy"])
    assert lab.leftovers() == []
    lab.cli("delete", "copy", "--yes")


def test_a_killed_export_leaves_no_package_and_the_next_export_sweeps_its_parts(lab: Lab):
    target = lab.out / "src.ova"
    before = lab.names()
    kill_half_way(lab, ["export", "src", str(target)], writing)
    check_after(lab, before)
    assert not target.exists()  # nothing under the final name
    lab.cli("export", "src", str(target))
    assert target.is_file()
    assert lab.leftovers() == []


def test_a_killed_import_registers_nothing_and_the_next_import_works(lab: Lab):
    package = lab.out / "src.ova"
    if not package.exists():
        lab.cli("export", "src", str(package))
    before = lab.names()
    kill_half_way(lab, ["import", str(package), "--name", "imported"], writing)
    check_after(lab, before)
    lab.cli("import", str(package), "--name", "imported")
    assert lab.names() == sorted([*before, "imported"])
    assert lab.leftovers() == []
    lab.cli("delete", "imported", "--yes")


def test_a_killed_create_leaves_no_half_made_machine(lab: Lab):
    """Create is quick: kill it as soon as its folder is marked as being made; try a few
    times, and require at least one kill that landed before the record was complete."""
    before = lab.names()
    landed = 0

    def being_made(lab: Lab) -> bool:
        return any(lab.library.glob("*/.making"))

    for attempt in range(8):
        name = f"new{attempt}"
        try:
            kill_half_way(lab, ["create", "--backend", "qemu", "--name", name, "--disk", "2G"],
                          being_made)
        except AssertionError as error:
            if "finished before" not in str(error):
                raise
            lab.cli("delete", name, "--yes")
            continue
        landed += 1
        check_after(lab, before)
        lab.cli("create", "--backend", "qemu", "--name", name, "--disk", "2G")
        assert lab.leftovers() == []
        lab.cli("delete", name, "--yes")
    assert landed, "no kill landed while a machine was being made"
