"""desktopvm-cli backup / backups against real QEMU machines with tiny disks (TCG), and the
schedule commands against a stand-in systemctl (a test machine has no user session)."""

from __future__ import annotations

import io
import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktopvm.cli import main
from desktopvm.registry import Registry
from desktopvm.settings import Settings

pytestmark = [pytest.mark.qemu]


class Run:
    """CLI commands in-process against one registry (QEMU on a private library)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = main(list(argv), registry=self.registry, out=out, err=err)
        return code, out.getvalue(), err.getvalue()

    def ok(self, *argv: str) -> str:
        code, out, err = self(*argv)
        assert code == 0, err
        return out


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Run]:
    registry = Registry(Settings(library_dir=str(tmp_path / "library"), qemu_accel="tcg"))
    yield Run(registry)
    for machine in registry.open("qemu").list_machines():
        main(["delete", f"qemu:{machine.id}", "--delete-disks", "--yes"], registry=registry,
             out=io.StringIO(), err=io.StringIO())
    registry.close()


NAME = 'db "prod" 100%'


@pytest.fixture
def machine(cli: Run) -> str:
    cli.ok("create", "--backend", "qemu", "--name", NAME, "--os", "other-linux",
           "--firmware", "bios", "--memory", "128M", "--cpus", "1", "--disk", "16M",
           "--network", "none")
    return NAME


def test_backup_incremental_list_verify_prune(cli: Run, machine: str, tmp_path: Path):
    folder = tmp_path / "backups"
    folder.mkdir()
    out = cli.ok("backup", machine, "--to", str(folder))
    assert f"backed up {machine}: full set" in out
    out = cli.ok("backup", machine, "--to", str(folder))
    assert "incremental set" in out
    sets = json.loads(cli.ok("backups", "list", str(folder), "--json"))
    assert [(s["machine"], s["kind"], s["problem"]) for s in sets] == [
        (machine, "full", ""), (machine, "incremental", "")]
    assert sets[1]["parent"] == sets[0]["id"] and sets[0]["source"] == "qemu"
    table = cli.ok("backups", "list", str(folder))
    assert table.splitlines()[0].split() == ["MACHINE", "KEY", "SET", "TIME", "KIND", "SIZE",
                                             "SOURCE", "WAS", "CHECK"]
    out = cli.ok("backups", "verify", sets[1]["path"])
    assert "verified" in out and sets[0]["id"] in out
    # keep-last 1 cannot drop the full set the newest (incremental) one depends on
    out = cli.ok("backups", "prune", str(folder), "--machine", machine, "--keep-last", "1")
    assert "0 set(s) deleted, 2 kept" in out
    out = cli.ok("backup", machine, "--to", str(folder), "--full", "--keep-last", "1")
    assert out.count("pruned ") == 2
    assert [s["kind"] for s in json.loads(cli.ok("backups", "list", str(folder),
                                                  "--json"))] == ["full"]


def test_a_damaged_set_is_listed_and_refused_by_verify(cli: Run, machine: str,
                                                       tmp_path: Path):
    folder = tmp_path / "backups"
    folder.mkdir()
    cli.ok("backup", machine, "--to", str(folder))
    [made] = json.loads(cli.ok("backups", "list", str(folder), "--json"))
    disk = next((Path(made["path"]) / "disks").iterdir())
    with disk.open("r+b") as handle:  # one flipped byte in the middle of the disk file
        handle.seek(disk.stat().st_size // 2)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0xFF]))
    code, out, err = cli("backups", "verify", made["path"])
    assert code == 1 and out == ""
    assert err.startswith("error: Backup ") and "damaged" in err and disk.name in err
    assert len(err.strip().splitlines()) == 1


def test_bad_input_is_refused_in_words(cli: Run, machine: str, tmp_path: Path):
    code, _, err = cli("backup", machine, "--to", str(tmp_path / "unplugged"))
    assert code == 2 and "no such folder (is the drive connected?" in err
    assert not (tmp_path / "unplugged").exists()
    code, _, err = cli("backup", machine)
    assert code == 2 and "--to DIR is needed" in err
    code, _, err = cli("backup", machine, "--to", str(tmp_path), "--every", "daily")
    assert code == 2 and "backup schedule" in err
    code, _, err = cli("backups", "prune", str(tmp_path), "--machine", machine)
    assert code == 2 and "say what to keep" in err
    code, _, err = cli("backup", "no such vm", "--to", str(tmp_path))
    assert code == 1 and "No machine 'no such vm'" in err


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_run_without_a_terminal_is_unattended(cli: Run, machine: str, tmp_path: Path):
    """An entry written before --scheduled existed (or cron) runs with no terminal: its
    failure is news for the app all the same."""
    from desktopvm.schedule import runs

    code, _, _ = cli("backup", machine, "--to", str(tmp_path / "unplugged"))
    assert code == 2
    [run] = runs.read()
    assert run.scheduled and runs.unseen_failures() == [run]


def test_each_run_is_noted_for_the_app(cli: Run, machine: str, tmp_path: Path):
    """The outcome of every `backup MACHINE` run lands in the run log the app reads: the
    failures a scheduler meets (an unplugged drive, a machine gone) as well as the sets made."""
    from desktopvm.schedule import runs

    folder = tmp_path / "sets"
    folder.mkdir()
    cli.ok("backup", machine, "--to", str(folder), "--scheduled")
    code, _, _ = cli("backup", machine, "--to", str(tmp_path / "unplugged"), "--scheduled")
    assert code == 2
    # Typed in a terminal (the user sees the error there): not news for the app.
    code = main(["backup", "no such vm", "--to", str(folder)], registry=cli.registry,
                out=io.StringIO(), err=Terminal())
    assert code == 1
    made, unplugged, missing = runs.read()
    # Noted as CONNECTION:NAME, the way schedules and the app's Back up dialog name it.
    assert made.ok and made.scheduled and made.machine == f"qemu:{machine}"
    assert made.line.startswith("full set ") and made.destination == str(folder.resolve())
    assert not unplugged.ok and unplugged.scheduled and unplugged.machine == f"qemu:{machine}"
    assert "no such folder (is the drive connected?" in unplugged.line
    assert not missing.ok and not missing.scheduled and "No machine 'no such vm'" in missing.line
    # Only the scheduled failure is news for the app; a later success there clears it.
    assert runs.unseen_failures() == [unplugged]
    cli.ok("backup", machine, "--to", str(folder), "--scheduled")
    assert runs.unseen_failures() == [unplugged]  # another folder: that one still failed
    (tmp_path / "unplugged").mkdir()  # the drive is back
    cli.ok("backup", machine, "--to", str(tmp_path / "unplugged"), "--scheduled")
    assert runs.unseen_failures() == []


def test_a_set_made_before_pruning_failed_is_said_so(cli: Run, machine: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch):
    from desktopvm.cli import backup_commands
    from desktopvm.protocol import BackendError
    from desktopvm.schedule import runs

    def broken(*_args: object, **_kwargs: object) -> None:
        raise BackendError("the folder became read-only")

    monkeypatch.setattr(backup_commands, "prune", broken)
    code, _, err = cli("backup", machine, "--to", str(tmp_path), "--keep-last", "1",
                       "--scheduled")
    assert code == 1 and "read-only" in err
    [run] = runs.read()
    assert not run.ok and run.line.startswith("the full set ")
    assert "was made, but pruning older sets failed: the folder became read-only" in run.line


def test_encoded_arguments_from_a_windows_task(cli: Run, machine: str, tmp_path: Path):
    folder = tmp_path / "100% backups"
    folder.mkdir()
    out = cli.ok("backup", machine.encode().hex(), "--to", str(folder).encode().hex(),
                 "--encoded")
    assert f"backed up {machine}" in out
    code, _, err = cli("backup", "zz", "--to", "zz", "--encoded")
    assert code == 2 and "must be hex" in err


@pytest.fixture
def fake_systemctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A systemctl that answers as a working user manager and logs what it was asked."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "systemctl.log"
    script = bin_dir / "systemctl"
    script.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexit 0\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return log


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="systemd timers are Linux's")
def test_schedule_list_unschedule(cli: Run, machine: str, tmp_path: Path,
                                  fake_systemctl: Path):
    folder = tmp_path / "backups"
    folder.mkdir()
    out = cli.ok("backup", "schedule", machine, "--to", str(folder), "--every", "weekly",
                 "--at", "04:30", "--keep-last", "4")
    assert f"scheduled: back up qemu:{machine} every Monday at 04:30" in out
    [entry] = json.loads(cli.ok("backup", "schedules", "--json"))
    assert (entry["machine"], entry["to"], entry["every"], entry["at"], entry["keep_last"]) == (
        f"qemu:{machine}", str(folder), "weekly", "04:30", 4)
    service = tmp_path / "config" / "systemd" / "user" / f"{entry['entry']}.service"
    assert "ExecStart=" in service.read_text()
    assert "enable --now" in fake_systemctl.read_text()
    code, _, err = cli("backup", "schedule", machine, "--to", str(folder), "--every", "daily",
                       "--at", "7pm")
    assert code == 2 and "HH:MM" in err
    assert "unscheduled" in cli.ok("backup", "unschedule", machine)
    assert json.loads(cli.ok("backup", "schedules", "--json")) == []
    code, _, err = cli("backup", "unschedule", machine)
    assert code == 1 and "no backup of" in err


def test_the_scheduled_command_line_is_one_the_cli_runs(cli: Run, machine: str,
                                                        tmp_path: Path, fake_systemctl: Path):
    """What the timer would run, read back from the unit with systemd's quoting rules and run
    as it stands (the program included), makes a set."""
    import subprocess

    from desktopvm.schedule import systemd

    folder = tmp_path / "it's $HOME"
    folder.mkdir()
    cli.ok("backup", "schedule", machine, "--to", str(folder), "--every", "daily")
    [unit] = (tmp_path / "config" / "systemd" / "user").glob("*.service")
    argv = systemd.split(next(line for line in unit.read_text().splitlines()
                              if line.startswith("ExecStart="))[len("ExecStart="):])
    env = {**os.environ, "DESKTOPVM_QEMU_ACCEL": "tcg"}
    settings = {"library_dir": str(tmp_path / "library"), "qemu_accel": "tcg"}
    (Path(os.environ["DESKTOPVM_HOME"]) / "config.json").write_text(json.dumps(settings))
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert f"backed up {machine}: full set" in done.stdout


def test_own_format_is_always_a_full_set(cli: Run, machine: str, tmp_path: Path):
    folder = tmp_path / "backups"
    folder.mkdir()
    cli.ok("backup", machine, "--to", str(folder))
    out = cli.ok("backup", machine, "--to", str(folder), "--own-format")
    assert "full set" in out  # QEMU's own format is qcow2, but own-format sets start chains
    sets = json.loads(cli.ok("backups", "list", str(folder), "--json"))
    assert [s["kind"] for s in sets] == ["full", "full"]
