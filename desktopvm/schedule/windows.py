"""Windows: a Task Scheduler task per scheduled backup, made with `schtasks /Create /XML`.

The XML follows Microsoft's "Task Scheduler Schema" (namespace
http://schemas.microsoft.com/windows/2004/02/mit/task, version 1.2; element order of
triggerBaseType: Enabled, StartBoundary, EndBoundary, Repetition, ExecutionTimeLimit). Tasks
live in the folder \\DesktopVM\\ and run as the logged-on user (InteractiveToken: no password is
stored; network shares the user has mapped are reachable). StartWhenAvailable catches up a
run missed while the computer was off.

The Exec action's Arguments are one string the program splits with the Microsoft C runtime's
rules ("Parsing C++ command-line arguments"): `join` writes them, `split` reads them. Task
Scheduler expands %NAME% in Arguments (ExecAction, Remarks) and has no escape for '%', and
XML 1.0 cannot carry most control characters: an argument holding either (or anything beyond
ASCII, which schtasks prints back in the console's code page) goes as hex with the CLI's
`--encoded` flag instead.
"""

from __future__ import annotations

import re
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from defusedxml import ElementTree as SafeET

from desktopvm.schedule import system
from desktopvm.schedule.entry import PREFIX, Schedule, ScheduleError, from_arguments

NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"
FOLDER = "\\DesktopVM\\"
_XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def needs_encoding(argument: str) -> bool:
    """Whether an argument cannot travel as itself through a task's Arguments: a '%', a
    control character, or anything beyond ASCII (`schtasks /Query /XML` prints the task in the
    console's code page, so such text would not read back as it was written)."""
    return "%" in argument or not argument.isascii() or bool(_XML_UNSAFE.search(argument)) \
        or any(char in argument for char in "\n\r\t")


def arguments_line(schedule: Schedule) -> str:
    """The task's Arguments (machine and folder in hex when they must be)."""
    encoded = needs_encoding(schedule.machine) or needs_encoding(schedule.destination)
    return join(schedule.arguments(encoded=encoded))


def join(argv: Sequence[str]) -> str:
    """A command line the Microsoft C runtime splits back into `argv`: an argument with a
    blank or a quote (or an empty one) goes in quotes, its quotes as \\", and backslashes are
    doubled where a quote follows them."""
    parts = []
    for argument in argv:
        if argument and not any(c in argument for c in ' \t"'):
            parts.append(argument)
            continue
        out, backslashes = ['"'], 0
        for char in argument:
            if char == "\\":
                backslashes += 1
                continue
            if char == '"':
                out.append("\\" * (2 * backslashes + 1) + '"')
            else:
                out.append("\\" * backslashes + char)
            backslashes = 0
        out.append("\\" * (2 * backslashes) + '"')
        parts.append("".join(out))
    return " ".join(parts)


def split(line: str) -> list[str]:
    """A command line as the Microsoft C runtime splits it (the inverse of list2cmdline):
    blanks separate outside quotes; 2n backslashes before a quote give n and the quote toggles
    quoting, 2n+1 give n and a literal quote; other backslashes are literal; "" inside quotes
    is a literal quote."""
    args: list[str] = []
    current: list[str] = []
    in_quotes, started, i = False, False, 0
    while i < len(line):
        char = line[i]
        if char == "\\":
            run = len(line[i:]) - len(line[i:].lstrip("\\"))
            if i + run < len(line) and line[i + run] == '"':
                current.append("\\" * (run // 2))
                if run % 2:
                    current.append('"')
                    i += run + 1
                else:
                    i += run
                started = True
                continue
            current.append("\\" * run)
            i += run
            started = True
            continue
        if char == '"':
            if in_quotes and line[i + 1:i + 2] == '"':
                current.append('"')
                i += 2
                continue
            in_quotes = not in_quotes
            started = True
        elif char in " \t" and not in_quotes:
            if started:
                args.append("".join(current))
                current, started = [], False
        else:
            current.append(char)
            started = True
        i += 1
    if started:
        args.append("".join(current))
    return args


def _trigger(schedule: Schedule) -> ET.Element:
    trigger = ET.Element("CalendarTrigger")
    # A fixed day in the past: the time of day (and Monday for weekly) is what counts.
    start = f"2024-01-01T{schedule.hour if schedule.every != 'hourly' else 0:02d}:" \
            f"{schedule.minute:02d}:00"
    ET.SubElement(trigger, "Enabled").text = "true"
    ET.SubElement(trigger, "StartBoundary").text = start  # 2024-01-01 was a Monday
    if schedule.every == "hourly":
        repetition = ET.SubElement(trigger, "Repetition")
        ET.SubElement(repetition, "Interval").text = "PT1H"
        ET.SubElement(repetition, "Duration").text = "P1D"
        ET.SubElement(repetition, "StopAtDurationEnd").text = "false"
    if schedule.every == "weekly":
        by_week = ET.SubElement(trigger, "ScheduleByWeek")
        ET.SubElement(by_week, "WeeksInterval").text = "1"
        ET.SubElement(ET.SubElement(by_week, "DaysOfWeek"), "Monday")
    else:
        ET.SubElement(ET.SubElement(trigger, "ScheduleByDay"), "DaysInterval").text = "1"
    return trigger


def task_xml(schedule: Schedule, program: Sequence[str]) -> str:
    """The task's XML for `schtasks /Create /XML` (text; written as UTF-16 with its BOM)."""
    task = ET.Element("Task", {"version": "1.2", "xmlns": NS})
    info = ET.SubElement(task, "RegistrationInfo")
    ET.SubElement(info, "Author").text = "DesktopVM"
    description = f"DesktopVM: back up {schedule.machine} {schedule.when()}"
    ET.SubElement(info, "Description").text = _XML_UNSAFE.sub("?", description)
    ET.SubElement(task, "Triggers").append(_trigger(schedule))
    principal = ET.SubElement(ET.SubElement(task, "Principals"), "Principal", {"id": "Author"})
    ET.SubElement(principal, "LogonType").text = "InteractiveToken"
    ET.SubElement(principal, "RunLevel").text = "LeastPrivilege"
    settings = ET.SubElement(task, "Settings")
    for key, value in (("MultipleInstancesPolicy", "IgnoreNew"),
                       ("DisallowStartIfOnBatteries", "false"),
                       ("StopIfGoingOnBatteries", "false"), ("StartWhenAvailable", "true"),
                       ("ExecutionTimeLimit", "PT0S"), ("Priority", "7")):
        ET.SubElement(settings, key).text = value
    actions = ET.SubElement(task, "Actions", {"Context": "Author"})
    execute = ET.SubElement(actions, "Exec")
    ET.SubElement(execute, "Command").text = program[0]
    ET.SubElement(execute, "Arguments").text = " ".join(
        part for part in (join(program[1:]), arguments_line(schedule)) if part)
    return '<?xml version="1.0" encoding="UTF-16"?>\n' + ET.tostring(task, "unicode") + "\n"


def parse_task(xml_text: str) -> Schedule:
    """Read a schedule back from a task's XML (as `task_xml` wrote it or schtasks shows it)."""
    try:  # the declaration names UTF-16, but this is text already
        root = SafeET.fromstring(re.sub(r"^\s*<\?xml[^>]*\?>", "", xml_text))
    except ET.ParseError as error:
        raise ScheduleError(f"unreadable task XML: {error}") from None
    ns = {"t": NS}
    arguments = root.findtext("t:Actions/t:Exec/t:Arguments", default="", namespaces=ns)
    start = root.findtext("t:Triggers/t:CalendarTrigger/t:StartBoundary", default="",
                          namespaces=ns)
    match = re.search(r"T(\d\d):(\d\d)", start)
    if not match:
        raise ScheduleError(f"not a trigger DesktopVM writes (StartBoundary {start!r})")
    trigger = root.find("t:Triggers/t:CalendarTrigger", ns)
    assert trigger is not None  # StartBoundary was found inside it
    if trigger.find("t:Repetition", ns) is not None:
        every = "hourly"
    elif trigger.find("t:ScheduleByWeek", ns) is not None:
        every = "weekly"
    else:
        every = "daily"
    argv = split(arguments)
    start_at = next((i for i, word in enumerate(argv) if word == "backup"), -1)
    if start_at < 0:
        raise ScheduleError("the task does not run `desktopvm-cli backup`")
    at = f"00:{match.group(2)}" if every == "hourly" else f"{match.group(1)}:{match.group(2)}"
    return from_arguments(argv[start_at:], every, at)


@dataclass(frozen=True)
class Installed:
    """A scheduled backup found in Task Scheduler (`problem`: why it could not be read)."""

    name: str
    schedule: Schedule | None
    problem: str = ""


def install(schedule: Schedule, program: Sequence[str]) -> str:
    """Create (or replace) the task; returns its name."""
    name = FOLDER + schedule.name
    with tempfile.TemporaryDirectory(prefix="desktopvm-task-") as scratch:
        path = Path(scratch) / "task.xml"
        path.write_text(task_xml(schedule, program), encoding="utf-16")
        ran = system.run(["schtasks", "/Create", "/XML", str(path), "/TN", name, "/F"])
    if ran.code != 0:
        raise ScheduleError(f"Task Scheduler refused the task {name}: {ran.line()}")
    return name


def remove(name: str) -> None:
    """Delete one of our tasks."""
    if not name.startswith(FOLDER + PREFIX):
        raise ScheduleError(f"{name} was not made by DesktopVM; leaving it alone")
    ran = system.run(["schtasks", "/Delete", "/TN", name, "/F"])
    if ran.code != 0:
        raise ScheduleError(f"Task Scheduler could not delete {name}: {ran.line()}")


def installed() -> list[Installed]:
    """Every task in \\DesktopVM\\ whose name has our prefix, read back from its XML."""
    ran = system.run(["schtasks", "/Query", "/FO", "CSV", "/NH"])
    if ran.code != 0:
        raise ScheduleError(f"Task Scheduler could not list the tasks: {ran.line()}")
    names = sorted({line.split(",")[0].strip('"') for line in ran.out.splitlines()
                    if line.startswith(f'"{FOLDER}{PREFIX}')})
    found: list[Installed] = []
    for name in names:
        shown = system.run(["schtasks", "/Query", "/XML", "/TN", name])
        try:
            if shown.code != 0:
                raise ScheduleError(shown.line())
            found.append(Installed(name, parse_task(shown.out)))
        except ScheduleError as error:
            found.append(Installed(name, None, str(error)))
    return found
