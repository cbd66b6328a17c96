"""Backup points of QEMU disks: our persistent dirty bitmaps, found, judged and removed.

A point is a persistent dirty bitmap with the same name on each qcow2 disk of a machine: it
records every cluster the guest writes after the backup that made it, so the next backup
copies only those. QEMU refuses to revert a disk to an internal snapshot while it carries a
bitmap ("Device has active dirty bitmaps") — and a revert would change the disk behind the
bitmap's back anyway — so reverting a snapshot forgets the points first (the next backup is
then a full one, which is always right).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backends.qemu import qmp, storage_daemon
from backends.qemu.qemu_img import QemuImg
from desktopvm.protocol import BackendError

log = logging.getLogger(__name__)

PREFIX = "desktopvm-backup-"


def new_point() -> str:
    """A name no earlier point had: points are never reused, so a `since` from another
    destination's chain (or from before `forget`) can never match a newer bitmap."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{PREFIX}{stamp}-{secrets.token_hex(4)}"


@dataclass(frozen=True, slots=True)
class Bitmap:
    """A dirty bitmap as QMP describes it."""

    name: str
    recording: bool = True
    busy: bool = False
    inconsistent: bool = False  # its QEMU was killed while it was open: it may miss writes

    @property
    def ours(self) -> bool:
        return self.name.startswith(PREFIX)

    @property
    def usable(self) -> bool:
        """Whether it holds every write since its point."""
        return self.recording and not self.busy and not self.inconsistent


def node_names(session: qmp.Qmp, drives: Sequence[str]) -> dict[str, str]:
    """drive id -> the format node carrying its bitmaps.

    In a machine's QEMU a drive id names a device whose root node has a generated name; in
    the storage daemon the drive id is the node's own name.
    """
    devices = {str(b.get("device")): str(b.get("inserted", {}).get("node-name", ""))
               for b in session.execute("query-block") if b.get("inserted")}
    return {drive: devices.get(drive) or drive for drive in drives}


def bitmaps(session: qmp.Qmp, nodes: Iterable[str]) -> dict[str, list[Bitmap]]:
    """The dirty bitmaps of each node."""
    wanted = set(nodes)
    found: dict[str, list[Bitmap]] = {node: [] for node in wanted}
    for node in session.execute("query-named-block-nodes", {"flat": True}):
        name = str(node.get("node-name", ""))
        if name in wanted:
            found[name] = [_bitmap(b) for b in node.get("dirty-bitmaps", [])]
    return found


def _bitmap(data: dict[str, Any]) -> Bitmap:
    return Bitmap(name=str(data.get("name", "")), recording=bool(data.get("recording", True)),
                  busy=bool(data.get("busy", False)),
                  inconsistent=bool(data.get("inconsistent", False)))


def remove_ours(session: qmp.Qmp, nodes: Iterable[str], keep: str = "") -> None:
    """Remove every point of ours on `nodes` except `keep` (best effort, logged)."""
    for node, found in bitmaps(session, nodes).items():
        for bitmap in found:
            if bitmap.ours and bitmap.name != keep:
                try:
                    session.execute("block-dirty-bitmap-remove",
                                    {"node": node, "name": bitmap.name})
                except BackendError as error:
                    log.warning("could not remove backup point %s from %s: %s", bitmap.name,
                                node, error.summary)


def forget_running(session: qmp.Qmp, drives: Sequence[str]) -> None:
    """Remove our points from a running machine's drives."""
    remove_ours(session, node_names(session, drives).values())


def offline_points(qemu_img: QemuImg, image: Path) -> list[str]:
    """Our points stored in a qcow2 image (read from its header by qemu-img)."""
    try:
        info = qemu_img.info(image)
    except BackendError as error:
        log.warning("cannot read the backup points of %s: %s", image, error.summary)
        return []
    specific = info.details.get("format-specific")
    data = specific.get("data") if isinstance(specific, dict) else None
    found = data.get("bitmaps", []) if isinstance(data, dict) else []
    return [str(b.get("name")) for b in found
            if isinstance(b, dict) and str(b.get("name", "")).startswith(PREFIX)]


def forget_off(qemu_img: QemuImg, images: Sequence[Path]) -> None:
    """Remove our points from the images of a machine that is off.

    qemu-img says which images carry points; only those are opened, by the storage daemon
    (the same block-dirty-bitmap-remove as on a running machine).
    """
    carrying = [image for image in images
                if image.exists() and offline_points(qemu_img, image)]
    if not carrying:
        return
    served = [storage_daemon.ServedImage(f"img{index}", image, "qcow2")
              for index, image in enumerate(carrying)]
    with storage_daemon.serving(served) as sock, qmp.connect(sock) as session:
        remove_ours(session, [image.node for image in served])
