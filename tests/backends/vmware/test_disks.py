"""Disk conversions vmware-vdiskmanager cannot do, through the real qemu-img."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from desktopvm.model import DiskFormat
from desktopvm.protocol import BackendUnavailable, CancelToken, InvalidSpec, no_progress
from desktopvm.testing.doubles.vmware.standin import FakeVMware

QEMU_IMG = shutil.which("qemu-img")
MIB = 2**20
needs_qemu_img = pytest.mark.skipif(QEMU_IMG is None, reason="qemu-img is not installed")


@needs_qemu_img
@pytest.mark.parametrize("other", [DiskFormat.QCOW2, DiskFormat.VHDX, DiskFormat.VDI,
                                   DiskFormat.VHD, DiskFormat.RAW], ids=str)
def test_other_formats_convert_into_vmdk_and_back_with_qemu_img(tmp_path: Path,
                                                                 other: DiskFormat):
    assert QEMU_IMG is not None
    backend = FakeVMware(tmp_path / "vmware").backend()
    name = {DiskFormat.VHD: "vpc"}.get(other, other.value)
    source = tmp_path / f"source.{other.extension}"
    subprocess.run([QEMU_IMG, "create", "-q", "-f", name, str(source), "64M"], check=True)
    size = backend.disk_info(source).virtual_size  # VHD rounds 64 MiB up to its geometry
    assert size >= 64 * MIB
    vmdk = backend.convert_disk(source, tmp_path / "into.vmdk", DiskFormat.VMDK,
                                progress=no_progress, cancel=CancelToken())
    assert (vmdk.format, vmdk.virtual_size) == ("vmdk", size)
    back = tmp_path / f"back.{other.extension}"
    out = backend.convert_disk(tmp_path / "into.vmdk", back, other, progress=no_progress,
                               cancel=CancelToken())
    assert (out.format, out.virtual_size) == (other.value, size)
    assert backend.disk_info(source).virtual_size == size  # the source stays
    assert not backend.vmrun.stats.starts.get("vmware-vdiskmanager")


def test_without_qemu_img_a_cross_format_conversion_says_what_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    backend = FakeVMware(tmp_path / "vmware").backend()
    source = tmp_path / "made.vmdk"
    backend.create_disk(source, DiskFormat.VMDK, 64 * MIB, progress=no_progress,
                        cancel=CancelToken())
    monkeypatch.setenv("DESKTOPVM_QEMU_IMG", "")
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    with pytest.raises(BackendUnavailable, match="needs qemu-img") as raised:
        backend.convert_disk(source, tmp_path / "out.qcow2", DiskFormat.QCOW2,
                             progress=no_progress, cancel=CancelToken())
    assert "qemu-utils" in raised.value.install_hint
    assert not (tmp_path / "out.qcow2").exists()


@needs_qemu_img
def test_a_disk_that_names_another_file_is_refused_before_qemu_img_opens_it(tmp_path: Path):
    assert QEMU_IMG is not None
    backend = FakeVMware(tmp_path / "vmware").backend()
    base = tmp_path / "base.qcow2"
    subprocess.run([QEMU_IMG, "create", "-q", "-f", "qcow2", str(base), "64M"], check=True)
    overlay = tmp_path / "overlay.qcow2"
    subprocess.run([QEMU_IMG, "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(base),
                    str(overlay)], check=True)
    with pytest.raises(InvalidSpec, match="backing file"):
        backend.convert_disk(overlay, tmp_path / "out.vmdk", DiskFormat.VMDK,
                             progress=no_progress, cancel=CancelToken())
    assert not (tmp_path / "out.vmdk").exists()
