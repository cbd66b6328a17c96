"""The app icon for installers: resources/icons/app.svg rendered with Qt to PNG and to an .ico."""

from __future__ import annotations

import os
import struct
from pathlib import Path

from installer.project import REPO

APP_SVG = REPO / "resources" / "icons" / "app.svg"
ICO_SIZES = (16, 32, 48, 256)


def render_png(svg: Path, size: int) -> bytes:
    """`svg` drawn on a transparent `size`×`size` image, as PNG bytes."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    if QGuiApplication.instance() is None:
        _keep_alive.append(QGuiApplication([]))
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg} is not an SVG Qt can draw")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(0)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):  # type: ignore[call-overload]  # stubs say bytes; str works
        raise RuntimeError("Qt could not encode a PNG")
    buffer.close()
    return bytes(data.data())


_keep_alive: list[object] = []


def ico_bytes(images: dict[int, bytes]) -> bytes:
    """An ICO container holding one PNG image per size (PNG entries: Windows Vista and later)."""
    header = struct.pack("<HHH", 0, 1, len(images))
    offset = len(header) + 16 * len(images)
    directory = b""
    payload = b""
    for size, png in sorted(images.items()):
        edge = 0 if size >= 256 else size  # 0 means 256 in an ICO directory entry
        directory += struct.pack("<BBBBHHII", edge, edge, 0, 0, 1, 32, len(png), offset)
        offset += len(png)
        payload += png
    return header + directory + payload


def write_ico(target: Path, svg: Path = APP_SVG, sizes: tuple[int, ...] = ICO_SIZES) -> Path:
    """Render `svg` at `sizes` and write them as one .ico at `target`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(ico_bytes({size: render_png(svg, size) for size in sizes}))
    return target


def write_png(target: Path, size: int, svg: Path = APP_SVG) -> Path:
    """Render `svg` at `size` and write it as PNG at `target`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(render_png(svg, size))
    return target
