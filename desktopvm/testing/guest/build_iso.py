"""Build and cache the tiny bootable test-guest ISO (Debian kernel + busybox) for QEMU tests."""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import gzip
import hashlib
import json
import logging
import lzma
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal, get_args

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
INIT_SCRIPT = HERE / "init.sh"

# "cloud" boots ~3 s faster under TCG (LZ4-compressed kernel vs xz) but has no AHCI, e1000,
# e1000e or USB drivers; "generic" has them all, for tests of that hardware. The versioned
# package (ABI number) behind each metapackage is resolved through apt at build time.
KernelFlavour = Literal["cloud", "generic"]
KERNEL_METAPACKAGES: dict[KernelFlavour, str] = {
    "cloud": "linux-image-cloud-amd64",
    "generic": "linux-image-amd64",
}
KERNEL_CMDLINE = "console=tty0 console=ttyS0,115200 panic=-1"

BUSYBOX = Path("/bin/busybox")
ISOLINUX_BIN = Path("/usr/lib/ISOLINUX/isolinux.bin")
ISOHYBRID_MBR = Path("/usr/lib/ISOLINUX/isohdpfx.bin")
LDLINUX_C32 = Path("/usr/lib/syslinux/modules/bios/ldlinux.c32")

# Drivers the guest loads, in load order (dependencies are added automatically). Ones that are
# built into the kernel, or missing from it, are skipped. sd_mod goes before the SCSI/ATA host
# drivers so disks are bound while the host driver's insmod is still waiting for its probes.
GUEST_MODULES = (
    "button",  # ACPI power button -> QEMU system_powerdown
    "evdev",  # /dev/input/event* to read that button press
    "sd_mod",
    "virtio_pci",
    "virtio_blk",
    "virtio_scsi",
    "virtio_net",
    "ata_piix",
    "ahci",
    "nvme",
    "e1000",
    "e1000e",
    # Pointer devices, so tests can see the guest receive pointer events: QEMU's PS/2 mouse
    # (i8042 is built in) and its USB tablet on a qemu-xhci controller. Only the generic kernel
    # has them; the cloud kernel has just hid_generic (it loads, to no effect: no USB).
    "psmouse",
    "xhci_pci",
    "xhci_hcd",
    "usbhid",
    "hid_generic",
)
# No automatic SCSI host scans: a full virtio-scsi scan takes ~10 s under TCG, so init.sh scans
# just the first targets itself. libata adds its disks directly, unaffected by this.
MODULE_PARAMS = {"scsi_mod": "scan=manual"}
# Drivers in the initramfs that are not loaded at boot: `load-driver NAME` loads one (with its
# dependencies) from a shell. bochs is the DRM driver of QEMU's std VGA; it switches the
# console from VGA text mode to a framebuffer with a larger resolution (generic kernel only).
# sr_mod (with cdrom) gives /dev/sr* for the CD drives and isofs mounts them: the guest reads
# a second disc, such as an unattended install's seed, with `mount -t iso9660 /dev/sr1 /mnt`.
ON_DEMAND_DRIVERS = ("bochs", "sr_mod", "isofs")
# init.sh is also the guest's helper commands: these links to it run the function of their name.
GUEST_COMMANDS = ("load-driver", "record-input", "dump-input")

ISO_PREFIX = "desktopvm-test-guest-"
BUILD_DIR_PREFIX = ".build-"
VOLUME_ID = "DESKTOPVM_TEST"
# Fixed timestamps (cpio, gzip, ISO) make the output depend only on the inputs.
SOURCE_DATE_EPOCH = 1_700_000_000


class MissingDependencyError(RuntimeError):
    """A host tool or file needed to build the guest is missing; the message names the package."""


@dataclasses.dataclass(frozen=True)
class GuestInputs:
    """Everything the ISO content depends on; its hash is part of the cached file name."""

    kernel_metapackage: str
    kernel_package: str
    kernel_version: str
    busybox_version: str
    isolinux_version: str
    init_script: str
    isolinux_cfg: str
    builder_sha256: str  # this file: module list, build steps... any change rebuilds

    def digest(self) -> str:
        """Short, stable hash of all inputs."""
        blob = json.dumps(dataclasses.asdict(self), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def default_cache_dir() -> Path:
    """$DESKTOPVM_TEST_CACHE, else ~/.cache/desktopvm-tests."""
    env = os.environ.get("DESKTOPVM_TEST_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "desktopvm-tests"


def build_test_iso(cache_dir: Path | None = None, flavour: KernelFlavour = "cloud") -> Path:
    """Return the path of the cached test-guest ISO, building it first if needed."""
    if flavour not in KERNEL_METAPACKAGES:
        choices = get_args(KernelFlavour)
        raise ValueError(f"unknown kernel flavour {flavour!r}, use one of {choices}")
    check_build_dependencies()
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    inputs = collect_inputs(KERNEL_METAPACKAGES[flavour])
    iso = cache_dir / f"{ISO_PREFIX}{flavour}-{inputs.digest()}.iso"
    if iso.exists():
        return iso
    # Several pytest workers may get here at once: one builds, the others wait and reuse it.
    # One lock for the whole cache keeps builds, clean-up and pruning from racing each other.
    with _exclusive_lock(cache_dir / ".build.lock"):
        if not iso.exists():
            _remove_abandoned_builds(cache_dir)
            started = time.monotonic()
            _build_iso(inputs, iso)
            log.info("built %s in %.1f s", iso, time.monotonic() - started)
            _prune_stale_isos(cache_dir, f"{ISO_PREFIX}{flavour}-", keep=iso)
    return iso


# --- host requirements ----------------------------------------------------------------------


def check_build_dependencies() -> None:
    """Fail early, naming the Debian package to install, if any build input is missing."""
    for tool, package in (
        ("apt-cache", "apt"),
        ("apt-get", "apt"),
        ("dpkg-deb", "dpkg"),
        ("dpkg-query", "dpkg"),
        ("xorriso", "xorriso"),
    ):
        if shutil.which(tool) is None:
            raise _missing(f"the '{tool}' command", package)
    for path, package in (
        (BUSYBOX, "busybox-static"),
        (ISOLINUX_BIN, "isolinux"),
        (LDLINUX_C32, "syslinux-common"),
    ):
        if not path.is_file():
            raise _missing(str(path), package)
    # The Debian "busybox" package also installs /bin/busybox, but dynamically linked: it would
    # not run in an initramfs without libc.
    if _installed_version("busybox-static") is None:
        raise _missing("a static busybox", "busybox-static")


def _missing(what: str, package: str) -> MissingDependencyError:
    return MissingDependencyError(
        f"building the test guest ISO needs {what}: install the Debian package "
        f"'{package}' (apt-get install {package})"
    )


def _run(cmd: Sequence[str], cwd: Path | None = None) -> str:
    """Run a command, returning stdout; on failure raise with its stderr included."""
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr.strip()}")
    return proc.stdout


def _installed_version(package: str) -> str | None:
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f=${db:Status-Abbrev}${Version}", package],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0 or not proc.stdout.startswith("ii "):
        return None
    return proc.stdout[3:].strip()


# --- cache key ------------------------------------------------------------------------------


def collect_inputs(kernel_metapackage: str) -> GuestInputs:
    """Resolve versions and texts that determine the ISO content (cheap: no download)."""
    kernel_package, kernel_version = resolve_kernel_package(kernel_metapackage)
    return GuestInputs(
        kernel_metapackage=kernel_metapackage,
        kernel_package=kernel_package,
        kernel_version=kernel_version,
        busybox_version=_installed_version("busybox-static") or "",
        isolinux_version=_installed_version("isolinux") or "",
        init_script=INIT_SCRIPT.read_text(),
        isolinux_cfg=isolinux_cfg(),
        builder_sha256=hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
    )


def resolve_kernel_package(metapackage: str) -> tuple[str, str]:
    """Map the kernel metapackage to the versioned image package apt would install now."""
    # One apt-cache call: each costs ~0.5 s where apt keeps no binary cache (Docker images).
    # Debian's kernel metapackages pin their image: "Depends: linux-image-X (= VERSION)".
    show = _run(["apt-cache", "show", "--no-all-versions", metapackage])
    depends = re.search(r"^Depends:.*?\b(linux-image-[^\s,]+) \(= ([^)\s]+)\)", show, re.MULTILINE)
    if depends is None:
        raise RuntimeError(
            f"cannot resolve the kernel behind '{metapackage}' (has 'apt-get update' run?):\n"
            + show[:500]
        )
    return depends[1], depends[2]


def isolinux_cfg() -> str:
    """Boot the only entry at once: no prompt, no timeout."""
    return (
        "DEFAULT guest\n"
        "PROMPT 0\n"
        "TIMEOUT 0\n"
        "LABEL guest\n"
        "  KERNEL /boot/vmlinuz\n"
        f"  APPEND initrd=/boot/initrd.gz {KERNEL_CMDLINE}\n"
    )


# --- build ----------------------------------------------------------------------------------


@contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build_iso(inputs: GuestInputs, dest: Path) -> None:
    """Download the kernel, assemble initramfs + isolinux tree, and atomically publish the ISO."""
    log.info("building test guest ISO from %s %s", inputs.kernel_package, inputs.kernel_version)
    # Work next to dest so the final rename stays on one filesystem (atomic).
    with tempfile.TemporaryDirectory(prefix=BUILD_DIR_PREFIX, dir=dest.parent) as tmp:
        work = Path(tmp)
        kernel_root = _fetch_kernel(inputs.kernel_package, inputs.kernel_version, work)
        vmlinuz, modules_dir = _locate_kernel_files(kernel_root)
        tree = work / "iso"
        (tree / "boot").mkdir(parents=True)
        (tree / "isolinux").mkdir()
        shutil.copyfile(vmlinuz, tree / "boot" / "vmlinuz")
        initrd = build_initramfs(modules_dir, inputs.init_script.encode())
        (tree / "boot" / "initrd.gz").write_bytes(initrd)
        shutil.copyfile(ISOLINUX_BIN, tree / "isolinux" / "isolinux.bin")
        shutil.copyfile(LDLINUX_C32, tree / "isolinux" / "ldlinux.c32")
        (tree / "isolinux" / "isolinux.cfg").write_text(inputs.isolinux_cfg)
        partial = work / "guest.iso"
        _run_xorriso(tree, partial)
        partial.replace(dest)


def _fetch_kernel(package: str, version: str, work: Path) -> Path:
    """apt-get download the exact kernel package version and unpack it."""
    download = work / "deb"
    download.mkdir()
    # As root, apt warns that its _apt sandbox user cannot write to this private dir and
    # downloads as root instead; harmless, and _run only shows stderr on failure.
    _run(["apt-get", "download", "-q", f"{package}={version}"], cwd=download)
    debs = list(download.glob("*.deb"))
    if len(debs) != 1:
        raise RuntimeError(f"expected one .deb from apt-get download, got {debs}")
    root = work / "kernel"
    _run(["dpkg-deb", "-x", str(debs[0]), str(root)])
    debs[0].unlink()  # ~70 MB we no longer need
    return root


def _locate_kernel_files(root: Path) -> tuple[Path, Path]:
    vmlinuz = sorted((root / "boot").glob("vmlinuz-*"))
    modules = sorted(root.glob("lib/modules/*/kernel"))
    if len(vmlinuz) != 1 or len(modules) != 1:
        raise RuntimeError(f"unexpected kernel package layout: {vmlinuz} {modules}")
    return vmlinuz[0], modules[0].parent


def _run_xorriso(tree: Path, out: Path) -> None:
    cmd = [
        "xorriso", "-as", "mkisofs", "-quiet",
        "-o", str(out),
        "-V", VOLUME_ID,
        "-r",  # Rock Ridge with sane ownership/permissions
        "-c", "isolinux/boot.cat",
        "-b", "isolinux/isolinux.bin",
        "-no-emul-boot", "-boot-load-size", "4", "-boot-info-table",
    ]  # fmt: skip
    if ISOHYBRID_MBR.is_file():
        # Also bootable when attached as a disk (e.g. USB stick emulation), not only as a CD.
        cmd += ["-isohybrid-mbr", str(ISOHYBRID_MBR)]
    cmd.append(str(tree))
    # xorriso records file times as found; pin them (and, via the env, the volume dates).
    for path in (tree, *tree.rglob("*")):
        os.utime(path, (SOURCE_DATE_EPOCH, SOURCE_DATE_EPOCH))
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(SOURCE_DATE_EPOCH))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"xorriso failed ({proc.returncode}):\n{proc.stderr.strip()}")


def _remove_abandoned_builds(cache_dir: Path) -> None:
    """Work dirs of killed builders (hundreds of MB of kernel modules); we hold the lock."""
    for work in cache_dir.glob(f"{BUILD_DIR_PREFIX}*"):
        shutil.rmtree(work, ignore_errors=True)


def _prune_stale_isos(cache_dir: Path, prefix: str, keep: Path) -> None:
    """Drop same-flavour ISOs built from older inputs so the cache does not grow forever."""
    for old in cache_dir.glob(f"{prefix}*.iso"):
        if old != keep:
            old.unlink(missing_ok=True)


# --- kernel modules -------------------------------------------------------------------------


def _module_name(path_or_name: str) -> str:
    """Canonical module name: no directory/suffix, '-' and '_' are the same to the kernel."""
    base = path_or_name.rsplit("/", 1)[-1].split(".ko", 1)[0]
    return base.replace("-", "_")


def _index_modules(modules_dir: Path) -> dict[str, Path]:
    return {_module_name(p.name): p for p in (modules_dir / "kernel").rglob("*.ko*")}


def _builtin_modules(modules_dir: Path) -> set[str]:
    builtin = modules_dir / "modules.builtin"
    if not builtin.is_file():
        return set()
    return {_module_name(line) for line in builtin.read_text().split()}


def read_module(path: Path) -> bytes:
    """Module bytes, decompressed: busybox insmod cannot read compressed modules."""
    data = path.read_bytes()
    if path.name.endswith(".ko.xz"):
        return lzma.decompress(data)
    if path.name.endswith(".ko.gz"):
        return gzip.decompress(data)
    if path.name.endswith(".ko"):
        return data
    raise RuntimeError(f"unsupported module compression: {path.name}")


def module_depends(elf: bytes) -> list[str]:
    """The 'depends=' entry of the module's .modinfo ELF section (what modules.dep is made of)."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        raise RuntimeError("not a 64-bit ELF kernel module")
    shoff = struct.unpack_from("<Q", elf, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)

    def section(index: int) -> tuple[int, int, int]:
        base = shoff + index * shentsize
        name = struct.unpack_from("<I", elf, base)[0]
        offset, size = struct.unpack_from("<QQ", elf, base + 0x18)
        return name, offset, size

    _, strtab, _ = section(shstrndx)
    for index in range(shnum):
        name, offset, size = section(index)
        if elf[strtab + name : elf.index(b"\0", strtab + name)] == b".modinfo":
            for entry in elf[offset : offset + size].split(b"\0"):
                if entry.startswith(b"depends="):
                    return [d for d in entry[8:].decode().split(",") if d]
            return []
    raise RuntimeError("kernel module has no .modinfo section")


def resolve_modules(modules_dir: Path, wanted: Sequence[str]) -> list[tuple[str, bytes]]:
    """Wanted loadable modules plus their dependencies, ordered so each follows its deps."""
    available = _index_modules(modules_dir)
    builtin = _builtin_modules(modules_dir)
    ordered: dict[str, bytes] = {}  # insertion order == load order

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if name in ordered or name in builtin:
            return
        if name in chain:
            raise RuntimeError(f"module dependency cycle: {' -> '.join((*chain, name))}")
        if name not in available:
            raise RuntimeError(f"module '{name}' (needed by {chain[-1]}) is not in the kernel")
        data = read_module(available[name])
        for dep in module_depends(data):
            visit(_module_name(dep), (*chain, name))
        ordered[name] = data

    for name in wanted:
        if name not in available and name not in builtin:
            log.info("this kernel has no '%s' driver; the guest will not support it", name)
            continue
        visit(name, ())
    return list(ordered.items())


# --- initramfs ------------------------------------------------------------------------------


class NewcArchive:
    """Minimal writer for the cpio 'newc' format the kernel unpacks as initramfs."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._inode = 0

    def directory(self, path: str) -> None:
        self._entry(path, 0o040755, b"", nlink=2)

    def file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self._entry(path, 0o100000 | mode, data)

    def symlink(self, path: str, target: str) -> None:
        self._entry(path, 0o120777, target.encode())

    def char_device(self, path: str, major: int, minor: int, mode: int = 0o600) -> None:
        self._entry(path, 0o020000 | mode, b"", rdev=(major, minor))

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0, b"", inode=0)  # the format's end marker
        return b"".join(self._chunks)

    def _entry(
        self,
        path: str,
        mode: int,
        data: bytes,
        *,
        nlink: int = 1,
        rdev: tuple[int, int] = (0, 0),
        inode: int | None = None,
    ) -> None:
        self._inode += 1
        name = path.encode() + b"\0"
        fields = (
            self._inode if inode is None else inode,
            mode, 0, 0, nlink, SOURCE_DATE_EPOCH, len(data),
            0, 0, rdev[0], rdev[1], len(name), 0,
        )  # fmt: skip
        header = b"070701" + b"".join(b"%08X" % value for value in fields)
        self._chunks += [header, name, _pad4(len(header) + len(name)), data, _pad4(len(data))]


def _pad4(length: int) -> bytes:
    return b"\0" * (-length % 4)


def build_initramfs(modules_dir: Path, init_script: bytes) -> bytes:
    """gzip'd newc archive: busybox, /init and its commands, kernel modules and load orders."""
    archive = NewcArchive()
    for directory in (
        "bin", "dev", "etc", "lib", "lib/modules", "proc", "root", "sbin", "sys", "tmp",
        "usr", "usr/bin", "usr/sbin",
    ):  # fmt: skip
        archive.directory(directory)
    # The kernel opens /dev/console for init's stdio before init can mount devtmpfs.
    archive.char_device("dev/console", 5, 1)
    archive.file("bin/busybox", BUSYBOX.read_bytes(), mode=0o755)
    archive.symlink("bin/sh", "busybox")  # for init's #!/bin/sh
    archive.file("init", init_script, mode=0o755)
    for command in GUEST_COMMANDS:
        archive.symlink(f"bin/{command}", "/init")
    archive.directory("lib/modules/on-demand")
    stored: set[str] = set()

    def load_order(path: str, modules: list[tuple[str, bytes]]) -> None:
        # One "file.ko [params]" line per module, dependencies first; each file stored once.
        lines = []
        for name, data in modules:
            if name not in stored:
                archive.file(f"lib/modules/{name}.ko", data)
                stored.add(name)
            lines.append(f"{name}.ko {MODULE_PARAMS.get(name, '')}".rstrip() + "\n")
        archive.file(path, "".join(lines).encode())

    load_order("lib/modules/load-order", resolve_modules(modules_dir, GUEST_MODULES))
    for driver in ON_DEMAND_DRIVERS:
        modules = resolve_modules(modules_dir, (driver,))
        if modules:  # not in this kernel (or built in): load-driver will say so
            load_order(f"lib/modules/on-demand/{driver}", modules)
    return gzip.compress(archive.finish(), compresslevel=9, mtime=SOURCE_DATE_EPOCH)


def main(argv: Sequence[str]) -> int:
    """CLI: build_iso.py [OUT_DIR] [--flavour cloud|generic] -> prints the ISO path."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out_dir", nargs="?", type=Path, help="cache dir (default: %(default)s)")
    parser.add_argument("--flavour", choices=get_args(KernelFlavour), default="cloud")
    parser.set_defaults(out_dir=default_cache_dir())
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        print(build_test_iso(args.out_dir, args.flavour))
    except MissingDependencyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
