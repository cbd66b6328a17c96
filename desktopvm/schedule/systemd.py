"""Linux: a systemd user timer and service per scheduled backup, in ~/.config/systemd/user.

Quoting follows systemd.service(5), "Command lines", and systemd.unit(5), "Specifiers": each
argument is written in double quotes with C escapes (`\\\\`, `\\"`, `\\n`, `\\xNN`), `%` as
`%%` (specifiers are expanded after unquoting) and, in ExecStart=, `$` as `$$` (variables are
expanded at run time). A lone `;` is written `\\;` (older systemd split commands on it). A
timer is `Persistent=true`: a run missed while the computer was off happens at the next boot.
User timers run while the user has a session; `loginctl enable-linger` makes them run without.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from desktopvm import paths
from desktopvm.schedule import system
from desktopvm.schedule.entry import PREFIX, Schedule, ScheduleError, from_arguments

_NAMED = {"\a": "a", "\b": "b", "\f": "f", "\n": "n", "\r": "r", "\t": "t", "\v": "v"}
_UNNAMED = {value: key for key, value in _NAMED.items()} | {"s": " ", "\\": "\\", '"': '"',
                                                             "'": "'"}


def units_dir() -> Path:
    """Where systemd looks for the user's own units ($XDG_CONFIG_HOME/systemd/user)."""
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "systemd" / "user"


def quote(argument: str, *, dollars: bool = True) -> str:
    """One argument as systemd reads it back unchanged (see the module docstring)."""
    if argument == ";":
        return "\\;"
    out: list[str] = []
    for char in argument:
        code = ord(char)
        if char in '\\"':
            out.append("\\" + char)
        elif char == "%":
            out.append("%%")
        elif char == "$" and dollars:
            out.append("$$")
        elif char in _NAMED:
            out.append("\\" + _NAMED[char])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif 0xDC80 <= code <= 0xDCFF:  # a raw byte of a file name (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def command_line(argv: Sequence[str]) -> str:
    """ExecStart='s value for `argv`."""
    return " ".join(quote(argument) for argument in argv)


def split(line: str, *, dollars: bool = True) -> list[str]:
    """A command line as systemd splits it (the rules `quote` writes for): words split on
    blanks, quotes removed, C escapes, then `%%` and `$$` made single. Bytes from `\\xNN`
    that are not UTF-8 come back as surrogates, as Python's file names hold them."""
    words: list[bytes] = []
    word: bytearray | None = None
    quote_char = ""
    i = 0
    while i < len(line):
        char = line[i]
        if not quote_char and char in " \t":
            if word is not None:
                words.append(bytes(word))
                word = None
            i += 1
            continue
        word = word if word is not None else bytearray()
        if char in "\"'" and not quote_char:
            quote_char = char
        elif char == quote_char:
            quote_char = ""
        elif char == "\\":
            i, value = _unescape(line, i + 1)
            word += value
            continue
        else:
            word += char.encode("utf-8", "surrogatepass")
        i += 1
    if quote_char:
        raise ScheduleError(f"unbalanced quotes in {line!r}")
    if word is not None:
        words.append(bytes(word))
    texts = [w.decode("utf-8", "surrogateescape") for w in words]
    return [_single(text, dollars) for text in texts]


def _unescape(line: str, i: int) -> tuple[int, bytes]:
    """The escape starting at line[i] (after the backslash): (next index, its bytes)."""
    if i >= len(line):
        raise ScheduleError("a command line ends in a lone backslash")
    char = line[i]
    if char in _UNNAMED:
        return i + 1, _UNNAMED[char].encode()
    if char == ";":
        return i + 1, b";"
    if char == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", line[i + 1:i + 3]):
        return i + 3, bytes([int(line[i + 1:i + 3], 16)])
    if char in "01234567" and re.fullmatch(r"[0-7]{3}", line[i:i + 3]):
        return i + 3, bytes([int(line[i:i + 3], 8)])
    for letter, digits in (("u", 4), ("U", 8)):
        if char == letter and re.fullmatch(f"[0-9a-fA-F]{{{digits}}}", line[i + 1:i + 1 + digits]):
            return i + 1 + digits, chr(int(line[i + 1:i + 1 + digits], 16)).encode()
    raise ScheduleError(f"unknown escape \\{char} in a command line")


def _single(text: str, dollars: bool) -> str:
    out, i = [], 0
    while i < len(text):
        pair = text[i:i + 2]
        if pair == "%%" or (dollars and pair == "$$"):
            out.append(text[i])
            i += 2
            continue
        if text[i] == "%" or (dollars and text[i] == "$"):
            raise ScheduleError(f"a specifier or variable DesktopVM does not write: {text!r}")
        out.append(text[i])
        i += 1
    return "".join(out)


def on_calendar(schedule: Schedule) -> str:
    """The timer's OnCalendar= (systemd.time(5))."""
    if schedule.every == "hourly":
        return f"*-*-* *:{schedule.minute:02d}:00"
    day = "Mon " if schedule.every == "weekly" else ""
    return f"{day}*-*-* {schedule.at}:00"


_CALENDAR = re.compile(r"^(Mon )?\*-\*-\* (\*|\d\d):(\d\d):00$")


def _every(calendar: str) -> tuple[str, str]:
    match = _CALENDAR.match(calendar)
    if not match:
        raise ScheduleError(f"not a calendar DesktopVM writes: {calendar!r}")
    weekly, hour, minute = match.groups()
    if hour == "*":
        return "hourly", f"00:{minute}"
    return ("weekly" if weekly else "daily"), f"{hour}:{minute}"


def _description(schedule: Schedule) -> str:
    """A Description= value: one line, specifiers doubled (it is expanded too)."""
    text = f"DesktopVM: back up {schedule.machine} {schedule.when()}"
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text.replace("%", "%%")


def unit_texts(schedule: Schedule, program: Sequence[str],
               environment: dict[str, str] | None = None) -> tuple[str, str]:
    """(the .service, the .timer) for `schedule`, running `program` + the backup arguments."""
    description = _description(schedule)
    env_lines = "".join(f"Environment={quote(f'{key}={value}', dollars=False)}\n"
                        for key, value in sorted((environment or {}).items()))
    header = ("# Written by DesktopVM (`desktopvm-cli backup schedules` lists it; "
              "`desktopvm-cli backup unschedule` removes it).\n")
    service = (f"{header}[Unit]\nDescription={description}\n\n[Service]\nType=oneshot\n"
               f"{env_lines}ExecStart={command_line([*program, *schedule.arguments()])}\n"
               "Nice=10\nIOSchedulingClass=idle\n")
    timer = (f"{header}[Unit]\nDescription={description}\n\n[Timer]\n"
             f"OnCalendar={on_calendar(schedule)}\nPersistent=true\n"
             f"Unit={schedule.name}.service\n\n[Install]\nWantedBy=timers.target\n")
    return service, timer


def _value(text: str, key: str) -> str:
    found = [line[len(key) + 1:] for line in text.splitlines() if line.startswith(key + "=")]
    if len(found) != 1:
        raise ScheduleError(f"expected one {key}= line, found {len(found)}")
    return found[0]


def parse_units(service: str, timer: str) -> Schedule:
    """Read a schedule back from the two unit files `unit_texts` wrote."""
    every, at = _every(_value(timer, "OnCalendar"))
    argv = split(_value(service, "ExecStart"))
    start = next((i for i, word in enumerate(argv) if word == "backup"), -1)
    if start < 1:
        raise ScheduleError("the service does not run `desktopvm-cli backup`")
    return from_arguments(argv[start:], every, at)


@dataclass(frozen=True)
class Installed:
    """A scheduled backup found on this computer (`problem` says why it could not be read)."""

    name: str
    schedule: Schedule | None
    problem: str = ""


def _systemctl(*args: str) -> system.Ran:
    return system.run(["systemctl", "--user", *args])


def require_session() -> None:
    """ScheduleError unless a systemd user manager answers (it runs the timers)."""
    ran = _systemctl("show-environment")
    if ran.code != 0:
        raise ScheduleError(
            "no systemd user session here (systemctl --user: " + ran.line() + "); backups "
            "cannot be scheduled on this computer. Log in to a desktop session (or enable "
            "`loginctl enable-linger`), or run `desktopvm-cli backup` from your own scheduler")


def install(schedule: Schedule, program: Sequence[str]) -> str:
    """Write and enable the timer (replacing one for the same machine); returns its name."""
    require_session()
    home = os.environ.get(paths.HOME_ENV)
    service, timer = unit_texts(schedule, program, {paths.HOME_ENV: home} if home else None)
    folder = units_dir()
    folder.mkdir(parents=True, exist_ok=True)
    name = schedule.name
    paths.atomic_write_text(folder / f"{name}.service", service)
    paths.atomic_write_text(folder / f"{name}.timer", timer)
    reload = _systemctl("daemon-reload")
    enable = _systemctl("enable", "--now", f"{name}.timer") if reload.code == 0 else reload
    if enable.code != 0:
        _delete_files(name)
        _systemctl("daemon-reload")
        raise ScheduleError(f"systemd refused the timer {name}: {enable.line()}")
    return name


def _delete_files(name: str) -> None:
    folder = units_dir()
    for path in (folder / f"{name}.service", folder / f"{name}.timer",
                 folder / "timers.target.wants" / f"{name}.timer"):
        if path.is_symlink() or path.exists():
            path.unlink()


def remove(name: str) -> None:
    """Disable and delete one of our timers (the files go even without a user session)."""
    if not name.startswith(PREFIX):
        raise ScheduleError(f"{name} was not made by DesktopVM; leaving it alone")
    if _systemctl("show-environment").code == 0:
        _systemctl("disable", "--now", f"{name}.timer")
    _delete_files(name)
    if _systemctl("show-environment").code == 0:
        _systemctl("daemon-reload")


def installed() -> list[Installed]:
    """Every timer DesktopVM wrote (by name prefix), read back from its files."""
    found: list[Installed] = []
    for timer in sorted(units_dir().glob(f"{PREFIX}*.timer")):
        name = timer.name.removesuffix(".timer")
        try:
            service = timer.with_suffix(".service").read_text(encoding="utf-8")
            found.append(Installed(name, parse_units(service, timer.read_text(encoding="utf-8"))))
        except (OSError, UnicodeDecodeError, ScheduleError) as error:
            found.append(Installed(name, None, str(error)))
    return found
