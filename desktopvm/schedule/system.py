"""The one door to the operating system's schedulers: `systemctl --user` and `schtasks`."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from desktopvm.schedule.entry import ScheduleError

TIMEOUT_S = 60.0  # systemctl and schtasks answer in well under a second when they work


@dataclass(frozen=True)
class Ran:
    """What a scheduler command said."""

    argv: tuple[str, ...]
    code: int
    out: str
    err: str

    def line(self) -> str:
        """The tool's own first line of complaint (stderr, else stdout)."""
        text = (self.err.strip() or self.out.strip()).splitlines()
        return text[0] if text else f"exit code {self.code}"


def run(argv: Sequence[str], *, timeout: float = TIMEOUT_S) -> Ran:
    """Run a scheduler command to its end (no shell: each argument reaches it as it is).
    ScheduleError when the program is missing or does not answer in time."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, errors="replace",
                              timeout=timeout, check=False, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise ScheduleError(f"{argv[0]} is not installed here; backups cannot be scheduled "
                            "on this computer") from None
    except subprocess.TimeoutExpired:
        raise ScheduleError(f"{argv[0]} did not answer within {timeout:.0f} s") from None
    except OSError as error:
        raise ScheduleError(f"cannot run {argv[0]}: {error.strerror or error}") from None
    return Ran(tuple(argv), done.returncode, done.stdout, done.stderr)
