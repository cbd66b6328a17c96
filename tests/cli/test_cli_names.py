"""desktopvm-cli and machine names: the one naming rule for create, clone and import (unique per
backend, case-insensitively), and names — refused ones too — never reach the terminal raw."""

from __future__ import annotations

import io
import json
import re

import pytest

from desktopvm.cli import main
from desktopvm.cli.common import Context
from desktopvm.model import MAX_NAME_LENGTH, defaults_for
from desktopvm.protocol import BackendError
from desktopvm.registry import KNOWN_BACKENDS, KnownBackend, Registry
from desktopvm.testing.doubles.memory_backend import MemoryBackend

MEMORY = KnownBackend("memory", "Memory", "desktopvm.testing.doubles.memory_plugin")
# What a terminal acts on: C0 but \n, DEL, C1 (U+0085 NEL, U+009B CSI), separators, bidi.
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
EVIL = "evil\x1b]0;pwned\x07\x9b31m\x85\u202e"


class Run:
    def __init__(self) -> None:
        self.registry = Registry(known=(*KNOWN_BACKENDS, MEMORY))

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = main(list(argv), registry=self.registry, out=out, err=err)
        return code, out.getvalue(), err.getvalue()

    @property
    def memory(self) -> MemoryBackend:
        backend = self.registry.open("memory")
        assert isinstance(backend, MemoryBackend)
        return backend

    def names(self) -> list[str]:
        return sorted(m.name for m in self.memory.list_machines())


@pytest.fixture
def cli() -> Run:
    return Run()


def assert_nothing_raw(*texts: str) -> None:
    for text in texts:
        assert not RAW.search(text), f"raw control character in {text!r}"


BAD = ["", "  ", " lead", "trail ", "new\nline", "tab\tx", "esc\x1b[2J", "nel\x85", "csi\x9b",
       "x" * (MAX_NAME_LENGTH + 1)]


@pytest.mark.parametrize("name", BAD)
def test_create_clone_and_import_refuse_the_same_names_and_echo_them_escaped(
        cli: Run, name: str, tmp_path):
    assert cli("create", "--backend", "memory", "--name", "source")[0] == 0
    appliance = tmp_path / "a.ova"
    appliance.write_bytes(b"whatever")
    for argv in (["create", "--backend", "memory", "--name", name],
                 ["clone", "source", name],
                 *([["import", str(appliance), "--backend", "memory", "--name", name]]
                   if name else [])):
        code, out, err = cli(*argv)
        assert code == 1, (argv, out, err)
        assert "name" in err and "cannot import" not in err, err  # refused for the name
        assert_nothing_raw(out, err)
    assert cli.names() == ["source"]


def test_names_are_unique_per_backend_case_insensitively(cli: Run):
    assert cli("create", "--backend", "memory", "--name", "Web")[0] == 0
    code, _, err = cli("create", "--backend", "memory", "--name", "WEB")
    assert code == 1 and "already called Web" in err
    code, _, err = cli("clone", "Web", "web")
    assert code == 1 and "already called Web" in err
    assert cli("clone", "Web", "web 2")[0] == 0
    assert cli.names() == ["Web", "web 2"]


def test_a_name_at_the_limit_is_fine_for_create_and_clone(cli: Run):
    longest = "n" * MAX_NAME_LENGTH
    assert cli("create", "--backend", "memory", "--name", longest)[0] == 0
    assert cli("clone", longest, "m" * MAX_NAME_LENGTH)[0] == 0


def test_names_made_outside_desktopvm_are_shown_escaped_everywhere(cli: Run):
    spec = defaults_for("other-linux", cli.memory.capabilities(), name=f"{EVIL}\nFAKE ROW")
    machine_id = cli.memory.adopt(spec.model_copy(update={"notes": "one\ntwo\x1b[2J"}))
    code, out, err = cli("list")
    assert code == 0 and "evil\\x1b]0;pwned\\x07\\x9b31m\\x85\\u202e\\nFAKE ROW" in out
    assert not any(line.startswith("FAKE ROW") for line in out.splitlines())
    assert_nothing_raw(out, err)
    code, out, err = cli("show", machine_id)
    assert code == 0 and "\\nFAKE ROW" in out and "one\ntwo\\x1b[2J" in out  # notes keep lines
    assert_nothing_raw(out, err)
    code, out, err = cli("list", "--json")
    assert json.loads(out)["machines"][0]["name"] == spec.name  # escaped as JSON, the same string
    assert_nothing_raw(out, err)
    for argv in (["start", machine_id], ["pause", machine_id], ["snapshot", "take", machine_id,
                 "s\x1b1"], ["snapshot", "list", machine_id], ["poweroff", machine_id]):
        code, out, err = cli(*argv)
        assert code == 0, (argv, err)
        assert "evil\\x1b" in out or "s\\x1b1" in out, argv
        assert_nothing_raw(out, err)


def test_refused_and_unknown_names_in_errors_are_escaped(cli: Run):
    code, out, err = cli("start", f"no{EVIL}")
    assert code == 1 and "\\x1b" in err
    assert_nothing_raw(out, err)
    running = cli.memory.adopt(defaults_for("other-linux", cli.memory.capabilities(), name=EVIL))
    assert cli("start", running)[0] == 0
    code, out, err = cli("--verbose", "delete", running, "--yes")  # the backend's message
    assert code == 1 and "evil\\x1b]0;pwned" in err and "running" in err
    assert_nothing_raw(out, err)
    cli.memory.fail_next = BackendError(f"Cannot read {EVIL}", f"stderr: {EVIL}\nline two")
    code, out, err = cli("--verbose", "create", "--backend", "memory", "--name", "ok")
    assert code == 1 and "stderr: evil\\x1b" in err and "\nline two" in err
    assert_nothing_raw(out, err)
    code, out, err = cli("create", "--backend", "memory", "--name", f"{EVIL} ")
    assert code == 1 and "\\x9b" in err
    assert_nothing_raw(out, err)


def test_every_printed_line_is_escaped_even_text_that_is_no_name():
    out = io.StringIO()
    Context(None, None, out=out).print("a\x1b[2Jb\nc\x9bd")  # type: ignore[arg-type]
    assert out.getvalue() == "a\\x1b[2Jb\nc\\x9bd\n"


def test_list_says_why_a_machine_cannot_be_read(tmp_path, monkeypatch, capsys):
    """A QEMU machine with a damaged record is listed as unknown, with the reason on stderr
    and in --json (#21 §4)."""
    import json

    from desktopvm.cli import main

    monkeypatch.setenv("DESKTOPVM_HOME", str(tmp_path / "home"))
    assert main(["create", "--backend", "qemu", "--name", "a", "--disk", "0"]) == 0
    capsys.readouterr()
    [folder] = (tmp_path / "home" / "machines").iterdir()
    (folder / "machine.json").write_text("{bad", encoding="utf-8")
    assert main(["list"]) == 0
    out = capsys.readouterr()
    assert f"qemu:{folder.name}: Its record cannot be read" in out.err
    assert "unknown" in out.out
    assert main(["list", "--json"]) == 0
    [machine] = json.loads(capsys.readouterr().out)["machines"]
    assert machine["state"] == "unknown" and "cannot be read" in machine["problem"]
