"""Hyper-V host checks for `desktopvm-cli doctor`: doctor.ps1's answer as findings with fixes."""

from __future__ import annotations

from typing import Any

from backends.hyperv.errors import ENABLE_HYPERV_HINT, HYPERV_ADMINISTRATORS_HINT
from backends.hyperv.parsers import MIN_BUILD, os_build
from backends.hyperv.plans import Call
from backends.hyperv.runner import Runner
from desktopvm.connections import Check
from desktopvm.protocol import BackendError

GIB = 1024**3
#: Below this a new machine's disk (Windows 11 wants 64 GB) and its checkpoints will not fit.
LOW_SPACE_BYTES = 20 * GIB

FIRMWARE_HINT = ("Turn on Intel VT-x / AMD-V (often 'Virtualization Technology' or 'SVM "
                 "Mode') and SLAT in the computer's UEFI/BIOS setup, then start Windows again")
VIRTUALBOX_ON_HYPERV = (
    "VirtualBox {version} is installed while the Windows hypervisor runs, so VirtualBox runs "
    "its machines through the Windows Hypervisor Platform: much slower, and some versions fail "
    "to start machines at all. You can tell by the turtle icon in a VirtualBox machine's "
    "status bar and 'NEM' lines ('Attempting fall back to NEM') in its VBox.log. To give "
    "VirtualBox the CPU back, turn the hypervisor off (`bcdedit /set hypervisorlaunchtype off` "
    "as administrator, then restart; WSL 2, Windows Sandbox and Memory integrity keep it on) "
    "-- or keep Hyper-V and run these machines there.")


def run(runner: Runner) -> list[Check]:
    """Ask the host (doctor.ps1) and read its answer; a failure to ask is itself a finding."""
    try:
        answer = runner.run(Call("doctor"))
    except BackendError as error:
        return [Check("Hyper-V checks", False, error.summary,
                      "Check that Windows PowerShell 5.1 runs on the host")]
    return findings(answer)


def findings(answer: dict[str, Any]) -> list[Check]:
    """What doctor.ps1 found, in the order a support engineer would look."""
    checks: list[Check] = []
    build = os_build(str(answer.get("OsVersion", "")))
    windows = f"{answer.get('OsCaption') or 'Windows'} (build {build or '?'})"
    new_enough = build == 0 or build >= MIN_BUILD  # 0: not reported, not held against it
    checks.append(Check("Windows", new_enough, windows, "" if new_enough else
                        "DesktopVM needs Windows 10 1607 / Server 2016 (build 14393) or later"))
    feature = str(answer.get("HyperVFeature", "Unknown"))
    if feature == "Enabled":
        checks.append(Check("Hyper-V role", True, "enabled"))
    elif feature == "Unknown":
        checks.append(Check("Hyper-V role", True, "not reported by this Windows (checked by "
                            "the module and service below)"))
    else:
        checks.append(Check("Hyper-V role", False, feature.lower(), ENABLE_HYPERV_HINT))
    module = bool(answer.get("ModulePresent"))
    checks.append(Check("Hyper-V PowerShell module", module, "present" if module else "missing",
                        "" if module else "Enable-WindowsOptionalFeature -Online -FeatureName "
                        "Microsoft-Hyper-V-Management-PowerShell (Server: Install-WindowsFeature "
                        "Hyper-V-PowerShell)"))
    vmms = bool(answer.get("VmmsRunning"))
    checks.append(Check("Virtual Machine Management service", vmms,
                        "running" if vmms else "not running",
                        "" if vmms else "Start-Service vmms (as administrator); if it stops "
                        "again, the System event log says why"))
    hypervisor = bool(answer.get("HypervisorPresent"))
    firmware = bool(answer.get("VirtualizationFirmwareEnabled"))
    if hypervisor:
        checks.append(Check("Virtualization in firmware", True, "on (the Windows hypervisor "
                            "is running)"))
    elif firmware:
        checks.append(Check("Virtualization in firmware", False, "on, but the Windows "
                            "hypervisor is not running", "Run `bcdedit /set "
                            "hypervisorlaunchtype auto` as administrator and restart"))
    else:
        checks.append(Check("Virtualization in firmware", False, "off", FIRMWARE_HINT))
    admin = bool(answer.get("IsAdministrator"))
    member = bool(answer.get("IsHyperVAdmin"))
    checks.append(Check("Rights", admin or member,
                        "administrator" if admin else "member of Hyper-V Administrators"
                        if member else "neither an administrator nor in Hyper-V Administrators",
                        "" if admin or member else HYPERV_ADMINISTRATORS_HINT))
    for folder in answer.get("Folders") or []:
        checks.append(_space(folder))
    version = str(answer.get("VirtualBoxVersion") or "")
    if version and hypervisor:
        checks.append(Check("VirtualBox next to Hyper-V", False, f"VirtualBox {version}",
                            VIRTUALBOX_ON_HYPERV.format(version=version)))
    for error in answer.get("Errors") or []:
        checks.append(Check("Could not check", True, str(error)))
    return checks


def _space(folder: dict[str, Any]) -> Check:
    label = ("Default folder for machines" if folder.get("Kind") == "VirtualMachinePath"
             else "Default folder for virtual disks")
    free = int(folder.get("FreeBytes", -1))
    path = str(folder.get("Path", ""))
    if free < 0:
        return Check(label, True, f"{path} (free space unknown)")
    detail = f"{path}: {free / GIB:.1f} GiB free"
    return Check(label, free >= LOW_SPACE_BYTES, detail,
                 "" if free >= LOW_SPACE_BYTES else "Free space on that drive, or choose "
                 "other folders in Hyper-V Settings (Set-VMHost -VirtualMachinePath / "
                 "-VirtualHardDiskPath)")
