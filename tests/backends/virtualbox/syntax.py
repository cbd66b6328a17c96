"""VBoxManage's documented syntax per version, to check generated plans against.

Sources: the man pages in VirtualBox/virtualbox doc/manual/en_US (man_VBoxManage-createvm,
-storagectl, -storageattach, -createmedium, -modifynvram, -snapshot, -clonevm, -controlvm),
VBoxManageModifyVM.cpp's option table (hyphenated spellings are 7.0+, `--x86-*` 7.1+), and
VBoxManageStorageController.cpp (`--add=virtio-scsi`). The modifyvm tables live with the
double (fakevbox/options.py), which refuses the same options, so plans and double agree.
"""

from __future__ import annotations

from desktopvm.testing.doubles.virtualbox.fakevbox.options import canonical, modifyvm_options

SERIES = {"6.1": (6, 1), "7.0": (7, 0), "7.1": (7, 1), "7.2": (7, 2)}
CREATEVM = {"--name", "--ostype", "--uuid", "--register", "--basefolder", "--groups",
            "--default"}
STORAGECTL = {"--name", "--add", "--controller", "--portcount", "--bootable", "--hostiocache",
              "--remove", "--rename"}
STORAGECTL_BUSES = {"floppy", "ide", "pcie", "sas", "sata", "scsi", "usb", "virtio-scsi"}
STORAGECTL_CHIPS = {"BusLogic", "I82078", "ICH6", "IntelAhci", "LSILogic", "LSILogicSAS",
                    "NVMe", "PIIX3", "PIIX4", "USB", "VirtIO"}
STORAGEATTACH = {"--storagectl", "--port", "--device", "--type", "--medium", "--mtype",
                 "--comment", "--nonrotational", "--discard", "--hotpluggable"}
CREATEMEDIUM = {"--filename", "--size", "--sizebyte", "--format", "--variant"}
NVRAM_70 = {"inituefivarstore", "enrollmssignatures", "enrollorclpk", "enrollpk", "enrollmok",
            "listvars", "queryvar", "deletevar", "changevar"}
NVRAM_71 = NVRAM_70 | {"secureboot"}


def options_of(argv: list[str]) -> list[str]:
    """The `--option` names in an argv (values after `=` dropped)."""
    return [a.split("=", 1)[0] for a in argv if a.startswith("--")]


def undocumented(argv: list[str], series: str) -> list[str]:
    """What in `argv` the documentation of `series` does not have (empty when all is well)."""
    version = SERIES[series]
    command = argv[0]
    wrong: list[str] = []
    if command == "createvm":
        allowed = CREATEVM | ({"--platform-architecture"} if version >= (7, 1) else set())
        wrong = [o for o in options_of(argv) if o not in allowed]
    elif command == "modifyvm":
        allowed = modifyvm_options(version)
        wrong = [o for o in options_of(argv) if o not in allowed and canonical(o)[0] not in allowed]
    elif command == "storagectl":
        wrong = [o for o in options_of(argv) if o not in STORAGECTL]
        values = dict(a.split("=", 1) for a in argv if a.startswith("--") and "=" in a)
        if values.get("--add", "sata") not in STORAGECTL_BUSES:
            wrong.append(values["--add"])
        if values.get("--controller", "PIIX4") not in STORAGECTL_CHIPS:
            wrong.append(values["--controller"])
    elif command == "storageattach":
        wrong = [o for o in options_of(argv) if o not in STORAGEATTACH]
    elif command == "createmedium":
        wrong = [o for o in options_of(argv) if o not in CREATEMEDIUM]
    elif command == "modifynvram":
        known = NVRAM_71 if version >= (7, 1) else NVRAM_70 if version >= (7, 0) else set()
        wrong = [] if argv[2] in known else [argv[2]]
    return wrong
