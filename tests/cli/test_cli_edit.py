"""`set`, `edit`, `spec get` and `spec apply` (issue 13): a machine changes from the command line
as from Settings, through `update(old, new)`, only what changed, nothing when invalid."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from desktopvm.cli import edit_commands
from desktopvm.model import MachineSpec, changed_groups, defaults_for
from desktopvm.protocol import CancelToken, no_progress
from desktopvm.registry import KNOWN_BACKENDS, Registry
from tests.cli.test_cli import MEMORY, Run

Update = tuple[MachineSpec, MachineSpec]


@pytest.fixture
def cli(desktopvm_home: Path) -> Run:
    return Run(Registry(known=(*KNOWN_BACKENDS, MEMORY)))


@pytest.fixture
def machine(cli: Run, tmp_path: Path) -> tuple[str, list[Update]]:
    """A stopped machine with an ISO; every update call is recorded."""
    mem = cli.registry.open("memory")
    iso = tmp_path / "installer.iso"
    iso.write_bytes(b"")
    spec = defaults_for("debian12", mem.capabilities(), name="web", iso=str(iso))
    machine_id = mem.create(spec, progress=no_progress, cancel=CancelToken())
    calls: list[Update] = []
    original = mem.update

    def update(machine_id: str, old: MachineSpec, new: MachineSpec, **kwargs: object) -> None:
        calls.append((old, new))
        original(machine_id, old, new, **kwargs)  # type: ignore[arg-type]
    mem.update = update  # type: ignore[method-assign]
    return machine_id, calls


def spec_of(cli: Run, machine_id: str) -> MachineSpec:
    return cli.registry.open("memory").get_machine(machine_id).spec


def first_iso(spec: MachineSpec) -> str:
    return next(d.iso for c in spec.storage for d in c.optical)


def test_set_changes_only_the_named_fields(cli: Run, machine, tmp_path: Path):
    machine_id, calls = machine
    code, out, err = cli("set", "web", "--cpus", "4", "--memory", "4G", "--notes", "nightly")
    assert (code, err) == (0, "")
    assert out.strip() == "web: changed cpu, memory, notes"
    [(old, new)] = calls
    assert changed_groups(old, new) == {"cpu", "memory", "notes"}
    spec = spec_of(cli, machine_id)
    assert (spec.cpu.count, spec.memory.size_mib, spec.notes) == (4, 4096, "nightly")
    other = tmp_path / "rescue.iso"
    other.write_bytes(b"")
    assert cli("set", "web", "--iso", str(other))[0] == 0
    assert first_iso(spec_of(cli, machine_id)) == str(other.resolve())
    assert cli("set", "web", "--eject")[0] == 0
    assert first_iso(spec_of(cli, machine_id)) == ""
    assert [changed_groups(o, n) for o, n in calls[1:]] == [{"storage"}, {"storage"}]


def test_set_refuses_what_it_cannot_apply_and_changes_nothing(cli: Run, machine):
    machine_id, calls = machine
    mem = cli.registry.open("memory")
    mem.create(defaults_for("debian12", mem.capabilities(), name="db"), progress=no_progress,
               cancel=CancelToken())
    code, _, err = cli("set", "web", "--name", "DB")
    assert code == 1 and "name: Another machine here is already called db" in err
    code, _, err = cli("set", "web", "--cpus", "0")
    assert code == 1 and "cpu.count" in err
    code, _, err = cli("set", "web", "--iso", "/no/such.iso")
    assert code == 1 and "does not exist" in err
    assert cli("set", "web")[0] == 2  # nothing named to change
    assert calls == []
    mem.start(machine_id)  # hardware needs the machine off: the backend's word, one line
    code, _, err = cli("set", "web", "--memory", "3G")
    assert code == 1 and err.startswith("error: Cannot change the hardware of web")
    assert cli("set", "web", "--notes", "running fine")[0] == 0
    assert spec_of(cli, machine_id).notes == "running fine"


def test_spec_get_and_apply_send_the_difference(cli: Run, machine, tmp_path: Path):
    _, calls = machine
    code, out, _ = cli("spec", "get", "web")
    assert code == 0
    data = json.loads(out)
    assert data["schema_version"] == 1 and data["name"] == "web"
    data["cpu"]["count"] = 3
    data["notes"] = "from a file"
    path = tmp_path / "web.json"
    path.write_text(json.dumps(data))
    code, out, _ = cli("spec", "apply", "web", str(path), "--dry-run")
    assert (code, out.strip(), calls) == (0, "web: would change cpu, notes", [])
    code, out, _ = cli("spec", "apply", "web", str(path))
    assert (code, out.strip()) == (0, "web: changed cpu, notes")
    [(old, new)] = calls
    assert changed_groups(old, new) == {"cpu", "notes"}
    assert cli("spec", "apply", "web", str(path))[1].strip() == "web: nothing to change"
    data["memory"]["size_mib"] = 0
    path.write_text(json.dumps(data))
    code, _, err = cli("spec", "apply", "web", str(path))
    assert code == 1 and "memory.size_mib" in err and len(calls) == 1
    path.write_text("{not json")
    code, _, err = cli("spec", "apply", "web", str(path))
    assert code == 2 and "not valid JSON" in err and len(calls) == 1
    assert cli("spec", "get", "web", "-o", str(tmp_path / "out.json"))[0] == 0
    assert json.loads((tmp_path / "out.json").read_text())["cpu"]["count"] == 3


def editor_script(tmp_path: Path, body: str) -> str:
    """An $EDITOR: a Python script given the spec file's path, run as a real process."""
    script = tmp_path / "editor.py"
    script.write_text("import json, sys\npath = sys.argv[1]\n"
                      "data = json.load(open(path))\n" + textwrap.dedent(body)
                      + "json.dump(data, open(path, 'w'))\n")
    return f"{sys.executable} {script}"


def test_edit_applies_what_was_changed_in_the_editor(cli: Run, machine, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch):
    machine_id, calls = machine
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", editor_script(tmp_path, """
        data["cpu"]["count"] = 6
        data["notes"] = "edited"
    """))
    code, out, err = cli("edit", "web")
    assert (code, err) == (0, "")
    assert out.strip() == "web: changed cpu, notes"
    [(old, new)] = calls
    assert changed_groups(old, new) == {"cpu", "notes"}
    assert spec_of(cli, machine_id).cpu.count == 6


def test_an_invalid_edit_is_abandoned_without_a_change(cli: Run, machine, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch):
    machine_id, calls = machine
    before = spec_of(cli, machine_id)
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", editor_script(tmp_path, 'data["cpu"]["count"] = 0\n'))
    code, _, err = cli("edit", "web")  # stdin is no terminal: "Edit again?" is no
    assert code == 2
    assert "edit: error: cpu.count" in err and "nothing changed" in err
    assert calls == [] and spec_of(cli, machine_id) == before
    monkeypatch.setenv("EDITOR", editor_script(tmp_path, 'data["bogus"] = 1\n'))
    code, _, err = cli("edit", "web")
    assert code == 2 and "edit (field bogus)" in err and calls == []


def test_an_invalid_edit_reopens_and_only_the_edit_is_applied(cli: Run, machine,
                                                               monkeypatch: pytest.MonkeyPatch):
    machine_id, _ = machine
    mem = cli.registry.open("memory")
    rounds: list[dict[str, Any]] = []

    def editor(path: Path) -> int:
        rounds.append(json.loads(path.read_text()))
        data = json.loads(path.read_text())
        data["memory"]["size_mib"] = 0 if len(rounds) == 1 else 3072  # a mistake, then fixed
        path.write_text(json.dumps(data))
        if len(rounds) == 1:  # someone renames it elsewhere while the editor is open
            current = mem.get_machine(machine_id).spec
            mem.update(machine_id, current, current.model_copy(update={"notes": "elsewhere"}),
                       progress=no_progress, cancel=CancelToken())
        return 0
    monkeypatch.setattr(edit_commands, "run_editor", editor)
    monkeypatch.setattr(edit_commands, "confirm", lambda ctx, question: True)
    code, out, err = cli("edit", "web")
    assert code == 0 and len(rounds) == 2
    assert rounds[1]["memory"] == {**rounds[0]["memory"], "size_mib": 0}  # re-opened as typed
    assert "memory.size_mib" in err
    assert out.strip() == "web: changed memory"
    spec = spec_of(cli, machine_id)
    assert spec.memory.size_mib == 3072 and spec.notes == "elsewhere"  # not reverted


def test_poweroff_of_a_saved_machine_says_it_discarded_the_state(cli: Run, machine):
    machine_id, _ = machine
    mem = cli.registry.open("memory")
    mem.start(machine_id)
    mem.save_state(machine_id, progress=no_progress, cancel=CancelToken())
    code, out, _ = cli("poweroff", "web")
    assert (code, out.strip()) == (0, "web: saved state discarded; powered off")
    assert mem.get_machine(machine_id).state.value == "off"
