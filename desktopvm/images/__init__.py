"""Disk images from outside, read by their headers before any tool opens them.

A disk image can name other files: a qcow2 backing file or external data file, VMDK extents,
a VHD/VHDX parent. A tool that follows those names copies whatever they point at (the user's
private files, a network resource) into the new machine's disk. `inspect_image` reads only
the image's own headers, in pure Python; `check_untrusted` refuses everything that reaches
outside the image, and a format other than the one declared.
"""

from desktopvm.images.detect import inspect_image
from desktopvm.images.facts import ImageFacts, UnsafeImage
from desktopvm.images.policy import (
    check_package_disk,
    check_untrusted,
    check_untrusted_file,
    disk_format,
    new_outside_disks,
)

__all__ = [
    "ImageFacts",
    "UnsafeImage",
    "check_package_disk",
    "check_untrusted",
    "check_untrusted_file",
    "disk_format",
    "inspect_image",
    "new_outside_disks",
]
