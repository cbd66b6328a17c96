"""Fast checks of the guest ISO builder that need neither QEMU nor a kernel download."""

from __future__ import annotations

import gzip
import struct
import subprocess
from pathlib import Path

import pytest

from desktopvm.testing.guest import build_iso
from desktopvm.testing.guest.build_iso import MissingDependencyError, NewcArchive
from desktopvm.testing.qemu_guest import EV_REL, EV_SYN, REL_X, InputEvent, parse_input_dump


def test_missing_tool_error_names_the_debian_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(build_iso, "ISOLINUX_BIN", tmp_path / "no-isolinux.bin")
    with pytest.raises(MissingDependencyError, match=r"apt-get install isolinux\)"):
        build_iso.build_test_iso(tmp_path / "cache")
    assert not (tmp_path / "cache").exists()  # nothing is created before the check


def test_newc_archive_is_readable_by_cpio(tmp_path: Path) -> None:
    busybox = build_iso.BUSYBOX
    if not busybox.is_file():
        pytest.skip("needs busybox (Debian package busybox-static) to read the archive back")
    archive = NewcArchive()
    archive.directory("bin")
    archive.file("bin/hello", b"hi\n", mode=0o755)
    archive.symlink("bin/sh", "hello")
    archive.char_device("console", 5, 1)
    listing = subprocess.run(
        [str(busybox), "cpio", "-t", "-v"],
        input=archive.finish(),
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert [line.split()[-1] for line in listing.splitlines()] == [
        "bin",
        "bin/hello",
        "hello",  # symlinks list as "bin/sh -> hello"
        "console",
    ]
    assert "crw-------" in listing


def _busybox() -> Path:
    if not build_iso.BUSYBOX.is_file():
        pytest.skip("needs busybox (Debian package busybox-static)")
    return build_iso.BUSYBOX


def test_initramfs_holds_commands_and_on_demand_load_orders(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    busybox = _busybox()
    resolved = {
        build_iso.GUEST_MODULES: [("scsi_mod", b"scsi"), ("drm", b"drm")],
        ("bochs",): [("drm", b"drm"), ("bochs", b"bochs")],  # drm: shared, stored once
        ("sr_mod",): [("scsi_mod", b"scsi"), ("cdrom", b"cdrom"), ("sr_mod", b"sr")],
        ("isofs",): [],  # built into this kernel: no list
    }
    monkeypatch.setattr(build_iso, "resolve_modules", lambda _dir, wanted: resolved[wanted])
    archive = gzip.decompress(build_iso.build_initramfs(tmp_path, b"#!/bin/sh\n"))
    cpio = [str(busybox), "cpio"]
    listing = subprocess.run([*cpio, "-t"], input=archive, capture_output=True, check=True)
    assert listing.stdout.decode().split().count("lib/modules/drm.ko") == 1
    root = tmp_path / "root"
    root.mkdir()
    unpack = [*cpio, "-i", "-d", "bin/*", "lib/*"]  # not dev/console: mknod needs root
    subprocess.run(unpack, input=archive, cwd=root, capture_output=True, check=True)
    modules = root / "lib" / "modules"
    assert (modules / "load-order").read_text() == "scsi_mod.ko scan=manual\ndrm.ko\n"
    assert (modules / "on-demand" / "bochs").read_text() == "drm.ko\nbochs.ko\n"
    assert (modules / "on-demand" / "sr_mod").read_text() == \
        "scsi_mod.ko scan=manual\ncdrom.ko\nsr_mod.ko\n"
    assert not (modules / "on-demand" / "isofs").exists()
    assert (modules / "bochs.ko").read_bytes() == b"bochs"
    for command in ("load-driver", "record-input", "dump-input"):
        assert (root / "bin" / command).readlink() == Path("/init")


def test_dump_input_prints_events_the_decoder_reads(tmp_path: Path) -> None:
    busybox = _busybox()
    events = [InputEvent(EV_REL, REL_X, -3), InputEvent(EV_SYN, 0, 0)]
    recorded = tmp_path / "events"
    recorded.write_bytes(b"".join(struct.pack("<qqHHi", 1, 2, *event) for event in events))
    dump_input = tmp_path / "dump-input"  # the guest's command: a link to init.sh
    dump_input.symlink_to(build_iso.INIT_SCRIPT)
    command = [str(busybox), "sh", str(dump_input), str(recorded), "2"]
    output = subprocess.run(command, capture_output=True, check=True, timeout=60).stdout
    assert parse_input_dump(output) == events


def test_init_script_does_nothing_unless_it_is_pid_1() -> None:
    busybox = _busybox()
    command = [str(busybox), "sh", str(build_iso.INIT_SCRIPT)]
    run = subprocess.run(command, capture_output=True, check=False, timeout=60)
    assert (run.returncode, run.stdout, run.stderr) == (1, b"", b"")
