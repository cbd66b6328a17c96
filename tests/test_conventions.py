"""House rules that tools do not check: one door per tool, docstrings, README and CI agree."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = sorted([*REPO.glob("desktopvm/**/*.py"), *REPO.glob("backends/**/*.py")])

# The only modules allowed to start processes: one door per external tool.
PROCESS_DOORS = {
    "backends/qemu/qemu_img.py",
    "backends/qemu/process.py",
    "backends/virtualbox/vboxmanage.py",
    "backends/hyperv/session.py",
}
QT_ALLOWED = ("desktopvm/ui/", "desktopvm/jobs.py", "desktopvm/app.py")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def relative(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def test_readme_test_command_is_what_ci_runs():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, re.DOTALL)
    test_command = next(b for b in blocks if "pytest" in b and "\n" not in b)
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert f"\n{test_command} ||" in ci


def test_every_module_starts_with_a_one_line_docstring():
    for path in SOURCES:
        docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        assert docstring, f"{relative(path)} has no module docstring"
        assert len(docstring.splitlines()[0]) <= 100, relative(path)


def test_only_the_doors_start_processes():
    for path in SOURCES:
        if relative(path) in PROCESS_DOORS:
            continue
        assert "subprocess" not in imported_modules(path), (
            f"{relative(path)} imports subprocess; go through the tool's one door")


def test_qt_stays_in_the_ui_layer():
    for path in SOURCES:
        if relative(path).startswith(QT_ALLOWED):
            continue
        assert "PySide6" not in imported_modules(path), f"{relative(path)} imports Qt"


def test_modules_stay_small():
    for path in SOURCES:
        lines = path.read_text(encoding="utf-8").count("\n")
        assert lines <= 600, f"{relative(path)} has {lines} lines; split it"
