"""desktopvm-cli restore / copy-to / move-to against real QEMU machines (16 MiB disks, TCG);
the VirtualBox side is the VBoxManage double (desktopvm/testing/doubles/virtualbox)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktopvm.cli import main
from desktopvm.protocol import CancelToken, no_progress
from desktopvm.registry import Registry
from desktopvm.settings import Settings
from desktopvm.testing.doubles.virtualbox.double import FakeVBox

pytestmark = [pytest.mark.qemu]


class Run:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = main(list(argv), registry=self.registry, out=out, err=err,
                    stdin=io.StringIO("y\n"))  # not a terminal: "y" must not be read as yes
        return code, out.getvalue(), err.getvalue()

    def ok(self, *argv: str) -> str:
        code, out, err = self(*argv)
        assert code == 0, err
        return out


@pytest.fixture
def vbox(tmp_path: Path) -> FakeVBox:
    return FakeVBox(tmp_path / "vbox", "7.1")


@pytest.fixture
def cli(tmp_path: Path, vbox: FakeVBox) -> Iterator[Run]:
    registry = Registry(Settings(library_dir=str(tmp_path / "library"), qemu_accel="tcg",
                                 vboxmanage_path=str(vbox.executable)))
    yield Run(registry)
    for machine in registry.open("qemu").list_machines():
        main(["delete", f"qemu:{machine.id}", "--delete-disks", "--yes"], registry=registry,
             out=io.StringIO(), err=io.StringIO())
    registry.close()


@pytest.fixture
def backed_up(cli: Run, tmp_path: Path) -> str:
    """A machine 'web' (128 MiB) and the path of its one full set."""
    cli.ok("create", "--backend", "qemu", "--name", "web", "--os", "other-linux",
           "--firmware", "bios", "--memory", "128M", "--cpus", "1", "--disk", "16M",
           "--network", "none")
    folder = tmp_path / "backups"
    folder.mkdir()
    cli.ok("backup", "web", "--to", str(folder))
    [made] = json.loads(cli.ok("backups", "list", str(folder), "--json"))
    return str(made["path"])


def machines(cli: Run) -> dict[str, dict[str, object]]:
    return {m["name"]: m for m in json.loads(cli.ok("list", "--json"))["machines"]}


def test_restore_as_a_new_machine(cli: Run, backed_up: str):
    code, _, err = cli("restore", backed_up, "--to", "qemu")
    assert code == 1 and "already called web" in err  # the same name: refused, nothing made
    assert set(machines(cli)) == {"web"}
    out = cli.ok("restore", backed_up, "--to", "qemu", "--name", "web restored")
    assert out.startswith("restored ") and "as web restored on qemu" in out
    assert machines(cli)["web restored"]["memory_mib"] == 128


def test_restore_over_asks_and_refuses_without_a_terminal(cli: Run, backed_up: str):
    qemu = cli.registry.open("qemu")
    [web] = qemu.list_machines()
    old = qemu.get_machine(web.id).spec
    qemu.update(web.id, old, old.model_copy(update={"memory": old.memory.model_copy(
        update={"size_mib": 256})}), progress=no_progress, cancel=CancelToken())
    code, out, err = cli("restore", backed_up, "--over", "web")
    assert code == 2 and "not restored (use --yes" in err and out == ""
    assert machines(cli)["web"]["memory_mib"] == 256  # untouched
    out = cli.ok("restore", backed_up, "--over", "web", "--yes")
    assert out.strip().startswith("web: restored from ")
    assert machines(cli)["web"]["memory_mib"] == 128
    code, _, err = cli("restore", backed_up, "--over", "web", "--name", "x", "--yes")
    assert code == 2 and "--over replaces a machine" in err
    code, _, err = cli("restore", backed_up + "-missing")
    assert code == 2 and "no such set folder" in err


def test_copy_to_prints_the_report_first(cli: Run, backed_up: str, vbox: FakeVBox):
    code, out, err = cli("copy-to", "web", "virtualbox", "--name", 'web "vb"')
    lines = out.splitlines()
    assert lines[0] == "From qemu to virtualbox (VirtualBox):"
    assert "disk 1 format: QCOW2 -> VDI (converted to VirtualBox 7.1's own disk format)" \
        in lines[1]
    # Whether the double takes the appliance or not, the source stays as it was.
    assert (code == 0) == ("copied web to virtualbox" in out), err
    assert machines(cli)["web"]["state"] == "off"


def test_move_to_asks_after_the_report_and_moves_nothing_without_yes(cli: Run, backed_up: str,
                                                                     vbox: FakeVBox):
    before = json.loads((vbox.folder / "state.json").read_text())["vms"]
    code, out, err = cli("move-to", "web", "virtualbox")
    assert code == 2 and "not moved (use --yes" in err
    assert out.startswith("From qemu to virtualbox")
    assert json.loads((vbox.folder / "state.json").read_text())["vms"] == before
    assert "web" in machines(cli)
    code, _, err = cli("copy-to", "web", "qemu")
    assert code == 2 and "`clone` copies it there" in err
