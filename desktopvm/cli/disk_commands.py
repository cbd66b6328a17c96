"""`desktopvm-cli disk info|create|resize|convert`."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from desktopvm.cli.common import (
    EXIT_OK,
    Context,
    UsageError,
    format_size,
    parse_size,
    run_cancellable,
    target_backend,
)
from desktopvm.model import DiskFormat
from desktopvm.protocol import Backend, DiskInfo

FORMATS = [f.value for f in DiskFormat]


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `disk`."""
    disk = sub.add_parser("disk", help="disk images: info, create, resize, convert")
    disk.add_argument("--backend", help="whose disk tools to use (default: the first backend "
                      "usable on this computer)")
    disk.add_argument("--host", help="use an added remote host's disk tools; paths are then "
                      "on that host")
    disk_sub = disk.add_subparsers(dest="disk_command", required=True, metavar="ACTION")
    info = disk_sub.add_parser("info", help="format and sizes of an image")
    info.add_argument("path", type=Path)
    info.add_argument("--json", action="store_true")
    info.set_defaults(handler=info_command)
    create = disk_sub.add_parser("create", help="a new empty image")
    create.add_argument("path", type=Path)
    create.add_argument("size", help="e.g. 40G")
    create.add_argument("--format", choices=FORMATS)
    create.set_defaults(handler=create_command)
    resize = disk_sub.add_parser("resize", help="grow an image")
    resize.add_argument("path", type=Path)
    resize.add_argument("size", help="the new size, e.g. 80G")
    resize.set_defaults(handler=resize_command)
    convert = disk_sub.add_parser("convert", help="copy an image into another format")
    convert.add_argument("source", type=Path)
    convert.add_argument("target", type=Path)
    convert.add_argument("--format", choices=FORMATS, help="default: from the target's extension")
    convert.set_defaults(handler=convert_command)


def _backend(ctx: Context) -> Backend:
    return target_backend(ctx, ctx.args.backend, ctx.args.host)


def _format(value: str | None, path: Path) -> DiskFormat:
    if value:
        return DiskFormat(value)
    extension = path.suffix.lstrip(".").lower()
    by_extension = {f.extension: f for f in DiskFormat} | {"vpc": DiskFormat.VHD}
    if extension not in by_extension:
        raise UsageError(f"cannot tell the format from {path.name!r}; give --format")
    return by_extension[extension]


def _print(ctx: Context, info: DiskInfo) -> None:
    ctx.print(f"{info.path}: {info.format}, {format_size(info.virtual_size)} virtual, "
              f"{format_size(info.actual_size)} on disk"
              + (f", backed by {info.backing_file}" if info.backing_file else ""))


def info_command(ctx: Context) -> int:
    """`disk info PATH`."""
    info = _backend(ctx).disk_info(ctx.args.path)
    if ctx.args.json:
        ctx.print_json(asdict(info))
    else:
        _print(ctx, info)
    return EXIT_OK


def create_command(ctx: Context) -> int:
    """`disk create PATH SIZE`."""
    backend = _backend(ctx)
    size = parse_size(ctx.args.size, "G")
    fmt = _format(ctx.args.format, ctx.args.path)
    info = run_cancellable(ctx, lambda p, c: backend.create_disk(ctx.args.path, fmt, size,
                                                                 progress=p, cancel=c))
    _print(ctx, info)
    return EXIT_OK


def resize_command(ctx: Context) -> int:
    """`disk resize PATH SIZE`."""
    backend = _backend(ctx)
    size = parse_size(ctx.args.size, "G")
    info = run_cancellable(ctx, lambda p, c: backend.resize_disk(ctx.args.path, size,
                                                                 progress=p, cancel=c))
    _print(ctx, info)
    return EXIT_OK


def convert_command(ctx: Context) -> int:
    """`disk convert SOURCE TARGET`."""
    backend = _backend(ctx)
    fmt = _format(ctx.args.format, ctx.args.target)
    info = run_cancellable(ctx, lambda p, c: backend.convert_disk(
        ctx.args.source, ctx.args.target, fmt, progress=p, cancel=c))
    _print(ctx, info)
    return EXIT_OK
