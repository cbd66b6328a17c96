"""Which connections take seed discs: every backend here and ESXi (which uploads them); a
remote Hyper-V host is refused in words, by the CLI and by the window's Create, with nothing
written. (ESXi itself: tests/backends/esxi/test_seeds_esxi.py, on vcsim.)"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from desktopvm import seeds
from desktopvm.cli import build_parser, unattended_commands
from desktopvm.cli.common import Context, UsageError
from desktopvm.media.unattended import Answers, plan_seed
from desktopvm.model import MachineSpec, OpticalDrive, StorageController, catalog
from desktopvm.model.devices import ControllerKind
from desktopvm.protocol import CancelToken, no_progress
from desktopvm.registry import Registry
from desktopvm.testing.doubles.memory_backend import MemoryBackend


@pytest.fixture
def remote_hyperv(tmp_path: Path) -> MemoryBackend:
    """A stand-in for a Hyper-V host's connection: only its connection id matters here."""
    backend = MemoryBackend(tmp_path / "machines")
    backend.name = "hyperv@hv01"
    return backend


def ubuntu(tmp_path: Path) -> MachineSpec:
    iso = tmp_path / "ubuntu.iso"
    iso.write_bytes(b"disc")
    return MachineSpec(name="web", os="ubuntu24.04", storage=(StorageController(
        kind=ControllerKind.SATA, optical=(OpticalDrive(iso=str(iso)),)),))


def test_the_rule_per_connection() -> None:
    assert seeds.refusal("qemu") == seeds.refusal("virtualbox") == ""
    assert seeds.refusal("esxi@esx01.lab") == ""
    reason = seeds.refusal("hyperv@hv01")
    assert "remote Hyper-V host" in reason and "cannot copy a file" in reason


def test_the_cli_refuses_a_remote_hyperv_host_and_writes_nothing(
        remote_hyperv: MemoryBackend, tmp_path: Path) -> None:
    registry = Registry()
    args = build_parser().parse_args(["create", "--host", "hv01", "--name", "web", "--os",
                                      "ubuntu24.04", "--unattended", "--user", "ann",
                                      "--password-stdin"])
    out = io.StringIO()
    ctx = Context(args=args, registry=registry, out=out, err=io.StringIO(),
                  stdin=io.StringIO("pw\n"))
    with pytest.raises(UsageError, match=r"remote Hyper-V host.*WinRM"):
        unattended_commands.prepare(ctx, remote_hyperv, ubuntu(tmp_path), local=False)
    assert not seeds.seed_folder(registry.settings).exists()
    args.dry_run = True  # the dry run still prints the files
    assert unattended_commands.prepare(ctx, remote_hyperv, ubuntu(tmp_path), local=False) \
        is None
    assert "user-data" in out.getvalue()


def test_the_windows_create_refuses_a_remote_hyperv_host(remote_hyperv: MemoryBackend,
                                                         tmp_path: Path) -> None:
    registry = Registry()
    entry = catalog().get("ubuntu24.04")
    assert entry is not None
    plan = plan_seed(entry, Answers(user="ann", password="pw"), uefi=False,
                     backend_kind="hyperv", instance_id="i")
    with pytest.raises(seeds.SeedRefused, match="remote Hyper-V host"):
        seeds.create_with_seed(registry.settings, remote_hyperv, ubuntu(tmp_path), plan,
                               progress=no_progress, cancel=CancelToken())
    assert not seeds.seed_folder(registry.settings).exists()
    assert remote_hyperv.list_machines() == []
