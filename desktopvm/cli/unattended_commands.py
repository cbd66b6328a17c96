"""`create --unattended …` and `create --cloud-image …`: the seed disc beside the machine.

The password (and a Windows product key) are read from stdin, never from the command line
(other users can read a process's arguments). They go into the seed disc and nowhere else:
not the settings, the log, the spec or the seed's record.
"""

from __future__ import annotations

import argparse
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from desktopvm import seeds
from desktopvm.cli.common import Context, UsageError, format_size, run_cancellable
from desktopvm.connections import kind_of
from desktopvm.images import UnsafeImage, check_untrusted, disk_format
from desktopvm.media.unattended import (
    AnswerError,
    Answers,
    SeedPlan,
    plan_cloud_seed,
    plan_seed,
    write_seed,
)
from desktopvm.media.unattended.initrd import InstallerBoot, NoInstaller
from desktopvm.model import BootDevice, Disk, Firmware, MachineSpec, catalog, printable
from desktopvm.protocol import Backend, MachineSummary, StartMode


def add_arguments(create: argparse.ArgumentParser) -> None:
    """The unattended-install and cloud-image options of `create`."""
    group = create.add_argument_group(
        "unattended install and cloud images",
        "--unattended answers the OS installer from a seed disc; --cloud-image starts from a "
        "cloud disk image with a cloud-init seed. The seed is taken out after the first boot.")
    group.add_argument("--unattended", action="store_true",
                       help="install without questions (Windows, Ubuntu, Debian, Fedora/RHEL/"
                       "Alma/Rocky)")
    group.add_argument("--cloud-image", type=Path, metavar="FILE",
                       help="a cloud disk image (qcow2, raw, vmdk, vhdx) to start from; needs --os")
    group.add_argument("--user", help="the user to make")
    group.add_argument("--full-name", default="")
    group.add_argument("--password-stdin", action="store_true",
                       help="read the password from the first line of stdin")
    group.add_argument("--product-key-stdin", action="store_true",
                       help="read a Windows product key from the next line of stdin")
    group.add_argument("--hostname", default="")
    group.add_argument("--timezone", default="Etc/UTC", help="e.g. Europe/Berlin")
    group.add_argument("--locale", default="en_US.UTF-8")
    group.add_argument("--keyboard", default="us", help="keyboard layout, e.g. us, de")
    group.add_argument("--ssh-key", type=Path, action="append", default=[], metavar="FILE",
                       help="a public key file to let in (repeatable)")
    group.add_argument("--packages", default="", help="comma-separated packages to install")
    group.add_argument("--no-guest-tools", action="store_true",
                       help="skip the hypervisor's guest agent / VirtIO drivers")
    group.add_argument("--dry-run", action="store_true",
                       help="print the files the seed disc would hold; create nothing")


@dataclass
class Seeding:
    """A seed disc (and a converted cloud disk) made for a machine about to be created."""

    spec: MachineSpec
    seed: Path
    backend: Backend
    made: list[Path] = field(default_factory=list)
    installer: InstallerBoot | None = None  # Debian on QEMU: the installer's first boot

    def undo(self) -> None:
        """The machine was not created: remove what was made for it (also a copy of the seed
        already sent to the host)."""
        seeds.drop_uploads(self.backend, self.seed)
        for path in self.made:
            path.unlink(missing_ok=True)

    def created(self, ctx: Context, backend: Backend, machine_id: str) -> None:
        """Remember the seed, so it is taken out after the first boot."""
        record = seeds.record_for(backend, machine_id, self.seed)
        seeds.remember(record)
        seeds.boot_installer(backend, machine_id, self.installer)
        if self.installer is not None:
            print(f"first boot: {self.installer.label} (the installer's kernel from the disc; "
                  "dropped with the seed after the first boot)", file=ctx.err)
        copy = f" (its copy on the host: {printable(record.host_copy)})" \
            if record.host_copy else ""
        print(f"seed disc {self.seed} attached{copy}; DesktopVM takes it out once the machine "
              "has run and is off again", file=ctx.err)


def wanted(ctx: Context) -> bool:
    """Whether `create` was asked for a seed at all."""
    return bool(ctx.args.unattended or ctx.args.cloud_image)


def _stdin_line(ctx: Context, what: str) -> str:
    line = ctx.stdin.readline()
    if not line:
        raise UsageError(f"{what} was to come on stdin, but stdin ended")
    return line.rstrip("\r\n")


def _answers(ctx: Context, *, password_needed: bool) -> Answers:
    args = ctx.args
    if not args.user:
        raise UsageError("--user is needed: the account the machine gets")
    if password_needed and not args.password_stdin:
        raise UsageError("--password-stdin is needed: the password is read from stdin, "
                         "never taken on the command line")
    password = _stdin_line(ctx, "the password") if args.password_stdin else ""
    key = _stdin_line(ctx, "the product key") if args.product_key_stdin else ""
    keys = []
    for path in args.ssh_key:
        try:
            keys += [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
                     if line.strip() and not line.startswith("#")]
        except (OSError, UnicodeDecodeError) as error:
            raise UsageError(f"cannot read the SSH key {path}: {error}") from error
    return Answers(user=args.user, password=password, full_name=args.full_name,
                   hostname=args.hostname, timezone=args.timezone, locale=args.locale,
                   keyboard=args.keyboard, product_key=key.strip().upper(),
                   guest_tools=not args.no_guest_tools, ssh_keys=tuple(keys),
                   packages=tuple(p.strip() for p in args.packages.split(",") if p.strip()))


def _plan(ctx: Context, backend: Backend, spec: MachineSpec) -> SeedPlan:
    instance = f"desktopvm-{uuid.uuid4()}"
    entry = catalog().get(spec.os)
    try:
        if ctx.args.cloud_image:
            return plan_cloud_seed(_answers(ctx, password_needed=False), instance_id=instance)
        if entry is None:
            raise UsageError(f"unknown OS {spec.os!r}")
        return plan_seed(entry, _answers(ctx, password_needed=True),
                         uefi=spec.firmware.kind is Firmware.UEFI,
                         backend_kind=kind_of(backend.name), instance_id=instance)
    except AnswerError as error:
        raise UsageError(str(error)) from error


def prepare(ctx: Context, backend: Backend, spec: MachineSpec, *,
            local: bool) -> Seeding | None:
    """Write the seed (and convert a cloud image) for `spec`; None after a dry run."""
    args = ctx.args
    if args.unattended and args.cloud_image:
        raise UsageError("--unattended installs from an ISO; --cloud-image needs no installer")
    if args.cloud_image and (args.os is None or args.iso):
        raise UsageError("--cloud-image needs --os (the image's system) and no --iso")
    if args.unattended and not any(drive.iso for _, drive in spec.all_optical()):
        raise UsageError("--unattended needs the installer's disc (--iso FILE)")
    if not args.dry_run:
        reason = seeds.refusal(backend.name)  # e.g. a remote Hyper-V host: no way to copy the seed
        if reason:
            raise UsageError(reason)
        if args.cloud_image and not local:
            raise UsageError("cloud images are not supported on remote hosts yet (the image "
                             "is converted on this computer; its disk would have to be copied "
                             "to the host)")
    plan = _plan(ctx, backend, spec)
    if args.dry_run:
        ctx.print(plan.text())
        print(f"note: {plan.how_found}", file=ctx.err)
        return None
    settings = ctx.registry.settings
    seeding = Seeding(spec=spec, seed=seeds.new_seed_path(settings), backend=backend)
    try:
        seeding.installer = seeds.installer_boot_for(plan, backend, spec)
    except NoInstaller as error:
        raise UsageError(str(error)) from error
    try:
        if args.cloud_image:
            seeding.spec = _cloud_disk(ctx, backend, spec, seeding)
        write_seed(plan, seeding.seed)
        seeding.made.append(seeding.seed)
    except BaseException:
        seeding.undo()
        raise
    seeding.spec = seeds.with_seed(seeding.spec, seeding.seed)
    print(f"note: {plan.how_found}", file=ctx.err)
    return seeding


def _cloud_disk(ctx: Context, backend: Backend, spec: MachineSpec, seeding: Seeding
                ) -> MachineSpec:
    """The cloud image, checked by the rules for disks from outside, converted to the
    backend's format beside the seeds and grown to the asked size; the spec boots it."""
    source = ctx.args.cloud_image
    try:
        facts = check_untrusted(source, label=source.name, local_extents=True)
    except UnsafeImage as error:
        raise UsageError(f"the cloud image is refused: {error}") from error
    except OSError as error:
        raise UsageError(f"cannot read the cloud image {source}: {error.strerror}") from error
    first = next(((ci, c) for ci, c in enumerate(spec.storage) if c.disks), None)
    if first is None:
        raise UsageError("the machine has no disk for the cloud image (drop --disk 0)")
    index, controller = first
    disk = controller.disks[0]
    target = seeding.seed.with_name(seeding.seed.stem + "-disk." + disk.format.extension)
    seeding.made.append(target)
    print(f"converting {source.name} ({disk_format(facts).value}) to {disk.format.value}",
          file=ctx.err)
    run_cancellable(ctx, lambda progress, cancel: backend.convert_disk(
        source, target, disk.format, progress=progress, cancel=cancel))
    size = disk.size_bytes
    if size > facts.virtual_size:
        run_cancellable(ctx, lambda progress, cancel: backend.resize_disk(
            target, size, progress=progress, cancel=cancel))
    elif size < facts.virtual_size:
        print(f"note: the image is {format_size(facts.virtual_size)}, more than the "
              f"{format_size(size)} asked; it keeps its size", file=ctx.err)
    new_disk = Disk(path=str(target), format=disk.format, existing=True, port=disk.port,
                    device=disk.device)
    storage = list(spec.storage)
    storage[index] = controller.model_copy(update={"disks": (new_disk, *controller.disks[1:])})
    print(f"disk {printable(str(target))}", file=ctx.err)
    return spec.model_copy(update={"storage": tuple(storage),
                                   "boot_order": (BootDevice.DISK,)})


def sweep(ctx: Context, backend: Backend, machines: list[MachineSummary]) -> None:
    """Take out the seed discs whose first boot is over (see desktopvm/seeds.py; a remote
    host that takes no seeds has none)."""
    for name in seeds.observe(ctx.registry.settings, backend, machines):
        print(f"note: took the seed disc out of {printable(name)} (its first boot is over)",
              file=ctx.err)


def start(ctx: Context, backend: Backend, summary: MachineSummary, mode: StartMode) -> None:
    """Start a machine through seeds.start, saying when a finished seed was taken out."""
    if seeds.start(ctx.registry.settings, backend, summary.id, mode):
        print(f"note: took the seed disc out of {printable(summary.name)} (its first boot is "
              "over)", file=ctx.err)


def first_boot(backend: Backend, machine_id: str) -> str:
    """What the machine's next (or current) first boot is ("Debian installer with answers"),
    for `show`; "" when it boots as usual."""
    return seeds.installer_boot(backend, machine_id)
