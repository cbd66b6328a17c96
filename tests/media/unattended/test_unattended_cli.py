"""`create --unattended` through the CLI against the memory backend: the seed disc beside the
machine, secrets only from stdin, the dry run, and the seed taken out after the first boot."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from desktopvm import seeds
from desktopvm.cli import main
from desktopvm.registry import KNOWN_BACKENDS, Registry
from tests.cli.test_cli import MEMORY

PASSWORD = 'very "secret" pass'
BASE = ("create", "--backend", "memory", "--name", "web", "--os", "ubuntu24.04",
        "--unattended", "--user", "ann", "--hostname", "web-1", "--iso", __file__)


class Run:
    """The CLI in-process, with stdin (so the memory backend's machines persist)."""

    def __init__(self) -> None:
        self.registry = Registry(known=(*KNOWN_BACKENDS, MEMORY))

    def __call__(self, *argv: str, stdin: str = "") -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = main(list(argv), registry=self.registry, out=out, err=err,
                    stdin=io.StringIO(stdin))
        return code, out.getvalue(), err.getvalue()

    def seed_folder(self) -> Path:
        return seeds.seed_folder(self.registry.settings)


@pytest.fixture
def run() -> Run:
    return Run()


def test_dry_run_prints_the_files_and_makes_nothing(run: Run):
    code, out, err = run(*BASE, "--password-stdin", "--dry-run", stdin=PASSWORD + "\n")
    assert code == 0, err
    assert "--- user-data (on the seed disc labelled cidata) ---" in out
    assert 'username: "ann"' in out and "$6$" in out and PASSWORD not in out
    assert "asks once" in err
    assert run("list", "--backend", "memory", "--json")[1].count('"name"') == 0
    assert not run.seed_folder().exists()


def test_the_password_comes_only_from_stdin(run: Run):
    code, _, err = run(*BASE)
    assert code == 2 and "--password-stdin is needed" in err
    code, _, err = run(*BASE, "--password-stdin", stdin="")
    assert code == 2 and "stdin ended" in err
    code, _, err = run(*BASE, "--password", "x")  # no option takes it as an argument
    assert code == 2 and "unrecognized arguments: x" in err
    assert run("list", "--backend", "memory", "--json")[1].count('"name"') == 0


def test_unattended_needs_the_installers_disc(run: Run):
    code, _, err = run(*BASE[:-2], "--password-stdin", stdin="pw\n")
    assert code == 2 and "--unattended needs the installer's disc (--iso FILE)" in err


def test_an_os_without_unattended_install_is_refused_in_words(run: Run):
    code, _, err = run("create", "--backend", "memory", "--name", "a", "--os", "arch",
                       "--unattended", "--user", "ann", "--password-stdin", "--iso", __file__,
                       stdin="x\n")
    assert code == 2 and "no unattended install for Arch Linux" in err
    assert not run.seed_folder().exists()


def test_seed_attached_then_taken_out_after_the_first_boot(run: Run):
    code, out, err = run(*BASE, "--password-stdin", "--json", stdin=PASSWORD + "\n")
    assert code == 0, err
    created = json.loads(out)
    drives = [d["iso"] for c in created["spec"]["storage"] for d in c["optical"]]
    [seed] = [Path(d) for d in drives if ".seeds" in d]
    assert seed.parent == run.seed_folder() and seed.is_file()
    assert seed.stat().st_mode & 0o077 == 0  # the answers are for the owner only
    [record] = seeds.records(run.registry.settings, "memory")
    assert (record.machine_id, record.seen_running) == (created["id"], False)
    # Nothing in the spec, the record or the output holds the password.
    everything = out + err + record.path.read_text()
    assert PASSWORD not in everything

    assert run("list")[0] == 0  # off, never run: the seed stays
    assert seed.is_file()
    assert run("start", "web")[0] == 0
    assert seeds.records(run.registry.settings, "memory")[0].seen_running
    assert run("poweroff", "web")[0] == 0  # the installer's last step powers off
    code, _, err = run("list")
    assert code == 0 and "took the seed disc out of web" in err
    assert not seed.exists() and not seeds.records(run.registry.settings, "memory")
    spec = json.loads(run("show", "web", "--json")[1])["spec"]
    assert str(seed) not in json.dumps(spec)


def test_seed_taken_out_before_a_second_start_nobody_watched_end(run: Run):
    assert run(*BASE, "--password-stdin", stdin="pw\n")[0] == 0
    [record] = seeds.records(run.registry.settings, "memory")
    assert run("start", "web")[0] == 0
    backend = run.registry.open("memory")
    backend.power_off(record.machine_id)  # off without DesktopVM looking (the guest did it)
    code, _, err = run("start", "web")
    assert code == 0 and "took the seed disc out of web" in err
    assert not Path(record.seed).exists()
    spec = backend.get_machine(record.machine_id).spec
    assert record.seed not in json.dumps(spec.model_dump())


def test_a_failed_create_leaves_no_seed(run: Run):
    assert run("create", "--backend", "memory", "--name", "web")[0] == 0
    code, _, err = run(*BASE, "--password-stdin", stdin="pw\n")  # the name is taken
    assert code != 0 and "web" in err
    assert list(run.seed_folder().iterdir()) == []


def test_windows_product_key_from_stdin_and_drive_added(run: Run):
    code, out, err = run("create", "--backend", "memory", "--name", "win", "--os", "windows11",
                         "--unattended", "--user", "Ann O'Neil", "--password-stdin",
                         "--product-key-stdin", "--iso", __file__, "--timezone",
                         "Europe/Berlin", "--dry-run",
                         stdin="pw\nabcde-fghij-klmno-pqrst-uvwxy\n")
    assert code == 0, err
    assert "<Key>ABCDE-FGHIJ-KLMNO-PQRST-UVWXY</Key>" in out
    assert "<Name>Ann O&apos;Neil</Name>" in out or "<Name>Ann O'Neil</Name>" in out
    assert "W. Europe Standard Time" in out


def test_the_windows_refresh_and_start_take_finished_seeds_out(run: Run):
    """The window's machine list (a worker's list_connection) and its Start (seeds.start)."""
    from desktopvm.protocol import CancelToken, StartMode, no_progress
    from desktopvm.ui.connection_refresh import list_connection

    assert run(*BASE, "--password-stdin", stdin="pw\n")[0] == 0
    settings, backend = run.registry.settings, run.registry.open("memory")
    [record] = seeds.records(settings, "memory")
    assert seeds.start(settings, backend, record.machine_id, StartMode.HEADLESS) is False
    assert seeds.records(settings, "memory")[0].seen_running  # its first boot began
    backend.power_off(record.machine_id)
    list_connection(run.registry, "memory", False, no_progress, CancelToken())
    assert not Path(record.seed).exists() and not seeds.records(settings, "memory")

    # A second machine: seen running by the refresh, off unseen, then started again.
    assert run(*BASE[:4], "web2", *BASE[5:], "--password-stdin", stdin="pw\n")[0] == 0
    [second] = seeds.records(settings, "memory")
    backend.start(second.machine_id)  # started elsewhere; the refresh sees it run
    list_connection(run.registry, "memory", False, no_progress, CancelToken())
    assert seeds.records(settings, "memory")[0].seen_running
    backend.power_off(second.machine_id)
    assert seeds.start(settings, backend, second.machine_id, StartMode.HEADLESS) is True
    assert not Path(second.seed).exists()


def _files_holding(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_the_password_is_in_no_file_and_windows_only_on_the_seed(run: Run,
                                                                 desktopvm_home: Path):
    secret = "unique-Secret-4711"
    assert run(*BASE, "--password-stdin", stdin=secret + "\n")[0] == 0
    assert run("list")[0] == 0
    assert _files_holding(desktopvm_home, secret.encode()) == []  # Linux: only the hash
    code, _, err = run("create", "--backend", "memory", "--name", "win", "--os", "windows11",
                       "--unattended", "--user", "ann", "--password-stdin", "--iso", __file__,
                       stdin=secret + "\n")
    assert code == 0, err
    from desktopvm.media.unattended.windows import encoded_password

    holders = _files_holding(desktopvm_home, encoded_password(secret).encode())
    [record] = [r for r in seeds.records(run.registry.settings, "memory")
                if "win" in json.dumps(run.registry.open("memory").get_machine(
                    r.machine_id).summary.name)]
    assert holders == [Path(record.seed)]
    assert _files_holding(desktopvm_home, secret.encode()) == []


def test_create_with_seed_removes_the_seed_when_create_fails(tmp_path: Path):
    from desktopvm.media.unattended import Answers, plan_seed
    from desktopvm.model import catalog, defaults_for
    from desktopvm.protocol import CancelToken, CommandFailed, no_progress
    from desktopvm.settings import Settings
    from desktopvm.testing.doubles.memory_backend import MemoryBackend

    class Failing(MemoryBackend):
        def create(self, spec, *, progress, cancel):
            raise CommandFailed("no space left")

    settings = Settings(library_dir=str(tmp_path / "library"))
    backend = Failing(tmp_path / "machines")
    entry = catalog().get("fedora")
    assert entry is not None
    plan = plan_seed(entry, Answers(user="ann", password="pw"), uefi=True,
                     backend_kind="memory", instance_id="i")
    spec = defaults_for("fedora", backend.capabilities(), name="f")
    with pytest.raises(CommandFailed):
        seeds.create_with_seed(settings, backend, spec, plan, progress=no_progress,
                               cancel=CancelToken())
    assert list(seeds.seed_folder(settings).iterdir()) == []
    ok = MemoryBackend(tmp_path / "machines2")
    machine_id = seeds.create_with_seed(settings, ok, spec, plan, progress=no_progress,
                                        cancel=CancelToken())
    [record] = seeds.records(settings, "memory")
    assert record.machine_id == machine_id and Path(record.seed).is_file()
