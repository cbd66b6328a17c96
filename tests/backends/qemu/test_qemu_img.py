"""Tests of the qemu-img door against the real qemu-img (and qemu-io to put data in images)."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.qemu.img_args import qemu_format
from backends.qemu.qemu_img import QemuImg, install_hint
from desktopvm.model.devices import DiskFormat
from desktopvm.protocol import (
    BackendUnavailable,
    CancelToken,
    CommandFailed,
    OperationCancelled,
    TimedOut,
    UnsupportedOperation,
)

MiB = 1024 * 1024

pytestmark = pytest.mark.skipif(
    shutil.which("qemu-img") is None or shutil.which("qemu-io") is None,
    reason="needs qemu-img and qemu-io (apt-get install qemu-utils)",
)


def qemu_io(image: Path, command: str, fmt: str = "qcow2") -> subprocess.CompletedProcess[str]:
    """Run one qemu-io command on `image` (test tooling: put data in, check data is there)."""
    return subprocess.run(["qemu-io", "-f", fmt, "-c", command, str(image)],
                          capture_output=True, text=True, timeout=30, check=False)


def write_pattern(image: Path, pattern: int, offset: int, length: int) -> None:
    result = qemu_io(image, f"write -P {pattern:#x} {offset} {length}")
    assert result.returncode == 0 and "wrote" in result.stdout, result.stdout + result.stderr


def has_pattern(image: Path, pattern: int, offset: int, length: int) -> bool:
    result = qemu_io(image, f"read -P {pattern:#x} {offset} {length}")
    return result.returncode == 0 and "Pattern verification failed" not in result.stdout


@pytest.fixture
def qemu_img() -> QemuImg:
    return QemuImg()


@pytest.fixture
def data_qcow2(tmp_path: Path, qemu_img: QemuImg) -> Path:
    """A 64 MiB qcow2 with recognisable data at its start, middle and end."""
    image = tmp_path / "data.qcow2"
    qemu_img.create(image, DiskFormat.QCOW2, 64 * MiB)
    write_pattern(image, 0xAB, 0, MiB)
    write_pattern(image, 0x5C, 20 * MiB + 4096, 3 * 4096)
    write_pattern(image, 0xEF, 63 * MiB, MiB)
    return image


@pytest.fixture(scope="module")
def random_raw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A 64 MiB raw image of incompressible data, so converting it takes a moment."""
    image = tmp_path_factory.mktemp("random") / "random.img"
    with image.open("wb") as file:
        for _ in range(64):
            file.write(os.urandom(MiB))
    yield image
    image.unlink()


# -- the binary ------------------------------------------------------------------------------------
def test_version(qemu_img: QemuImg) -> None:
    version = qemu_img.version()
    assert version[0].isdigit() and version.count(".") >= 1
    probe = qemu_img.probe()
    assert probe.available and probe.version == version


def test_missing_binary_is_unavailable_with_install_hint() -> None:
    qemu_img = QemuImg("/nonexistent/qemu-img")
    with pytest.raises(BackendUnavailable) as caught:
        qemu_img.version()
    assert "/nonexistent/qemu-img" in caught.value.summary
    assert caught.value.install_hint == install_hint()
    probe = qemu_img.probe()
    assert not probe.available and probe.install_hint == install_hint()


def test_binary_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DESKTOPVM_QEMU_IMG", "/nonexistent/from-env/qemu-img")
    with pytest.raises(BackendUnavailable, match="from-env"):
        QemuImg().info(tmp_path / "x.qcow2")


def test_install_hints_per_platform() -> None:
    assert install_hint("linux") == "sudo apt-get install qemu-utils"
    assert install_hint("darwin") == "brew install qemu"
    assert "QEMU for Windows" in install_hint("win32")


def test_commands_are_logged_at_debug(qemu_img: QemuImg, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="backends.qemu.qemu_img"):
        qemu_img.version()
    assert any("--version" in record.getMessage() for record in caplog.records)


def test_timeout_kills_and_raises(tmp_path: Path, random_raw: Path) -> None:
    target = tmp_path / "slow.qcow2"
    with pytest.raises(TimedOut):
        QemuImg(convert_timeout=0.01).convert(random_raw, target, DiskFormat.QCOW2,
                                              compress=True)
    assert not target.exists()


# -- create, info, resize --------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", list(DiskFormat))
def test_create_each_format(qemu_img: QemuImg, tmp_path: Path, fmt: DiskFormat) -> None:
    image = tmp_path / f"disk.{fmt.extension}"
    info = qemu_img.create(image, fmt, 64 * MiB)
    assert info.format == fmt.value
    assert info.details["format"] == qemu_format(fmt)
    if fmt is DiskFormat.VHD:  # vpc rounds up to a whole CHS geometry
        assert 64 * MiB <= info.virtual_size < 65 * MiB
    else:
        assert info.virtual_size == 64 * MiB
    assert info.path == str(image)
    assert info.actual_size < 64 * MiB  # dynamically sized
    assert info.backing_file == ""
    assert qemu_img.info(image) == info


def test_create_refuses_to_overwrite(qemu_img: QemuImg, tmp_path: Path) -> None:
    image = tmp_path / "taken.qcow2"
    image.write_bytes(b"precious")
    with pytest.raises(CommandFailed, match="already exists; not overwritten"):
        qemu_img.create(image, DiskFormat.QCOW2, MiB)
    assert image.read_bytes() == b"precious"


def test_create_cancelled_leaves_nothing(qemu_img: QemuImg, tmp_path: Path) -> None:
    token = CancelToken()
    token.cancel()
    image = tmp_path / "never.qcow2"
    with pytest.raises(OperationCancelled):
        qemu_img.create(image, DiskFormat.QCOW2, MiB, cancel=token)
    assert not image.exists()


def test_create_failure_removes_partial_file(qemu_img: QemuImg, tmp_path: Path) -> None:
    image = tmp_path / "bad.vdi"
    with pytest.raises(CommandFailed) as caught:
        qemu_img.create(image, DiskFormat.VDI, 1 << 62)  # beyond what VDI can address
    assert caught.value.exit_code not in (None, 0)
    assert not image.exists()


def test_missing_image_names_the_path(qemu_img: QemuImg, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.qcow2"
    with pytest.raises(CommandFailed) as caught:
        qemu_img.info(missing)
    assert caught.value.summary == f"No disk image at {missing}"
    assert caught.value.exit_code not in (None, 0)
    assert "info" in caught.value.command
    assert caught.value.stderr


def test_resize_grows(qemu_img: QemuImg, data_qcow2: Path) -> None:
    info = qemu_img.resize(data_qcow2, 96 * MiB)
    assert info.virtual_size == 96 * MiB
    assert has_pattern(data_qcow2, 0xEF, 63 * MiB, MiB)


def test_resize_cancelled_before_start(qemu_img: QemuImg, data_qcow2: Path) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(OperationCancelled):
        qemu_img.resize(data_qcow2, 128 * MiB, cancel=token)
    assert qemu_img.info(data_qcow2).virtual_size == 64 * MiB


def test_shrink_is_refused(qemu_img: QemuImg, data_qcow2: Path) -> None:
    with pytest.raises(CommandFailed, match="shrinking would destroy data"):
        qemu_img.resize(data_qcow2, 32 * MiB)
    assert qemu_img.info(data_qcow2).virtual_size == 64 * MiB


def test_resize_unsupported_format(qemu_img: QemuImg, tmp_path: Path) -> None:
    image = tmp_path / "fixed.vhdx"
    qemu_img.create(image, DiskFormat.VHDX, 8 * MiB)
    with pytest.raises(UnsupportedOperation, match="cannot resize vhdx"):
        qemu_img.resize(image, 16 * MiB)


# -- convert and compare ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fmt", "subformat"),
    [
        (DiskFormat.VDI, ""),
        (DiskFormat.VHDX, ""),
        (DiskFormat.VMDK, ""),
        (DiskFormat.VMDK, "streamOptimized"),
        (DiskFormat.VHD, ""),
        (DiskFormat.RAW, ""),
    ],
)
def test_convert_round_trip(
    qemu_img: QemuImg, data_qcow2: Path, tmp_path: Path, fmt: DiskFormat, subformat: str
) -> None:
    there = tmp_path / f"there.{fmt.extension}"
    info = qemu_img.convert(data_qcow2, there, fmt, subformat=subformat)
    assert info.format == fmt.value
    if subformat:
        assert info.details["format-specific"]["data"]["create-type"] == subformat  # type: ignore[index]
    assert qemu_img.compare(data_qcow2, there)
    back = tmp_path / "back.qcow2"
    assert qemu_img.convert(there, back, DiskFormat.QCOW2).format == "qcow2"
    assert qemu_img.compare(data_qcow2, back)
    assert has_pattern(back, 0x5C, 20 * MiB + 4096, 3 * 4096)


def test_convert_compressed_qcow2(qemu_img: QemuImg, data_qcow2: Path, tmp_path: Path) -> None:
    target = tmp_path / "small.qcow2"
    qemu_img.convert(data_qcow2, target, DiskFormat.QCOW2, compress=True)
    assert qemu_img.compare(data_qcow2, target)


def test_compare_sees_differences(qemu_img: QemuImg, data_qcow2: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.qcow2"
    qemu_img.convert(data_qcow2, copy, DiskFormat.QCOW2)
    write_pattern(copy, 0x11, 30 * MiB, 512)
    assert not qemu_img.compare(data_qcow2, copy)
    with pytest.raises(CommandFailed, match="No disk image at"):
        qemu_img.compare(data_qcow2, tmp_path / "gone.qcow2")


def test_convert_refuses_existing_target(
    qemu_img: QemuImg, data_qcow2: Path, tmp_path: Path
) -> None:
    target = tmp_path / "there.vdi"
    target.write_bytes(b"keep me")
    with pytest.raises(CommandFailed, match="already exists"):
        qemu_img.convert(data_qcow2, target, DiskFormat.VDI)
    assert target.read_bytes() == b"keep me"


def test_convert_missing_source(qemu_img: QemuImg, tmp_path: Path) -> None:
    source = tmp_path / "absent.qcow2"
    with pytest.raises(CommandFailed, match=f"No disk image at {source}"):
        qemu_img.convert(source, tmp_path / "out.vdi", DiskFormat.VDI)
    assert not (tmp_path / "out.vdi").exists()


def test_convert_reports_progress_as_it_goes(
    qemu_img: QemuImg, random_raw: Path, tmp_path: Path
) -> None:
    target = tmp_path / "random.qcow2"
    reports: list[tuple[float | None, str, int]] = []

    def progress(fraction: float | None, stage: str, /) -> None:
        reports.append((fraction, stage, target.stat().st_size if target.exists() else 0))

    info = qemu_img.convert(random_raw, target, DiskFormat.QCOW2, progress=progress)
    fractions = [fraction for fraction, _, _ in reports if fraction is not None]
    assert len(fractions) == len(reports) > 2
    assert fractions == sorted(fractions) and len(set(fractions)) == len(fractions)
    assert fractions[-1] == 1.0
    assert {stage for _, stage, _ in reports} == {"Converting"}
    # Reports came while qemu-img was still writing, not all at the end.
    final_size = target.stat().st_size
    assert any(size < final_size for fraction, _, size in reports if fraction != 1.0)
    assert info.virtual_size == 64 * MiB


def test_cancel_during_convert(qemu_img: QemuImg, random_raw: Path, tmp_path: Path) -> None:
    target = tmp_path / "cancelled.qcow2"
    token = CancelToken()
    seen: list[float | None] = []

    def progress(fraction: float | None, stage: str, /) -> None:
        seen.append(fraction)
        token.cancel()

    with pytest.raises(OperationCancelled):
        qemu_img.convert(random_raw, target, DiskFormat.QCOW2, compress=True,
                         progress=progress, cancel=token)
    assert seen[0] == 0.0 and 1.0 not in seen
    assert not target.exists()


# -- linked clones ---------------------------------------------------------------------------------
def test_linked_clone(qemu_img: QemuImg, data_qcow2: Path, tmp_path: Path) -> None:
    clone = tmp_path / "clone.qcow2"
    info = qemu_img.create(clone, DiskFormat.QCOW2, 0, backing_file=data_qcow2)
    assert info.backing_file == str(data_qcow2)
    assert info.details["backing-filename-format"] == "qcow2"
    assert info.virtual_size == 64 * MiB
    assert has_pattern(clone, 0xAB, 0, MiB)
    write_pattern(clone, 0x77, 0, 4096)
    assert has_pattern(data_qcow2, 0xAB, 0, MiB)  # the base is untouched

    relative = tmp_path / "relative.qcow2"
    info = qemu_img.create(relative, DiskFormat.QCOW2, 128 * MiB,
                           backing_file=Path(data_qcow2.name), backing_format=DiskFormat.QCOW2)
    assert info.details["backing-filename"] == data_qcow2.name
    assert info.virtual_size == 128 * MiB

    with pytest.raises(UnsupportedOperation, match="linked clones"):
        qemu_img.create(tmp_path / "clone.vdi", DiskFormat.VDI, 0, backing_file=data_qcow2)


# -- snapshots -------------------------------------------------------------------------------------
def test_snapshots(qemu_img: QemuImg, data_qcow2: Path) -> None:
    assert qemu_img.snapshot_list(data_qcow2) == []
    qemu_img.snapshot_create(data_qcow2, "clean")
    write_pattern(data_qcow2, 0x99, 0, MiB)
    qemu_img.snapshot_create(data_qcow2, "dirty")
    assert [s["name"] for s in qemu_img.snapshot_list(data_qcow2)] == ["clean", "dirty"]
    with pytest.raises(CommandFailed, match="already has a snapshot named 'clean'"):
        qemu_img.snapshot_create(data_qcow2, "clean")

    qemu_img.snapshot_apply(data_qcow2, "clean")
    assert has_pattern(data_qcow2, 0xAB, 0, MiB)
    qemu_img.snapshot_apply(data_qcow2, "dirty")
    assert has_pattern(data_qcow2, 0x99, 0, MiB)

    qemu_img.snapshot_delete(data_qcow2, "dirty")
    assert [s["name"] for s in qemu_img.snapshot_list(data_qcow2)] == ["clean"]
    with pytest.raises(CommandFailed, match="no snapshot named 'dirty'"):
        qemu_img.snapshot_apply(data_qcow2, "dirty")
    with pytest.raises(CommandFailed, match="no snapshot named 'dirty'"):
        qemu_img.snapshot_delete(data_qcow2, "dirty")


def test_snapshots_need_qcow2(qemu_img: QemuImg, tmp_path: Path) -> None:
    image = tmp_path / "disk.vdi"
    qemu_img.create(image, DiskFormat.VDI, MiB)
    with pytest.raises(UnsupportedOperation, match="Only qcow2 disks can hold snapshots"):
        qemu_img.snapshot_create(image, "s")
    with pytest.raises(UnsupportedOperation):
        qemu_img.snapshot_list(image)


# -- an image another process has open -------------------------------------------------------------
def test_locked_image(qemu_img: QemuImg, data_qcow2: Path) -> None:
    holder = subprocess.Popen(["qemu-io", "-f", "qcow2", str(data_qcow2)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    assert holder.stdin is not None and holder.stdout is not None
    try:
        holder.stdin.write(b"read 0 512\n")
        holder.stdin.flush()
        assert b"read 512/512" in holder.stdout.readline()  # the image is open now
        info = qemu_img.info(data_qcow2)  # retried with -U
        assert info.virtual_size == 64 * MiB
        with pytest.raises(CommandFailed, match="in use by another program") as caught:
            qemu_img.resize(data_qcow2, 128 * MiB)
        assert 'Failed to get "write" lock' in caught.value.stderr
        with pytest.raises(CommandFailed, match="in use"):
            qemu_img.snapshot_create(data_qcow2, "s")
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
        holder.stdout.close()
    assert qemu_img.resize(data_qcow2, 128 * MiB).virtual_size == 128 * MiB
