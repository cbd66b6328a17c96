"""House rules that tools do not check: one door per tool, docstrings, README and CI agree."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = sorted([*REPO.glob("desktopvm/**/*.py"), *REPO.glob("backends/**/*.py")])
#: Test support (stand-ins, the test guest): importable by tests, bench and docs, not shipped.
#: Like tests/ it starts fake servers and tools, so the door rules do not apply to it.
TEST_SUPPORT = "desktopvm/testing/"
PRODUCT = [path for path in SOURCES
           if not path.relative_to(REPO).as_posix().startswith(TEST_SUPPORT)]

# The only modules allowed to start processes: one door per external tool.
PROCESS_DOORS = {
    "backends/qemu/qemu_img.py",
    "backends/qemu/process.py",
    "backends/qemu/storage_daemon.py",
    "backends/virtualbox/vboxmanage.py",
    "backends/vmware/vmrun.py",
    "backends/hyperv/session.py",
    "desktopvm/schedule/system.py",  # systemctl --user, schtasks: scheduled backups
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


#: Where the app itself starts a program: the hypervisor's viewer (detached), and the
#: user's $EDITOR for `desktopvm-cli edit`.
APP_PROCESS_DOORS = {"desktopvm/ui/viewer.py", "desktopvm/cli/edit_commands.py"}
#: The only modules that open sockets: the consoles' VNC and serial links, and QEMU's
#: migration stream (QMP sockets are opened inside the qemu.qmp library, behind qmp.py).
SOCKET_DOORS = {"desktopvm/rfb/client.py", "desktopvm/rfb/websocket_transport.py",
                "desktopvm/serial_link.py",
                "backends/qemu/lifecycle.py", "desktopvm/trust.py"}
PROCESS_CALLS = {("os", "system"), ("os", "popen"), ("os", "startfile"), ("os", "fork"),
                 ("os", "posix_spawn"), ("os", "posix_spawnp"),
                 ("asyncio", "create_subprocess_exec"), ("asyncio", "create_subprocess_shell")}
PROCESS_PREFIXES = (("os", "spawn"), ("os", "exec"))
SOCKET_CALLS = {("socket", "socket"), ("socket", "create_connection"),
                ("socket", "create_server"), ("socket", "socketpair"), ("socket", "fromfd")}


def starts(path: Path) -> tuple[set[str], set[str]]:
    """(ways `path` starts processes, ways it opens sockets), found in its syntax tree."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    processes: set[str] = set()
    sockets: set[str] = set()
    if "subprocess" in imported_modules(path):
        processes.add("subprocess")
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "QProcess":
            processes.add("QProcess")
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)):
            pair = (node.func.value.id, node.func.attr)
            if pair in PROCESS_CALLS or any(pair[0] == module and pair[1].startswith(prefix)
                                            for module, prefix in PROCESS_PREFIXES):
                processes.add(".".join(pair))
            if pair in SOCKET_CALLS:
                sockets.add(".".join(pair))
    return processes, sockets


def test_only_the_doors_start_processes():
    doors = PROCESS_DOORS | APP_PROCESS_DOORS
    for path in PRODUCT:
        processes, _ = starts(path)
        if relative(path) not in doors:
            assert not processes, (f"{relative(path)} starts processes ({sorted(processes)}); "
                                   "go through the tool's one door")


def test_only_the_socket_doors_open_sockets():
    for path in PRODUCT:
        _, sockets = starts(path)
        if relative(path) not in SOCKET_DOORS:
            assert not sockets, f"{relative(path)} opens sockets ({sorted(sockets)})"


def test_the_door_check_sees_every_way_in(tmp_path: Path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os, socket\nfrom PySide6.QtCore import QProcess\n"
                      "os.system('x'); os.execv('a', []); QProcess.startDetached('x')\n"
                      "socket.create_connection(('h', 1))\n", encoding="utf-8")
    processes, sockets = starts(sample)
    assert processes == {"os.system", "os.execv", "QProcess"}
    assert sockets == {"socket.create_connection"}


def test_qt_stays_in_the_ui_layer():
    for path in SOURCES:
        if relative(path).startswith(QT_ALLOWED):
            continue
        assert "PySide6" not in imported_modules(path), f"{relative(path)} imports Qt"


def test_modules_stay_small():
    for path in SOURCES:
        lines = path.read_text(encoding="utf-8").count("\n")
        assert lines <= 600, f"{relative(path)} has {lines} lines; split it"


BACKEND_PACKAGES = ("qemu", "virtualbox", "hyperv", "vmware", "esxi")


def package_imports(path: Path, package: str) -> set[str]:
    """Every module of `package` that `path` imports: at module level, in functions or
    under TYPE_CHECKING alike (a circle through any of them is still a circle)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == package:
                found |= {f"{package}.{alias.name}" for alias in node.names}
            elif node.module.startswith(package + "."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith(package + ".")}
    return found


@pytest.mark.parametrize("backend", BACKEND_PACKAGES)
def test_backend_helpers_never_import_their_facade(backend: str):
    """backend.py is on top: every other module gets narrow collaborators, not the backend."""
    package = f"backends.{backend}"
    for path in sorted((REPO / "backends" / backend).glob("*.py")):
        if path.name in ("backend.py", "__init__.py"):
            continue
        assert f"{package}.backend" not in package_imports(path, package), (
            f"{relative(path)} imports {package}.backend; pass it what it needs instead")


@pytest.mark.parametrize("backend", BACKEND_PACKAGES)
def test_backend_modules_import_in_one_direction(backend: str):
    package = f"backends.{backend}"
    modules = {f"{package}.{p.stem}": p for p in (REPO / "backends" / backend).glob("*.py")
               if p.name != "__init__.py"}
    graph = {name: package_imports(path, package) & set(modules)
             for name, path in modules.items()}
    visiting: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        assert name not in visiting, "import circle: " + " -> ".join(
            [*visiting[visiting.index(name):], name])
        visiting.append(name)
        for imported in sorted(graph[name]):
            visit(imported)
        visiting.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)


def test_every_backend_follows_the_module_map():
    """The roles of docs/architecture.md's map, by the same file names in every backend."""
    shared = {"backend", "capabilities", "inventory", "plans", "lifecycle", "machines",
              "snapshots", "clones", "appliances", "disks", "console", "keys"}
    for backend in BACKEND_PACKAGES:
        present = {p.stem for p in (REPO / "backends" / backend).glob("*.py")}
        assert shared <= present, f"backends/{backend} lacks {sorted(shared - present)}"
    architecture = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    for role in shared:
        assert f"`{role}.py`" in architecture, f"docs/architecture.md does not map {role}.py"


def dotted_imports(path: Path) -> set[str]:
    """Every module `path` imports, by full dotted name (relative imports resolved; for `from
    a import b` both `a` and `a.b`), anywhere in the file."""
    package = list(path.relative_to(REPO).parent.parts)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


def imports_package(path: Path, package: str) -> bool:
    return any(name == package or name.startswith(package + ".") for name in dotted_imports(path))


def test_product_code_never_imports_the_test_support():
    """desktopvm/testing is not in the wheel or the installers: an import of it would break
    the shipped app (pyproject's import-linter contract says the same for the import graph)."""
    for path in PRODUCT:
        assert not imports_package(path, "desktopvm.testing"), (
            f"{relative(path)} imports desktopvm.testing, which is not shipped")


def test_nothing_outside_tests_imports_tests():
    """bench/, docs/, installer/ and the product import no test module: what they share with
    the tests (stand-ins, the test guest) lives in desktopvm/testing."""
    outside = [REPO / "docs" / "screenshots.py", *SOURCES,
               *REPO.glob("bench/**/*.py"), *REPO.glob("installer/**/*.py")]
    for path in outside:
        assert not imports_package(path, "tests"), f"{relative(path)} imports from tests/"
    for script in sorted((REPO / ".ci").iterdir()):
        if script.is_file():
            text = script.read_text(encoding="utf-8", errors="replace")
            assert not re.search(r"\b(from|import) tests\b", text), relative(script)


DOUBLES = REPO / "desktopvm" / "testing" / "doubles"
#: Stand-ins written under tests/ while the one place was being made, each to move into
#: DOUBLES (and its README) by its owner; remove the entry with the move.
NOT_YET_MOVED = {"tests/backup/doubles.py"}


def test_every_stand_in_lives_in_one_place_and_is_listed():
    """One home for stand-ins (desktopvm/testing/doubles), each named in its README; none
    left in tests/ under a stand-in's name."""
    readme = (DOUBLES / "README.md").read_text(encoding="utf-8")
    for path in sorted(DOUBLES.rglob("*")):
        if path.suffix in (".py", ".go") and path.name != "__init__.py":
            name = path.relative_to(DOUBLES).as_posix()
            assert f"`{name}`" in readme, f"doubles/README.md does not list {name}"
    for listed in re.findall(r"`([\w/]+\.(?:py|go))`", readme):
        assert (DOUBLES / listed).is_file() or (REPO / listed).is_file(), (
            f"doubles/README.md lists {listed}, which does not exist")
    tests = REPO / "tests"
    second_home = [relative(p) for p in tests.rglob("*.py")
                   if {"doubles", "fakes"} & set(p.relative_to(tests).parts)]
    assert not second_home, f"a second home for stand-ins: {second_home}"
    stray = [relative(p) for p in tests.rglob("*.py")
             if not p.name.startswith("test_")  # a test of a stand-in is a test
             and (re.match(r"(fake|double|standin|stand_in|mock)", p.name)
                 or re.search(r"_(fake|double|standin)\.py$", p.name))
             and relative(p) not in NOT_YET_MOVED]
    assert not stray, f"stand-ins outside desktopvm/testing/doubles: {stray}"
