"""What the frozen app leaves out: Python modules it never imports and Qt parts it never loads.

DesktopVM uses QtCore, QtGui and QtWidgets, draws SVG icons, and needs a platform plugin
(xcb/wayland on Linux, windows on Windows; offscreen/minimal for checks). Everything else that
PySide6's hooks bring along (translations, network/TLS plugins, eglfs, evdev, image formats
other than SVG, software OpenGL) is dropped, and then every bundled library that no kept
binary links to any more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import TypeVar

Entry = TypeVar("Entry", bound=tuple[str, ...])

# Packages of the source tree that are never shipped: the test support (stand-ins, the test
# guest), for tests, bench and docs only. pyproject's package find leaves it out of the wheel.
NOT_SHIPPED: tuple[str, ...] = ("desktopvm.testing",)

# Modules a development environment has installed but the app never imports at run time.
EXCLUDED_MODULES: tuple[str, ...] = (
    "mypy", "mypyc", "ast_serialize", "hypothesis", "pytest", "_pytest", "pytestqt", "pluggy",
    "setuptools", "pkg_resources", "distutils", "_distutils_hack", "pip", "wheel",
    "PIL", "pygments", "tkinter", "_tkinter", "IPython", "jsonschema", "tree_sitter",
    "tree_sitter_powershell", "importlinter", "grimp", "lib2to3", "idlelib", "turtledemo",
    "pydoc_data", "PySide6.QtNetwork", "PySide6.QtDBus", "PySide6.QtOpenGL",
    "PySide6.QtOpenGLWidgets", "PySide6.QtSql", "PySide6.QtTest", "PySide6.QtXml",
    "PySide6.QtConcurrent", "PySide6.QtPrintSupport", "PySide6.QtQml", "PySide6.QtQuick",
    *NOT_SHIPPED,
)

# Qt plugins kept, by folder; a folder not named here is dropped entirely.
KEPT_PLUGINS: dict[str, frozenset[str]] = {
    "platforms": frozenset({"qxcb", "qwayland", "qoffscreen", "qminimal", "qwindows"}),
    "imageformats": frozenset({"qsvg"}),
    "iconengines": frozenset({"qsvgicon"}),
    "styles": frozenset({"qmodernwindowsstyle"}),
    "platformthemes": frozenset({"qxdgdesktopportal"}),
    "platforminputcontexts": frozenset({"composeplatforminputcontextplugin",
                                        "ibusplatforminputcontextplugin"}),
    "xcbglintegrations": frozenset({"qxcb-egl-integration", "qxcb-glx-integration"}),
    "wayland-shell-integration": frozenset({"xdg-shell"}),
    "wayland-decoration-client": frozenset({"bradient", "adwaita"}),
    "wayland-graphics-integration-client": frozenset({"qt-plugin-wayland-egl"}),
}

# Single files dropped wherever they are: software OpenGL and the D3D shader compiler (only
# Qt Quick / OpenGL widgets need them).
DROPPED_FILES = frozenset({
    "opengl32sw.dll", "d3dcompiler_47.dll",
})

# Libraries the app or Qt load by name at run time (dlopen/LoadLibrary), kept even unreferenced.
LOADED_BY_NAME_PREFIXES = ("libpython", "python3", "libffi", "vcruntime", "msvcp", "ucrtbase")


def _parts(destination: str) -> tuple[str, ...]:
    return PurePosixPath(destination.replace("\\", "/")).parts


def _plugin_stem(filename: str) -> str:
    stem = filename.split(".", 1)[0]
    return stem.removeprefix("lib")


def keep(destination: str) -> bool:
    """Whether a file bound for the bundle at `destination` (a relative path) is kept."""
    parts = _parts(destination)
    lowered = [part.lower() for part in parts]
    if "translations" in lowered[:-1] and "pyside6" in lowered:
        return False
    if parts and parts[-1].lower() in DROPPED_FILES:
        return False
    if "plugins" in parts[:-2] and "PySide6" in parts:
        folder = parts[parts.index("plugins") + 1]
        kept = KEPT_PLUGINS.get(folder)
        return kept is not None and _plugin_stem(parts[-1]) in kept
    return True


def keep_entries(entries: list[Entry]) -> list[Entry]:
    """The entries of a PyInstaller TOC (destination first) that `keep` accepts."""
    return [entry for entry in entries if keep(entry[0])]


def _basename(destination: str) -> str:
    return _parts(destination)[-1].lower()


def prune_unreferenced(entries: list[Entry],
                       imports_of: Callable[[str], Iterable[str]]) -> list[Entry]:
    """Drop shared libraries (typecode BINARY) that no kept extension, plugin or program needs.

    `entries` are (destination, source, typecode); `imports_of(source)` names the libraries a
    binary links to (basenames). Extensions, Qt plugins and libraries loaded by name are roots.
    """
    binaries = [entry for entry in entries if entry[2] in {"BINARY", "EXTENSION"}]
    by_name = {_basename(entry[0]): entry for entry in binaries}
    roots = [entry for entry in binaries
             if entry[2] == "EXTENSION" or "plugins" in _parts(entry[0])
             or _basename(entry[0]).startswith(LOADED_BY_NAME_PREFIXES)]
    needed: set[str] = set()
    pending = [entry[1] for entry in roots]
    needed.update(_basename(entry[0]) for entry in roots)
    while pending:
        for name in imports_of(pending.pop()):
            key = name.lower()
            if key in by_name and key not in needed:
                needed.add(key)
                pending.append(by_name[key][1])
    kept = [entry for entry in entries if entry[2] != "BINARY" or _basename(entry[0]) in needed]
    destinations = {entry[0] for entry in kept}
    return [entry for entry in kept if entry[2] != "SYMLINK" or entry[1] in destinations]


def trim(binaries: list[Entry], datas: list[Entry],
         imports_of: Callable[[str], Iterable[str]]) -> tuple[list[Entry], list[Entry]]:
    """An Analysis's binaries and datas with `keep` applied and unreferenced libraries pruned."""
    kept = prune_unreferenced(keep_entries(binaries) + keep_entries(datas), imports_of)
    binary_set = {id(entry) for entry in binaries}
    return ([entry for entry in kept if id(entry) in binary_set],
            [entry for entry in kept if id(entry) not in binary_set])


def package_modules(root: Path, package: str) -> list[str]:
    """Dotted names of every shipped module in the source folder `root/package` (no importing):
    packages in NOT_SHIPPED and their modules are left out."""
    names: list[str] = []
    for path in sorted((root / package).rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        name = ".".join(parts)
        if not any(name == skip or name.startswith(skip + ".") for skip in NOT_SHIPPED):
            names.append(name)
    return names
