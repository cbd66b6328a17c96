"""BUILD/TEST PREFIX ONLY: stand-in DLLs for what Windows 10 has and wine 8.0 lacks.

- `icuuc.dll`: Qt6Core.dll of PySide6 >= 6.10 links Windows' own ICU (System32 since Windows 10
  1703). The stand-in exports the functions Qt6Core imports; every converter open fails, so
  Qt uses its built-in codecs.
- `bcryptprimitives.dll`: Rust extensions (pydantic-core, cryptography; Rust >= 1.78) import
  `ProcessPrng` from it (Windows 10+). The stand-in fills the buffer with RtlGenRandom.

They go only into a throwaway wine prefix's system32 — never into the bundle or the installer
(the build fails if PyInstaller picked one up).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from installer.project import CACHE

OBJDUMP = "x86_64-w64-mingw32-objdump"
GCC = "x86_64-w64-mingw32-gcc"
NAMES = ("icuuc.dll", "bcryptprimitives.dll")
BCRYPTPRIMITIVES_SOURCE = """/* Test-only bcryptprimitives.dll stand-in for wine 8 (not shipped). */
#include <windows.h>
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
"""


def imported_functions(dll: Path, from_dll: str) -> list[str]:
    """The functions `dll` imports from `from_dll` (by name)."""
    output = subprocess.run([OBJDUMP, "-p", str(dll)], check=True, capture_output=True,
                            text=True, timeout=120).stdout
    names: list[str] = []
    inside = False
    for line in output.splitlines():
        if line.strip().startswith("DLL Name:"):
            inside = line.split(":", 1)[1].strip().lower() == from_dll
            continue
        match = re.match(r"^\s+[0-9a-f]+\s+\d+\s+([A-Za-z_][A-Za-z0-9_]*)\s*$", line)
        if inside and match:
            names.append(match.group(1))
    return names


def icuuc_source(functions: list[str]) -> str:
    """C source: `ucnv_open*` report failure through their UErrorCode*, the others return 0."""
    lines = ["/* Test-only icuuc.dll stand-in for wine 8 (never shipped). */"]
    for name in sorted(set(functions)):
        if name.startswith("ucnv_open"):
            lines.append(f"__declspec(dllexport) void *{name}(const void *a, int *error)"
                         " { if (error) *error = 4; return 0; }")
        else:
            lines.append(f"__declspec(dllexport) long long {name}(void) {{ return 0; }}")
    return "\n".join(lines) + "\n"


def _compile(name: str, text: str, cache: Path, libraries: tuple[str, ...] = ()) -> Path:
    folder = cache / "wine-standins"
    folder.mkdir(parents=True, exist_ok=True)
    c_file = folder / f"{name}.c"
    dll = folder / f"{name}.dll"
    if not dll.is_file() or not c_file.is_file() or c_file.read_text() != text:
        if shutil.which(GCC) is None:
            raise FileNotFoundError(f"{GCC} not found; run .ci/installer-deps")
        c_file.write_text(text)
        subprocess.run([GCC, "-O2", "-shared", "-o", str(dll), str(c_file), *libraries],
                       check=True, timeout=300)
    return dll


def install(system32: Path, qt_core: Path, cache: Path = CACHE) -> list[str]:
    """Put the stand-ins this Qt6Core.dll and Rust extensions need into a prefix's system32."""
    installed: list[str] = []
    functions = imported_functions(qt_core, "icuuc.dll")
    if functions:
        shutil.copy2(_compile("icuuc", icuuc_source(functions), cache), system32 / "icuuc.dll")
        installed.append("icuuc.dll")
    dll = _compile("bcryptprimitives", BCRYPTPRIMITIVES_SOURCE, cache, ("-ladvapi32",))
    shutil.copy2(dll, system32 / "bcryptprimitives.dll")
    installed.append("bcryptprimitives.dll")
    return installed


def leaked_into(bundle: Path) -> list[str]:
    """Stand-in DLL names found in `bundle` (must be empty)."""
    return sorted(path.name for path in bundle.rglob("*.dll") if path.name.lower() in NAMES)
