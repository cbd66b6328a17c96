"""QEMU checks for `desktopvm-cli doctor`: the emulator, acceleration, firmware, qemu-img, space."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from backends.qemu import process
from backends.qemu.firmware import find_firmware
from backends.qemu.qemu_img import QemuImg, find_qemu_img
from backends.qemu.qemu_img import install_hint as qemu_img_hint
from desktopvm.connections import Check
from desktopvm.protocol import BackendError
from desktopvm.settings import Settings

GIB = 1024**3
LOW_SPACE_BYTES = 20 * GIB
KVM = Path("/dev/kvm")


def firmware_hint(platform: str = sys.platform) -> str:
    """Where UEFI builds with QEMU firmware descriptors come from."""
    if platform == "darwin":
        return "brew reinstall qemu (its share/qemu/firmware descriptors name the UEFI builds)"
    return ("sudo apt-get install ovmf (Debian/Ubuntu; edk2-ovmf on Fedora): UEFI, Secure Boot "
            "and Windows 11 guests need it")


def run(settings: Settings, kvm: Path = KVM) -> list[Check]:
    """The checks; a missing emulator stops the ones that need it."""
    binary = process.find_qemu(settings.qemu_binary)
    if binary is None:
        return [Check("QEMU", False, "qemu-system-x86_64 not found", process.install_hint()),
                *_tools(settings)]
    try:
        version = process.qemu_version(binary)
        accelerators = process.accelerators(binary)
    except BackendError as error:
        return [Check("QEMU", False, f"{binary}: {error.summary}", process.install_hint()),
                *_tools(settings)]
    checks = [Check("QEMU", True, f"{version} ({binary})"), _acceleration(accelerators, kvm)]
    plain, secure = find_firmware()
    checks.append(Check("UEFI firmware", plain is not None,
                        str(plain.code) if plain else "no UEFI build with a descriptor found",
                        "" if plain else firmware_hint()))
    checks.append(Check("UEFI with Secure Boot", secure is not None,
                        str(secure.code) if secure else "no Secure Boot build with Microsoft's "
                        "keys enrolled", "" if secure else firmware_hint()))
    return [*checks, *_tools(settings)]


def _acceleration(accelerators: set[str], kvm: Path) -> Check:
    if sys.platform == "darwin":
        ok = "hvf" in accelerators
        return Check("Acceleration", ok, "HVF" if ok else "this QEMU has no HVF",
                     "" if ok else "brew reinstall qemu")
    if sys.platform == "win32":
        ok = "whpx" in accelerators
        return Check("Acceleration", ok, "WHPX" if ok else "this QEMU has no WHPX",
                     "" if ok else "Turn on 'Windows Hypervisor Platform' in Windows Features")
    if "kvm" not in accelerators:
        return Check("Acceleration", False, "this QEMU was built without KVM (machines run "
                     "emulated, many times slower)", process.install_hint())
    if not kvm.exists():
        return Check("Acceleration", False, f"no {kvm}: virtualization is off in the firmware, "
                     "the kvm module is not loaded, or this is a VM without nested "
                     "virtualization (machines run emulated, many times slower)",
                     "Turn on VT-x/AMD-V in the UEFI/BIOS setup, then `sudo modprobe kvm_intel` "
                     "(or kvm_amd)")
    if not os.access(kvm, os.R_OK | os.W_OK):  # what process.accel_usable("kvm") asks
        return Check("Acceleration", False, f"{kvm} exists but this user cannot open it "
                     "(machines run emulated, many times slower)",
                     "sudo usermod -aG kvm $USER, then log out and back in")
    return Check("Acceleration", True, f"KVM ({kvm})")


def _tools(settings: Settings) -> list[Check]:
    checks = []
    img = QemuImg(find_qemu_img(settings.qemu_img_path,
                                process.find_qemu(settings.qemu_binary) or "")
                  or settings.qemu_img_path)
    try:
        checks.append(Check("qemu-img", True, img.version()))
    except BackendError as error:
        checks.append(Check("qemu-img", False, error.summary, qemu_img_hint()))
    swtpm = process.find_swtpm()
    checks.append(Check("swtpm (virtual TPM)", swtpm is not None, swtpm or "not installed",
                        "" if swtpm else "sudo apt-get install swtpm (Windows 11 guests need "
                        "a TPM)" if sys.platform != "darwin" else "brew install swtpm"))
    checks.append(_space(settings.library()))
    return checks


def _space(folder: Path) -> Check:
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent  # the library is created with the first machine
    free = shutil.disk_usage(probe).free
    detail = f"{folder}: {free / GIB:.1f} GiB free"
    return Check("Machine library", free >= LOW_SPACE_BYTES, detail,
                 "" if free >= LOW_SPACE_BYTES else "Free space there, or choose another "
                 "library folder in Preferences")
