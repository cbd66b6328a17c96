"""What a disk image's headers say about it, and the error for an image we refuse."""

from __future__ import annotations

from dataclasses import dataclass, field


class UnsafeImage(Exception):
    """A disk image that must not be opened: it reaches outside itself, or is not what it says.

    The message is one line for a person: which image, what it does, why that is refused.
    """


@dataclass(frozen=True, slots=True)
class ImageFacts:
    """A disk image as its own headers describe it (nothing else was opened to learn this).

    `format` is one of "qcow2", "vmdk", "vhd", "vhdx", "vdi", "raw", "iso", or "other:NAME"
    for a format we recognise but do not take (qed, luks, parallels, …). `references` lists
    every way the image points outside itself, in words ("backing file '/etc/passwd'"); an
    image with none is self-contained. `problems` lists what makes it unusable as it is
    (damaged headers, encryption, unknown features).
    """

    format: str
    virtual_size: int = 0
    subformat: str = ""
    references: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    extents: tuple[str, ...] = field(default=())  # VMDK descriptor extents, as written
    backing_file: str = ""  # a qcow2's backing file name, as written in its header

    @property
    def self_contained(self) -> bool:
        """True when reading the image needs no other file, folder or network resource."""
        return not self.references
