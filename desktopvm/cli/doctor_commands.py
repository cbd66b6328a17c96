"""`doctor`: check this computer's hypervisors (and an added host) like a support engineer would."""

from __future__ import annotations

import argparse
import platform
from dataclasses import asdict, dataclass, field

from desktopvm.cli.common import EXIT_FAILED, Context, find_host
from desktopvm.connections import Check
from desktopvm.protocol import BackendError

EXIT_OK = 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `doctor`."""
    doctor = sub.add_parser(
        "doctor", help="check the hypervisors here (and a remote host): each finding with "
        "its fix",
        description="Checks every hypervisor DesktopVM knows on this computer -- the tool, its "
        "version, hardware acceleration, drivers, firmware, rights and free space -- and, "
        "with --host, an added remote host (Test connection's steps, then its checks). Each "
        "finding that needs attention says how to fix it. Exit status 1 when a hypervisor "
        "that is installed (or the host) has a problem; a hypervisor that is not installed is "
        "reported but does not count.")
    doctor.add_argument("--json", action="store_true", help="print the findings as JSON")
    doctor.add_argument("--host", metavar="ID", help="also check this added host (its id, "
                        "address or label)")
    doctor.set_defaults(handler=doctor_command)


@dataclass
class Section:
    """One connection's findings."""

    connection: str
    name: str
    installed: bool
    reason: str = ""  # why it is not available here, when it is not
    checks: list[Check] = field(default_factory=list)

    @property
    def problems(self) -> list[Check]:
        """The findings that need attention; none counts for what is not installed."""
        return [c for c in self.checks if not c.ok] if self.installed else []


def _checks(ctx: Context, connection: str) -> list[Check]:
    try:
        return ctx.registry.doctor(connection)
    except BackendError as error:  # e.g. a kind this build cannot reach: itself a finding
        return [Check("Checks", False, error.summary, getattr(error, "install_hint", ""))]


def sections(ctx: Context, host_id: str = "") -> list[Section]:
    """Every local backend's findings, then the host's."""
    found = []
    for known in ctx.registry.known():
        probe = ctx.registry.probe(known.name)
        checks = _checks(ctx, known.name)
        if not checks and not probe.available:
            continue  # a backend with no doctor checks that is not here: nothing to say
        found.append(Section(known.name, known.display_name, probe.available,
                             "" if probe.available else probe.reason, checks))
    if host_id:
        found.append(Section(host_id, ctx.registry.display_name(host_id), True, "",
                             _checks(ctx, host_id)))
    return found


def doctor_command(ctx: Context) -> int:
    """Run every check and print the findings (text or --json)."""
    host_id = find_host(ctx, ctx.args.host).id if ctx.args.host else ""
    found = sections(ctx, host_id)
    problems = sum(len(s.problems) for s in found)
    if ctx.args.json:
        ctx.print_json({
            "computer": {"system": platform.system(), "release": platform.release(),
                         "machine": platform.machine()},
            "sections": [{"connection": s.connection, "name": s.name, "installed": s.installed,
                          "reason": s.reason, "checks": [asdict(c) for c in s.checks]}
                         for s in found],
            "problems": problems})
        return EXIT_FAILED if problems else EXIT_OK
    ctx.print(f"DesktopVM doctor: {platform.system()} {platform.release()} "
              f"({platform.machine()})")
    for section in found:
        ctx.print()
        state = "" if section.installed else f" -- not installed here: {section.reason}"
        ctx.print(f"{section.name}{state}")
        if not section.checks:
            ctx.print("  (no checks for this hypervisor yet)")
        for check in section.checks:
            mark = "ok " if check.ok else ("FIX" if section.installed else " - ")
            ctx.print(f"  {mark} {check.name}: {check.detail}".rstrip(": "))
            if check.fix and not check.ok:
                ctx.print(f"        fix: {check.fix}")
    ctx.print()
    ctx.print(f"{problems} problem{'s' if problems != 1 else ''} to fix" if problems
              else "No problems found in the installed hypervisors.")
    return EXIT_FAILED if problems else EXIT_OK
