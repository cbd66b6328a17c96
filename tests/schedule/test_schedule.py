"""Scheduled backups: the units and task XML written, read back, quoted for any name, and
checked by systemd's own tools where they are installed."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from defusedxml import ElementTree as SafeET
from hypothesis import example, given, settings
from hypothesis import strategies as st

from desktopvm import schedule as scheduling
from desktopvm.schedule import systemd, windows
from desktopvm.schedule.entry import Schedule, ScheduleError, decode, encode, from_arguments

NASTY = ['we"b', "it's", "100% sure", "$HOME", "${HOME}", "a;b", ";", "back\\slash\\",
         "tab\there", "new\nline", "%h %% %", "ünïcödé ☃", "trailing space ", " lead",
         '\\"', "\\\\", "*?[]", "--to", "-x", "'single'", "\x7f\x01"]

# Any character, with the ones quoting rules care about often enough to meet each other.
characters = st.one_of(st.sampled_from('\\"\' \t\n%$;'),
                       st.characters(exclude_categories=["Cs"], exclude_characters="\0"))
names = st.text(characters, min_size=1, max_size=40)


def sample(machine: str = "qemu:web", **changes: object) -> Schedule:
    values: dict[str, object] = {"destination": "/srv/backups", "every": "daily",
                                 "at": "03:00"} | changes
    return Schedule(machine, **values)  # type: ignore[arg-type]


# -- the entry ----------------------------------------------------------------------------
def test_arguments_are_the_backup_command_with_retention():
    entry = sample(full=True, compress=False, keep_last=3, daily=7, weekly=4)
    assert entry.arguments() == ["backup", "qemu:web", "--to", "/srv/backups", "--scheduled",
                                 "--full", "--no-compress", "--keep-last", "3", "--daily", "7",
                                 "--weekly", "4"]
    assert from_arguments(entry.arguments(), "daily", "03:00") == entry
    # Entries made before --scheduled existed still read back.
    old = [a for a in entry.arguments() if a != "--scheduled"]
    assert from_arguments(old, "daily", "03:00") == entry
    own = sample(own_format=True)
    assert own.arguments()[-1] == "--own-format"
    assert from_arguments(own.arguments(), "daily", "03:00") == own


@pytest.mark.parametrize("changes, message", [
    ({"every": "monthly"}, "--every must be one of"),
    ({"at": "25:00"}, "HH:MM"),
    ({"at": "3:00"}, "HH:MM"),
    ({"destination": "relative/dir"}, "absolute"),
    ({"keep_last": -1}, "negative"),
])
def test_bad_schedules_are_refused_in_words(changes: dict[str, object], message: str):
    with pytest.raises(ScheduleError, match=message):
        sample("qemu:web", **changes)


def test_entry_names_are_ours_and_distinct():
    one, other = sample("qemu:web"), sample("qemu:WEB")
    assert one.name.startswith("desktopvm-backup-qemu-web-")
    assert one.name != other.name
    assert all(c.isalnum() or c == "-" for c in sample('a"b %$;\n').name)


@given(names)
def test_encoding_survives_anything(text: str):
    assert set(encode(text)) <= set("0123456789abcdef")
    assert decode(encode(text)) == text


# -- systemd --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NASTY)
def test_systemd_units_read_back_for_nasty_names(name: str):
    entry = sample(f"qemu:{name}", destination=f"/srv/{name}", every="weekly", at="04:15",
                   keep_last=2)
    service, timer = systemd.unit_texts(entry, ["/opt/dvm/desktopvm-cli"])
    assert systemd.parse_units(service, timer) == entry


@given(st.lists(names, min_size=1, max_size=5))
@example(['x\\"y', "end\\", "%%", "$$", ";", "\n"])
@settings(max_examples=300)
def test_systemd_quoting_round_trips(argv: list[str]):
    assert systemd.split(systemd.command_line(argv)) == argv


def test_systemd_quoting_of_raw_file_name_bytes():
    raw = b"/srv/caf\xe9".decode("utf-8", "surrogateescape")  # a Latin-1 file name
    assert systemd.split(systemd.command_line([raw])) == [raw]


def test_systemd_split_knows_systemd_escapes():
    assert systemd.split(r'"a b" c\x41 \101 "\s" \; "$$X" "%%"') == ["a b", "cA", "A", " ",
                                                                     ";", "$X", "%"]
    with pytest.raises(ScheduleError, match="unbalanced"):
        systemd.split('"open')


@pytest.mark.parametrize("every, at, calendar", [
    ("hourly", "07:45", "*-*-* *:45:00"), ("daily", "03:00", "*-*-* 03:00:00"),
    ("weekly", "23:59", "Mon *-*-* 23:59:00")])
def test_timer_calendars(every: str, at: str, calendar: str):
    entry = sample(every=every, at=at)
    assert systemd.on_calendar(entry) == calendar
    service, timer = systemd.unit_texts(entry, ["/x"])
    assert f"OnCalendar={calendar}\n" in timer and "Persistent=true" in timer
    assert systemd.parse_units(service, timer).every == every
    if shutil.which("systemd-analyze"):  # systemd's own parser accepts it as written
        done = subprocess.run(["systemd-analyze", "calendar", calendar], capture_output=True,
                              text=True, check=False)
        assert done.returncode == 0, done.stderr


@pytest.mark.skipif(not shutil.which("systemd-analyze"),
                    reason="systemd-analyze is not installed here (the quoting is still "
                           "checked against systemd's documented rules above)")
@pytest.mark.parametrize("name", NASTY)
def test_systemd_analyze_verify_accepts_the_units(name: str, tmp_path: Path):
    """systemd's own unit loader reads every line we write without a complaint (it reports
    unknown escapes, unbalanced quotes and bad specifiers)."""
    entry = sample(f"qemu:{name}", destination=f"/srv/{name}", keep_last=1)
    service, timer = systemd.unit_texts(entry, [sys.executable],
                                        {"DESKTOPVM_HOME": f"/home/u/{name}"})
    (tmp_path / f"{entry.name}.service").write_text(service, encoding="utf-8")
    (tmp_path / f"{entry.name}.timer").write_text(timer, encoding="utf-8")
    done = subprocess.run(["systemd-analyze", "verify", "--man=no",
                           str(tmp_path / f"{entry.name}.service"),
                           str(tmp_path / f"{entry.name}.timer")],
                          capture_output=True, text=True, check=False, cwd=tmp_path)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


@pytest.fixture
def fake_systemctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `systemctl` on PATH that logs its arguments and answers as a working user manager
    (the real one needs a user session, which a test machine does not have)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "systemctl.log"
    script = bin_dir / "systemctl"
    script.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\n'
                      'case "$*" in *show-environment*) echo HOME=/h;; esac\nexit 0\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return log


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="systemd is Linux's")
def test_install_list_remove_with_a_user_manager(fake_systemctl: Path, tmp_path: Path):
    entry = sample('qemu:my "web" 100%', keep_last=5)
    name = scheduling.install(entry, ["/opt/dvm/desktopvm-cli"])
    units = tmp_path / "config" / "systemd" / "user"
    assert (units / f"{name}.service").is_file() and (units / f"{name}.timer").is_file()
    assert f"--user enable --now {name}.timer" in fake_systemctl.read_text()
    (units / "someone-else.timer").write_text("[Timer]\nOnCalendar=daily\n")
    found = scheduling.entries()
    assert [(e.name, e.schedule) for e in found] == [(name, entry)]
    assert scheduling.remove('my "web" 100%') == [name]  # the plain name finds it
    assert f"--user disable --now {name}.timer" in fake_systemctl.read_text()
    assert not (units / f"{name}.timer").exists() and (units / "someone-else.timer").exists()
    with pytest.raises(ScheduleError, match="no backup of"):
        scheduling.remove("qemu:web")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="systemd is Linux's")
def test_a_damaged_unit_is_listed_with_its_problem(fake_systemctl: Path, tmp_path: Path):
    name = scheduling.install(sample(), ["/x"])
    units = tmp_path / "config" / "systemd" / "user"
    (units / f"{name}.service").write_text("[Service]\nExecStart=\"/x\" \"unbalanced\n")
    [found] = scheduling.entries()
    assert found.schedule is None and "unbalanced" in found.problem


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="systemd is Linux's")
def test_no_user_session_is_a_clear_error_and_writes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "systemctl"
    script.write_text('#!/bin/sh\necho "Failed to connect to bus: No medium found" >&2\n'
                      "exit 1\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    with pytest.raises(ScheduleError, match=r"no systemd user session here \(systemctl --user:"
                       r" Failed to connect to bus"):
        scheduling.install(sample(), ["/x"])
    assert not (tmp_path / "config").exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="systemd is Linux's")
def test_missing_systemctl_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ScheduleError, match="systemctl is not installed here"):
        scheduling.install(sample(), ["/x"])


# -- Windows Task Scheduler -----------------------------------------------------------------
@given(st.lists(st.text(characters, max_size=30), max_size=5))
@example(['x\\"y', "end\\", '\\\\"', "", "a b\\"])
@settings(max_examples=300)
def test_windows_quoting_round_trips(argv: list[str]):
    assert windows.split(windows.join(argv)) == argv
    # the parser agrees with CPython's own writer of the same rules
    assert windows.split(subprocess.list2cmdline(argv)) == argv


@pytest.mark.parametrize("name", NASTY)
def test_task_xml_reads_back_for_nasty_names(name: str):
    entry = sample(f"qemu:{name}", destination=f"C:\\Backups\\{name}", every="weekly",
                   at="04:15", daily=7)
    text = windows.task_xml(entry, ["C:\\Program Files\\DesktopVM\\desktopvm-cli.exe"])
    assert windows.parse_task(text) == entry
    arguments = SafeET.fromstring(text.split("\n", 1)[1]).findtext(
        f"{{{windows.NS}}}Actions/{{{windows.NS}}}Exec/{{{windows.NS}}}Arguments")
    assert arguments is not None
    assert "%" not in arguments  # never a %NAME% for Task Scheduler to expand
    awkward = "%" in name or not name.isascii() or any(ord(c) < 0x20 for c in name)
    assert ("--encoded" in arguments) == awkward


def test_windows_split_follows_the_c_runtime_rules():
    """Microsoft's "Parsing C++ command-line arguments" examples, and "" inside quotes."""
    assert windows.split('"abc" d e') == ["abc", "d", "e"]
    assert windows.split(r'a\\\b d"e f"g h') == [r"a\\\b", "de fg", "h"]
    assert windows.split(r'a\\\"b c d') == [r'a\"b', "c", "d"]
    assert windows.split(r'a\\\\"b c" d e') == [r"a\\b c", "d", "e"]
    assert windows.split('"a""b"') == ['a"b']


def test_task_xml_follows_the_schema_order_and_settings():
    text = windows.task_xml(sample(every="hourly", at="00:30"), ["C:\\dvm.exe"])
    root = SafeET.fromstring(text.split("\n", 1)[1])
    ns = f"{{{windows.NS}}}"
    trigger = root.find(f"{ns}Triggers/{ns}CalendarTrigger")
    assert trigger is not None
    assert [child.tag.removeprefix(ns) for child in trigger] == [
        "Enabled", "StartBoundary", "Repetition", "ScheduleByDay"]
    assert root.findtext(f"{ns}Settings/{ns}StartWhenAvailable") == "true"
    assert root.findtext(f"{ns}Principals/{ns}Principal/{ns}LogonType") == "InteractiveToken"
    assert root.get("version") == "1.2"
    assert windows.parse_task(text).every == "hourly"


SCHTASKS = '''#!{python}
"""A stand-in schtasks: /Create /XML, /Query /FO CSV /NH, /Query /XML /TN, /Delete (the task
XML kept as files; the XML file must be UTF-16 with its BOM, as schtasks reads it)."""
import json, pathlib, sys
store = pathlib.Path({store!r})
store.mkdir(exist_ok=True)
args = sys.argv[1:]
(store.parent / "schtasks.log").open("a").write(json.dumps(args) + "\\n")
def file(name): return store / (name.replace("\\\\", "_") + ".xml")
if args[0] == "/Create":
    raw = pathlib.Path(args[args.index("/XML") + 1]).read_bytes()
    assert raw.startswith(b"\\xff\\xfe"), "not UTF-16 LE with a BOM"
    file(args[args.index("/TN") + 1]).write_text(raw.decode("utf-16"), encoding="utf-8")
elif args[:3] == ["/Query", "/FO", "CSV"]:
    print('"\\\\Microsoft\\\\Windows\\\\Defrag\\\\ScheduledDefrag","N/A","Ready"')
    print('"\\\\someone-else","N/A","Ready"')
    for path in sorted(store.glob("*.xml")):
        print('"' + path.stem.replace("_", "\\\\") + '","12/7/2026 3:00:00 AM","Ready"')
elif args[:2] == ["/Query", "/XML"]:
    path = file(args[args.index("/TN") + 1])
    if not path.exists():
        print("ERROR: The system cannot find the file specified.", file=sys.stderr)
        sys.exit(1)
    print(path.read_text(encoding="utf-8"))
elif args[0] == "/Delete":
    file(args[args.index("/TN") + 1]).unlink()
'''


def test_task_scheduler_install_list_remove_through_schtasks(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch):
    """The Windows side's calls, against a stand-in schtasks that follows its documented
    arguments (no Windows here: schtasks itself never ran)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "schtasks"
    script.write_text(SCHTASKS.format(python=sys.executable, store=str(tmp_path / "tasks")))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    entry = sample('qemu:web 100% "prod"', destination="C:\\Backups", every="hourly",
                   at="00:20", weekly=2)
    name = windows.install(entry, ["C:\\Program Files\\DesktopVM\\desktopvm-cli.exe"])
    assert name == "\\DesktopVM\\" + entry.name
    found = windows.installed()
    assert [(f.name, f.schedule) for f in found] == [(name, entry)]
    with pytest.raises(ScheduleError, match="not made by DesktopVM"):
        windows.remove("\\someone-else")
    windows.remove(name)
    assert windows.installed() == []
    log = (tmp_path / "schtasks.log").read_text()
    assert '"/Create", "/XML"' in log and '"/Delete", "/TN"' in log
