"""`media inspect FILE`: what an install ISO says about itself, and what `create` takes from it."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path

from desktopvm.cli.common import EXIT_OK, Context, UsageError
from desktopvm.media import (
    Detection,
    MediaError,
    MediaFacts,
    boot_media,
    detect_os,
    inspect_media,
)
from desktopvm.model import catalog, printable
from desktopvm.model.catalog import BootMedia
from desktopvm.model.machine import MachineSpec


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `media …`."""
    media = sub.add_parser("media", help="install media (ISO files)")
    media_sub = media.add_subparsers(dest="media_command", required=True, metavar="COMMAND")
    inspect = media_sub.add_parser("inspect", help="the OS, firmware and architecture of an ISO")
    inspect.add_argument("file", type=Path)
    inspect.add_argument("--json", action="store_true")
    inspect.set_defaults(handler=inspect_command)


def inspect_command(ctx: Context) -> int:
    """`media inspect FILE [--json]`."""
    try:
        facts = inspect_media(ctx.args.file)
    except MediaError as error:
        raise UsageError(str(error)) from error
    found = detect_os(facts)
    if ctx.args.json:
        ctx.print_json(as_data(facts, found))
        return EXIT_OK
    entry = catalog().get(found.os_id)
    rows = [
        ("Detected", found.summary()),
        ("OS entry", f"{found.os_id} ({entry.name if entry else found.os_id})"
         + ("" if found.exact else ", the closest we have")),
        ("osinfo id", found.short_id or "(no osinfo-db rule matched)"),
        ("Volume id", facts.volume_id),
        ("Publisher", facts.publisher_id),
        ("Application", facts.application_id),
        ("System id", facts.system_id),
        ("El Torito", ", ".join(facts.boot_platforms) or "none (not bootable as a CD)"),
        ("EFI loaders", ", ".join(facts.efi_architectures) or "-"),
        ("Architecture", facts.architecture or "unknown"),
        ("File systems", "ISO 9660" + (", UDF" if facts.udf else "")),
    ]
    if facts.windows_image:
        rows.append(("Windows image", facts.windows_image))
    rows += [("Release file", name) for name in facts.release_files]
    rows = [(label, value) for label, value in rows if value]  # a disc leaves ids blank
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        ctx.print(f"{label + ':':<{width + 1}} {printable(value)}")
    return EXIT_OK


def as_data(facts: MediaFacts, found: Detection) -> dict[str, object]:
    """The `--json` form: the disc's facts and the detection."""
    return {
        "file": facts.path, "size": facts.size,
        "volume_id": facts.volume_id, "publisher_id": facts.publisher_id,
        "application_id": facts.application_id, "system_id": facts.system_id,
        "boots_with": [kind.value for kind in found.firmware],
        "el_torito_platforms": list(facts.boot_platforms),
        "efi_architectures": list(facts.efi_architectures),
        "architecture": facts.architecture, "udf": facts.udf,
        "windows_image": facts.windows_image, "release_files": facts.release_files,
        "os": {"id": found.os_id, "name": found.name, "osinfo_id": found.short_id,
               "exact": found.exact},
    }


def detect_for_create(iso: Path) -> tuple[Detection | None, BootMedia | None, str]:
    """What `create --iso` learns from the disc: the detection, how it boots, and a note when
    the file cannot be read as a disc (create goes on without it)."""
    try:
        facts = inspect_media(iso)
    except MediaError as error:
        return None, None, str(error)
    return detect_os(facts), boot_media(facts), ""


def media_of(spec: MachineSpec, paths: Iterable[str] = ()) -> dict[str, BootMedia]:
    """How each of a local spec's ISOs boots, for validate; discs that cannot be read are left
    out (validate already says when an ISO is missing)."""
    found = {}
    isos = {drive.iso for controller in spec.storage for drive in controller.optical
            if drive.iso} | set(paths)
    for path in isos:
        try:
            found[path] = boot_media(inspect_media(path))
        except MediaError:
            continue
    return found
