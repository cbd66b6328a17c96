"""desktopvm-cli: spec commands, machine commands against the memory backend, exit codes."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from desktopvm.cli import main
from desktopvm.model import defaults_for
from desktopvm.protocol import CancelToken, no_progress
from desktopvm.registry import KNOWN_BACKENDS, KnownBackend, Registry

MEMORY = KnownBackend("memory", "Memory", "desktopvm.testing.doubles.memory_plugin")


class Run:
    """Runs CLI commands in-process against one registry (so the memory backend persists)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = main(list(argv), registry=self.registry, out=out, err=err)
        return code, out.getvalue(), err.getvalue()


@pytest.fixture
def cli() -> Run:
    return Run(Registry(known=(*KNOWN_BACKENDS, MEMORY)))


def test_version_through_the_installed_entry_point():
    exe = Path(sys.executable).with_name("desktopvm-cli")
    result = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert result.stdout.startswith("DesktopVM ")


def test_usage_error_exits_2(cli: Run):
    code, _, err = cli("frobnicate")
    assert code == 2 and "invalid choice" in err


def test_spec_defaults_json_validates(cli: Run, tmp_path: Path):
    code, out, _ = cli("spec", "defaults", "windows11", "--json")
    assert code == 0
    spec_file = tmp_path / "w11.json"
    spec_file.write_text(out)
    data = json.loads(out)
    assert data["schema_version"] == 1 and data["firmware"]["tpm"] is True
    code, out, err = cli("spec", "validate", str(spec_file))
    assert (code, err) == (0, "")
    assert out.strip() == f"{spec_file}: valid"


def test_spec_validate_reports_each_problem_on_its_own_line(cli: Run, tmp_path: Path):
    spec = json.loads(cli("spec", "defaults", "debian12", "--json")[1])
    spec["cpu"]["count"] = 0
    spec["firmware"] = {"kind": "bios", "secure_boot": True, "secure_boot_template": None,
                        "tpm": False}
    spec["network"] = [{"attachment": "bridged", "mac": "52:54:00:00:00:01"},
                       {"attachment": "nat", "mac": "52:54:00:00:00:01"}]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(spec))
    code, out, err = cli("spec", "validate", str(path))
    assert code == 1 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 4
    assert all(line.startswith(f"{path}: error: ") for line in lines)
    assert {line.split(": ")[2] for line in lines} == {
        "cpu.count", "firmware.secure_boot", "network[0].network", "network[1].mac"}


def test_spec_validate_json_output(cli: Run, tmp_path: Path):
    spec = json.loads(cli("spec", "defaults", "debian12", "--json")[1])
    spec["memory"]["size_mib"] = 10**9
    path = tmp_path / "big.json"
    path.write_text(json.dumps(spec))
    code, out, _ = cli("spec", "validate", str(path), "--json")
    assert code == 1
    assert [p["field"] for p in json.loads(out)] == ["memory.size_mib"]


def test_malformed_spec_file_is_one_line_naming_file_and_field(cli: Run, tmp_path: Path):
    path = tmp_path / "broken.json"
    path.write_text(json.dumps({"schema_version": 1, "name": "x", "cpu": {"count": "lots"}}))
    code, out, err = cli("spec", "validate", str(path))
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert str(path) in err and "cpu.count" in err


def test_spec_schema_and_os_list(cli: Run):
    code, out, _ = cli("spec", "schema")
    assert code == 0 and json.loads(out)["title"] == "DesktopVM machine spec"
    code, out, _ = cli("spec", "os-list")
    assert code == 0 and "windows11" in out and "Windows 11" in out
    code, _, err = cli("spec", "defaults", "plan9")
    assert code == 2 and "spec os-list" in err


def test_backends_lists_every_known_backend_with_a_reason(cli: Run):
    code, out, _ = cli("backends", "--json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert {"qemu", "virtualbox", "hyperv", "memory"} <= set(rows)
    for row in rows.values():
        assert row["available"] or row["reason"]


def test_machine_workflow_against_the_memory_backend(cli: Run, desktopvm_home: Path):
    code, out, err = cli("create", "--backend", "memory", "--name", "web ‘one’", "--os",
                         "debian12", "--memory", "512M", "--cpus", "2", "--disk", "1G")
    assert code == 0, err
    assert "created memory:web ‘one’" in out
    [row] = json.loads(cli("list", "--json")[1])["machines"]
    assert (row["name"], row["state"], row["cpus"], row["memory_mib"]) == ("web ‘one’", "off",
                                                                          2, 512)
    for command, state in (("start", "running"), ("pause", "paused"), ("resume", "running"),
                           ("poweroff", "off")):
        code, _, err = cli(command, "web ‘one’", *(["--headless"] if command == "start" else []))
        assert code == 0, err
        assert json.loads(cli("show", "web ‘one’", "--json")[1])["state"] == state
    assert cli("snapshot", "take", "web ‘one’", "base", "--description", "clean")[0] == 0
    assert cli("snapshot", "take", "web ‘one’", "second")[0] == 0
    code, out, _ = cli("snapshot", "list", "web ‘one’")
    assert code == 0 and out.index("base") < out.index("  second")
    assert cli("snapshot", "restore", "web ‘one’", "base")[0] == 0
    assert cli("snapshot", "delete", "web ‘one’", "second")[0] == 0
    assert cli("clone", "web ‘one’", "copy")[0] == 0
    names = {r["name"] for r in json.loads(cli("list", "--json")[1])["machines"]}
    assert names == {"web ‘one’", "copy"}


def test_delete_asks_first_and_keeps_disks_by_default(cli: Run, desktopvm_home: Path):
    assert cli("create", "--backend", "memory", "--name", "old", "--disk", "1G")[0] == 0
    disks = json.loads(cli("show", "old", "--json")[1])["files"]
    code, _, err = cli("delete", "old")  # stdin is not a terminal: nothing is deleted
    assert code == 2 and "--yes" in err
    assert cli("show", "old")[0] == 0
    code, out, _ = cli("delete", "old", "--yes")
    assert code == 0 and "disks kept" in out
    assert disks and all(Path(p).exists() for p in disks)


def test_unknown_and_ambiguous_machines(cli: Run):
    code, _, err = cli("start", "nobody")
    assert code == 1 and "No machine 'nobody'" in err
    assert cli("create", "--backend", "memory", "--name", "twin")[0] == 0
    # The CLI refuses a second "twin"; names still clash when made outside DesktopVM.
    backend = cli.registry.open("memory")
    backend.create(defaults_for("other-linux", backend.capabilities(), name="twin"),
                   progress=no_progress, cancel=CancelToken())
    code, _, err = cli("start", "twin")
    assert code == 1 and "ambiguous" in err and "memory:" in err
    twin_id = err.split("memory:")[1].split(",")[0].strip()
    assert cli("start", f"memory:{twin_id}")[0] == 0


def test_invalid_options_create_nothing(cli: Run):
    code, _, err = cli("create", "--backend", "memory", "--name", "big", "--memory", "64G")
    assert code == 1 and "memory.size_mib" in err
    assert json.loads(cli("list", "--json")[1])["machines"] == []
    code, _, err = cli("create", "--backend", "memory", "--name", "x", "--memory", "lots")
    assert code == 2 and "not a size" in err


def test_backend_not_in_this_build_is_a_clear_error(cli: Run):
    code, _, err = cli("create", "--backend", "hyperv", "--name", "x")
    assert code == 1
    assert err.startswith("error: Hyper-V is not available")


def test_invalid_state_is_a_one_line_error_with_details_on_verbose(cli: Run):
    cli("create", "--backend", "memory", "--name", "idle")
    code, _, err = cli("pause", "idle")
    assert code == 1 and err.startswith("error: Cannot pause idle") and "off" in err
    assert err.count("\n") == 1
