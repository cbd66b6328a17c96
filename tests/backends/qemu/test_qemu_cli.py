"""desktopvm-cli drives real QEMU machines: the newcomer's workflow from the README."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from backends.qemu.backend import QemuBackend
from desktopvm.settings import load_settings
from desktopvm.testing.qemu_guest import READY, SerialReader

pytestmark = [pytest.mark.qemu, pytest.mark.slow]
CLI = str(Path(sys.executable).with_name("desktopvm-cli"))


def cli(*args: str, stdin: str | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([CLI, *args], input=stdin, capture_output=True, text=True,
                            timeout=300, env={**os.environ, "DESKTOPVM_QEMU_ACCEL": "tcg"},
                            check=False)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_create_boot_console_snapshot_clone_export_delete(guest_iso: Path, tmp_path: Path):
    name = "cli ‘demo’ vm"
    cli("create", "--backend", "qemu", "--name", name, "--os", "other-linux",
        "--firmware", "bios", "--memory", "256M", "--cpus", "1", "--disk", "64M",
        "--iso", str(guest_iso), "--network", "none")
    [row] = json.loads(cli("list", "--json").stdout)["machines"]
    assert (row["name"], row["state"], row["backend"]) == (name, "off", "qemu")
    cli("start", name, "--headless")
    # Wait for the guest's shell before talking to it through the CLI.
    reader = SerialReader(QemuBackend(load_settings()), row["id"])
    reader.wait_for(READY, poke=True)
    reader.close()
    console = cli("console", name, "--serial", "--idle", "1.5", stdin="echo hi-$((6*7))\n")
    assert "hi-42" in console.stdout
    shot = tmp_path / "screen.png"
    cli("screenshot", name, str(shot))
    assert shot.read_bytes().startswith(b"\x89PNG")
    cli("snapshot", "take", name, "booted", "--description", "shell up")
    listing = cli("snapshot", "list", name).stdout
    assert "booted [memory] *current*" in listing
    cli("poweroff", name)
    cli("clone", name, "cli copy")
    info = json.loads(cli("show", name, "--json").stdout)
    assert info["log"].endswith("qemu.log")  # where QEMU's own messages are
    assert f"Log:       {info['log']}" in cli("show", name).stdout
    disks = info["files"]
    assert disks and all(Path(p).exists() for p in disks)
    assert cli("delete", name, check=False).returncode == 2  # not a terminal: refuses
    cli("delete", name, "--delete-disks", "--yes")
    assert not any(Path(p).exists() for p in disks)
    names = [r["name"] for r in json.loads(cli("list", "--json").stdout)["machines"]]
    assert names == ["cli copy"]
    cli("delete", "cli copy", "--delete-disks", "--yes")


def test_disk_commands_round_trip(tmp_path: Path):
    source = tmp_path / "a.qcow2"
    cli("disk", "create", str(source), "64M")
    info = json.loads(cli("disk", "info", str(source), "--json").stdout)
    assert (info["format"], info["virtual_size"]) == ("qcow2", 64 * 1024**2)
    cli("disk", "resize", str(source), "128M")
    converted = tmp_path / "a.vdi"
    out = cli("disk", "convert", str(source), str(converted)).stdout
    assert "vdi" in out and "128" in out
    refused = cli("disk", "create", str(source), "1G", check=False)
    assert refused.returncode == 1 and "already exists" in refused.stderr
