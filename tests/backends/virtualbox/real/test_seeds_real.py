"""Unattended installs on the real VirtualBox 7.2: `create --unattended` through the CLI puts
the seed disc in a second DVD drive (showvminfo says so), and once the machine has been seen
running and then off, `list` takes the drive out (showvminfo again) and deletes the seed.

A machine cannot run here (no vboxdrv): "seen running" is fed to seeds.observe as a listing
of the machine in state RUNNING, as the window's refresh would report it; "off" is VirtualBox's
own answer to the next `list`."""

from __future__ import annotations

import dataclasses
import io
import json
import uuid
from pathlib import Path

from desktopvm import seeds
from desktopvm.cli import main
from desktopvm.protocol import PowerState
from desktopvm.registry import Registry
from desktopvm.settings import Settings
from tests.backends.virtualbox.real.realvbox import WRAPPER, RealVBox

PASSWORD = "seed-Secret-4711"


def cli(registry: Registry, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), registry=registry, out=out, err=err, stdin=io.StringIO(stdin))
    return code, out.getvalue(), err.getvalue()


def dvds(info: dict[str, str]) -> dict[str, str]:
    """showvminfo's DVD slots with a medium: "SATA-1-0" → the ISO's path."""
    slots = {key: value for key, value in info.items()
             if key.count("-") == 2 and key.split("-")[0] in ("SATA", "IDE")
             and value.endswith(".iso")}
    return slots


def test_create_unattended_then_the_first_boot_takes_the_seed_out(
        real_vbox: RealVBox, tmp_path: Path) -> None:
    registry = Registry(Settings(vboxmanage_path=str(WRAPPER)))
    installer = tmp_path / f"ubuntu-{uuid.uuid4().hex[:6]}.iso"
    installer.write_bytes(b"\0" * 32768 * 2)  # VirtualBox opens an ISO when it is attached
    code, out, err = cli(registry, "create", "--backend", "virtualbox", "--name", "seeded",
                         "--os", "ubuntu24.04", "--iso", str(installer), "--disk", "1",
                         "--unattended", "--user", "ann", "--password-stdin", "--json",
                         stdin=PASSWORD + "\n")
    assert code == 0, err
    machine_id = json.loads(out)["id"]
    [record] = seeds.records(registry.settings, "virtualbox")
    seed = Path(record.seed)
    assert record.machine_id == machine_id and seed.is_file() and not record.host_copy
    # VirtualBox's own view: two DVD drives, the installer and the seed.
    assert sorted(dvds(real_vbox.machine_readable(machine_id)).values()) == \
        sorted([str(installer), str(seed)])
    assert PASSWORD not in record.path.read_text()

    backend = registry.open("virtualbox")
    [summary] = [m for m in backend.list_machines() if m.id == machine_id]
    assert summary.state is PowerState.OFF
    assert seeds.observe(registry.settings, backend, [summary]) == []  # never seen running
    assert record.path.exists()
    running = dataclasses.replace(summary, state=PowerState.RUNNING)
    assert seeds.observe(registry.settings, backend, [running]) == []
    assert seeds.records(registry.settings, "virtualbox")[0].seen_running

    code, _, err = cli(registry, "list", "--backend", "virtualbox")
    assert code == 0 and "took the seed disc out of seeded" in err
    assert list(dvds(real_vbox.machine_readable(machine_id)).values()) == [str(installer)]
    assert not seed.exists() and not record.path.exists()
    registry.close()
