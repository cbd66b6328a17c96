"""Capture real VBoxManage 7.2 outputs into tests/data/virtualbox/7.2 (run by hand, not a test).

    .venv/bin/python -m tests.backends.virtualbox.real.capture [FOLDER]

Runs the commands below in a private VirtualBox (see realvbox.py) whose files live under
FOLDER (default /tmp/desktopvm-vbox-capture, so the paths in the captures are short and
stable) and writes each output verbatim: stdout with the launcher's WARNING block, and
stderr/exit code where the file name says so. PROVENANCE.md lists what each file is.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.backends.virtualbox.real.realvbox import WRAPPER, RealVBox

DATA = Path(__file__).resolve().parents[3] / "data" / "virtualbox" / "7.2"


def main() -> None:
    """Capture everything (the folder is emptied first)."""
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/desktopvm-vbox-capture")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    vbox = RealVBox(folder, folder)
    vbox.start()
    try:
        capture(vbox)
    finally:
        vbox.stop()


def raw(vbox: RealVBox, *args: str) -> subprocess.CompletedProcess[str]:
    """One VBoxManage call, output untouched."""
    env = {**vbox.environment(), "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "LANGUAGE": "",
           "PATH": "/usr/bin:/bin"}
    return subprocess.run([str(WRAPPER), *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


def save(name: str, result: subprocess.CompletedProcess[str], *, errors: bool = False) -> None:
    """stdout to `name`; with `errors`, also `<name>.stderr` and `<name>.exit`."""
    DATA.mkdir(parents=True, exist_ok=True)
    (DATA / name).write_text(result.stdout, encoding="utf-8")
    if errors:
        (DATA / f"{name}.stderr").write_text(result.stderr, encoding="utf-8")
        (DATA / f"{name}.exit").write_text(f"{result.returncode}\n", encoding="utf-8")


def capture(vbox: RealVBox) -> None:
    """The captured session."""
    machines = vbox.machine_folder
    save("version.txt", raw(vbox, "--version"))
    save("list_hostinfo.txt", raw(vbox, "list", "hostinfo"))
    save("list_systemproperties.txt", raw(vbox, "list", "systemproperties"))
    save("list_ostypes.txt", raw(vbox, "list", "ostypes"))
    save("list_ostypes_long.txt", raw(vbox, "list", "--long", "ostypes"))
    # A machine VirtualBox made itself (no DesktopVM extra data).
    save("createvm.txt", raw(vbox, "createvm", "--name=ubuntu", "--ostype=Ubuntu_64",
                             "--register"), errors=True)
    save("showvminfo_ubuntu_made_by_virtualbox.txt",
         raw(vbox, "showvminfo", "ubuntu", "--machinereadable"))
    # The same machine with a bit of everything (what the stand-in's layout is checked with).
    com1 = str(machines / "ubuntu" / "com1.sock")
    raw(vbox, "modifyvm", "ubuntu", "--description=two\nlines", "--nat-pf1=ssh,tcp,,2222,,22",
        "--nic2=intnet", "--intnet2=lab", "--nic-type2=virtio", "--nic3=bridged",
        "--bridge-adapter3=eth0", "--uart1", "0x3F8", "4", "--uart-mode1", "server", com1,
        "--usb-xhci=on", "--mouse=usbtablet", "--boot1=dvd", "--boot2=disk", "--boot3=none")
    raw(vbox, "storagectl", "ubuntu", "--name", "SATA", "--add=sata", "--portcount=2")
    raw(vbox, "storageattach", "ubuntu", "--storagectl=SATA", "--port=1", "--device=0",
        "--type=dvddrive", "--medium=emptydrive")
    save("showvminfo_ubuntu_configured.txt",
         raw(vbox, "showvminfo", "ubuntu", "--machinereadable"))
    # Windows 11 as VirtualBox's own wizard would set it up: EFI, Secure Boot, TPM 2.0, NVMe.
    disk = str(machines / "win11" / "win11.vdi")
    for args in (["createvm", "--name=win11", "--ostype=Windows11_64", "--register"],
                 ["modifyvm", "win11", "--firmware=efi", "--tpm-type=2.0", "--cpus=2",
                  "--memory=4096", "--graphicscontroller=vboxsvga", "--vram=128"],
                 ["modifynvram", "win11", "inituefivarstore"],
                 ["modifynvram", "win11", "enrollmssignatures"],
                 ["modifynvram", "win11", "enrollorclpk"],
                 ["modifynvram", "win11", "secureboot", "--enable"],
                 ["storagectl", "win11", "--name=NVMe", "--add=pcie", "--controller=NVMe"],
                 ["storagectl", "win11", "--name=SATA", "--add=sata", "--controller=IntelAhci"]):
        raw(vbox, *args)
    save("createmedium.txt", raw(vbox, "createmedium", "disk", f"--filename={disk}",
                                 "--size=65536"), errors=True)
    raw(vbox, "storageattach", "win11", "--storagectl=NVMe", "--port=0", "--device=0",
        "--type=hdd", f"--medium={disk}")
    raw(vbox, "storageattach", "win11", "--storagectl=SATA", "--port=1", "--device=0",
        "--type=dvddrive", "--medium=emptydrive")
    save("showvminfo_win11_efi_secureboot_tpm.txt",
         raw(vbox, "showvminfo", "win11", "--machinereadable"))
    save("showmediuminfo_64g.txt", raw(vbox, "showmediuminfo", "disk", disk))
    shutil.copyfile(machines / "win11" / "win11.vbox", DATA / "win11.vbox")
    with Path(disk).open("rb") as image:  # the VDI header (the whole file is 2 MB of zeros)
        (DATA / "win11.vdi.head").write_bytes(image.read(512))
    save("startvm_without_driver.txt", raw(vbox, "startvm", "win11", "--type=headless"),
         errors=True)
    # Snapshots (offline), nested, and a linked clone hanging from one.
    raw(vbox, "snapshot", "win11", "take", "first", "--description=the base")
    raw(vbox, "snapshot", "win11", "take", "second")
    save("snapshot_list.txt", raw(vbox, "snapshot", "win11", "list", "--machinereadable"))
    raw(vbox, "clonevm", "win11", "--snapshot=second", "--options=link", "--name=linked",
        "--register")
    save("unregistervm_delete_base_of_linked_clone.txt",
         raw(vbox, "unregistervm", "win11", "--delete"), errors=True)
    # An OVA VirtualBox exports (OVF 1.0 and 2.0; the manifest as it writes it).
    export = vbox.folder / "export"
    export.mkdir()
    for ovf in ("ovf10", "ovf20"):
        raw(vbox, "export", "ubuntu", f"--output={export / ovf}.ovf", f"--{ovf}", "--manifest")
        shutil.copyfile(export / f"{ovf}.mf", DATA / f"export_{ovf}.mf")
        shutil.copyfile(export / f"{ovf}.ovf", DATA / f"export_{ovf}.ovf")


if __name__ == "__main__":
    main()
