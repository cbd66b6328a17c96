"""OVF/OVA import and export at the model level: descriptors <-> MachineSpec, safe OVA files."""

from desktopvm.ovf.common import STREAM_OPTIMIZED_VMDK, OvfError, check_href
from desktopvm.ovf.fitting import fitted, unfitted
from desktopvm.ovf.manifest import format_manifest, read_manifest
from desktopvm.ovf.ova import extract_ova, write_ova
from desktopvm.ovf.package import check_appliance
from desktopvm.ovf.reader import Appliance, ApplianceDisk, read_ovf
from desktopvm.ovf.writer import ExportDisk, export_warnings, write_ovf

__all__ = [
    "STREAM_OPTIMIZED_VMDK",
    "Appliance",
    "ApplianceDisk",
    "ExportDisk",
    "OvfError",
    "check_appliance",
    "check_href",
    "export_warnings",
    "extract_ova",
    "fitted",
    "format_manifest",
    "read_manifest",
    "read_ovf",
    "unfitted",
    "write_ova",
    "write_ovf",
]
