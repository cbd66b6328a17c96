"""The machines each local backend listed last survive a restart, a damaged file and a
read-only folder, and are written only when the list changed."""

from __future__ import annotations

from pathlib import Path

from desktopvm import last_seen
from desktopvm.protocol import MachineSummary, PowerState


def machine(name: str, state: PowerState = PowerState.RUNNING) -> MachineSummary:
    return MachineSummary("qemu", f"id-{name}", name, state, os="debian12", cpus=2,
                          memory_mib=2048)


def test_a_listing_comes_back_in_state_unknown(tmp_path: Path) -> None:
    file = tmp_path / "last-seen.json"
    last_seen.remember("qemu", [machine("web"), machine('a "quoted" name')], file)
    back = last_seen.recall("qemu", file)
    assert [m.name for m in back] == ["web", 'a "quoted" name']
    assert all(m.state is PowerState.UNKNOWN for m in back)  # nobody can ask it now
    assert back[0].cpus == 2 and back[0].memory_mib == 2048 and back[0].os == "debian12"
    assert last_seen.recall("virtualbox", file) == []


def test_an_unchanged_list_is_not_written_again(tmp_path: Path) -> None:
    file = tmp_path / "last-seen.json"
    last_seen.remember("qemu", [machine("web")], file)
    file.write_text("{}", encoding="utf-8")  # so a second write would show
    last_seen.remember("qemu", [machine("web")], file)
    assert file.read_text(encoding="utf-8") == "{}"
    last_seen.remember("qemu", [machine("web"), machine("db")], file)
    assert [m.name for m in last_seen.recall("qemu", file)] == ["web", "db"]


def test_a_damaged_file_is_no_crash(tmp_path: Path) -> None:
    file = tmp_path / "last-seen.json"
    file.write_text('{"qemu": [{"name": "half"}, {"backend": "qemu", "id": "1", "name": "ok",'
                    ' "host": "localhost", "os": "", "cpus": 1, "memory_mib": 64}]}',
                    encoding="utf-8")
    assert [m.name for m in last_seen.recall("qemu", file)] == ["ok"]
    file.write_text("not json", encoding="utf-8")
    assert last_seen.recall("qemu", file) == []
    last_seen.remember("qemu", [machine("web")], tmp_path / "missing" / "x" / "f.json")
