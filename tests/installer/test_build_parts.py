"""Fast checks of the installer build's pure parts: trimming rules, NSIS lists, ICO, control."""

from __future__ import annotations

import re
import struct
from pathlib import Path

from installer import bundle_filter, deb, nsis, project
from installer.icon import ico_bytes
from installer.wine import windows_path


def test_qt_files_the_app_needs_are_kept() -> None:
    for kept in ("PySide6/Qt/plugins/platforms/libqxcb.so",
                 "PySide6/Qt/plugins/platforms/libqoffscreen.so",
                 "PySide6\\plugins\\platforms\\qwindows.dll",
                 "PySide6\\plugins\\imageformats\\qsvg.dll",
                 "PySide6/Qt/plugins/iconengines/libqsvgicon.so",
                 "PySide6\\plugins\\styles\\qmodernwindowsstyle.dll",
                 "PySide6/Qt/lib/libQt6Widgets.so.6",
                 "resources/icons/app.svg",
                 "backends/hyperv/scripts/bootstrap.ps1"):
        assert bundle_filter.keep(kept), kept


def test_qt_files_the_app_never_loads_are_dropped() -> None:
    for dropped in ("PySide6/Qt/translations/qtbase_de.qm",
                    "PySide6\\translations\\qt_fr.qm",
                    "PySide6/Qt/plugins/platforms/libqeglfs.so",
                    "PySide6/Qt/plugins/imageformats/libqjpeg.so",
                    "PySide6\\plugins\\tls\\qschannelbackend.dll",
                    "PySide6/Qt/plugins/generic/libqevdevmouseplugin.so",
                    "PySide6\\opengl32sw.dll"):
        assert not bundle_filter.keep(dropped), dropped


def test_prune_keeps_what_extensions_and_plugins_link_and_drops_the_rest() -> None:
    entries = [
        ("PySide6/QtCore.abi3.so", "/src/QtCore.abi3.so", "EXTENSION"),
        ("PySide6/Qt/lib/libQt6Core.so.6", "/src/libQt6Core.so.6", "BINARY"),
        ("PySide6/Qt/plugins/platforms/libqxcb.so", "/src/libqxcb.so", "BINARY"),
        ("libxcb-util.so.1", "/src/libxcb-util.so.1", "BINARY"),
        ("libcairo.so.2", "/src/libcairo.so.2", "BINARY"),
        ("libpython3.11.so.1.0", "/src/libpython3.11.so.1.0", "BINARY"),
        ("libcairo.so", "libcairo.so.2", "SYMLINK"),
        ("libQt6Core.so", "PySide6/Qt/lib/libQt6Core.so.6", "SYMLINK"),
        ("resources/os_catalog.json", "/src/os_catalog.json", "DATA"),
    ]
    links = {"/src/QtCore.abi3.so": ["libQt6Core.so.6"],
             "/src/libqxcb.so": ["libQt6Core.so.6", "libxcb-util.so.1"]}
    kept = bundle_filter.prune_unreferenced(entries, lambda source: links.get(source, []))
    names = [entry[0] for entry in kept]
    assert "libcairo.so.2" not in names
    assert "libcairo.so" not in names  # its symlink goes with it
    for name in ("PySide6/Qt/lib/libQt6Core.so.6", "libxcb-util.so.1", "libpython3.11.so.1.0",
                 "libQt6Core.so", "resources/os_catalog.json"):
        assert name in names


def test_every_backend_module_is_a_hidden_import() -> None:
    modules = bundle_filter.package_modules(project.REPO, "backends")
    assert {"backends", "backends.qemu", "backends.virtualbox", "backends.hyperv",
            "backends.hyperv.scripts", "backends.qemu.backend"} <= set(modules)


def test_version_comes_from_the_package_metadata() -> None:
    import desktopvm

    assert project.version() == desktopvm.__version__
    assert nsis.version_quad("0.1.0") == "0.1.0.0"
    assert nsis.version_quad("1.2rc1") == "1.2.0.0"
    assert nsis.version_quad("2.0.1.7.9+local") == "2.0.1.7"


def test_runtime_requirements_carry_qt_and_the_winrm_extra_but_no_test_tools() -> None:
    # The name ends where a version, marker or extra begins ("PySide6-Essentials!=6.12.0,…",
    # "pywinrm[kerberos,credssp]>=0.5").
    names = [re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0].strip().lower()
             for req in project.runtime_requirements()]
    assert "pyside6-essentials" in names
    assert "qemu.qmp" in names
    assert "pywinrm" in names
    assert "pytest" not in names


def test_uninstall_list_deletes_files_then_folders_deepest_first(tmp_path: Path) -> None:
    (tmp_path / "_internal" / "PySide6").mkdir(parents=True)
    (tmp_path / "desktopvm.exe").write_bytes(b"")
    (tmp_path / "_internal" / "PySide6" / "Qt6Core.dll").write_bytes(b"")
    lines = nsis.uninstall_list(tmp_path).splitlines()
    assert lines == [
        'Delete "$INSTDIR\\_internal\\PySide6\\Qt6Core.dll"',
        'Delete "$INSTDIR\\desktopvm.exe"',
        'RMDir "$INSTDIR\\_internal\\PySide6"',
        'RMDir "$INSTDIR\\_internal"',
    ]


def test_ico_container_holds_every_size_as_png() -> None:
    images = {16: b"\x89PNG-16", 256: b"\x89PNG-256"}
    data = ico_bytes(images)
    reserved, kind, count = struct.unpack_from("<HHH", data)
    assert (reserved, kind, count) == (0, 1, 2)
    first = struct.unpack_from("<BBBBHHII", data, 6)
    second = struct.unpack_from("<BBBBHHII", data, 22)
    assert first[:2] == (16, 16) and second[:2] == (0, 0)  # 0 means 256
    assert data[first[7]:first[7] + first[6]] == b"\x89PNG-16"
    assert data[second[7]:second[7] + second[6]] == b"\x89PNG-256"


def test_app_icon_renders_from_the_svg(qapp: object, tmp_path: Path) -> None:
    from installer.icon import write_ico

    ico = write_ico(tmp_path / "app.ico", sizes=(16, 256))
    data = ico.read_bytes()
    assert struct.unpack_from("<HHH", data) == (0, 1, 2)
    assert data[6 + 32:6 + 32 + 4] == b"\x89PNG"


def test_deb_control_depends_on_qt_libraries_and_recommends_qemu() -> None:
    text = deb.control(1234)
    fields = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line
                  and not line.startswith(" "))
    assert fields["Package"] == "desktopvm"
    assert fields["Architecture"] == "amd64"
    assert fields["Installed-Size"] == "1234"
    assert "libxcb-cursor0" in fields["Depends"] and "libegl1" in fields["Depends"]
    assert fields["Recommends"] == "qemu-system-x86, qemu-utils"


def test_windows_paths_go_through_drive_z() -> None:
    assert windows_path(Path("/tmp/a b/c.exe")) == "Z:\\tmp\\a b\\c.exe"
