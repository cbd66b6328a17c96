"""`desktopvm-cli spec …` and `create`: spec files, defaults, validation, creating machines."""

from __future__ import annotations

import argparse
from pathlib import Path

from desktopvm.cli import unattended_commands
from desktopvm.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Context,
    UsageError,
    format_size,
    parse_size,
    run_cancellable,
    target_backend,
)
from desktopvm.cli.media_commands import detect_for_create, media_of
from desktopvm.model import (
    Capabilities,
    Disk,
    DiskFormat,
    Firmware,
    MachineSpec,
    NetworkAdapter,
    NetworkAttachment,
    Problem,
    catalog,
    clash_problems,
    defaults_for,
    errors,
    generic_capabilities,
    json_schema,
    load_spec,
    printable,
    printable_lines,
    validate,
)
from desktopvm.model.catalog import BootMedia
from desktopvm.model.specfile import spec_to_data
from desktopvm.protocol import Backend, InvalidSpec


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]
                ) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """Register `spec` and `create`; returns the `spec` actions (others add theirs)."""
    spec = sub.add_parser("spec", help="spec files: validate, schema, defaults, get, apply")
    spec_sub = spec.add_subparsers(dest="spec_command", required=True, metavar="ACTION")
    check = spec_sub.add_parser("validate", help="check a spec file (exit 1 on errors)")
    check.add_argument("file", type=Path)
    check.add_argument("--backend", help="check against this backend's (or connection's) "
                       "capabilities")
    check.add_argument("--json", action="store_true", help="problems as JSON")
    check.set_defaults(handler=validate_command)
    schema = spec_sub.add_parser("schema", help="print the JSON Schema of spec files")
    schema.set_defaults(handler=schema_command)
    defaults = spec_sub.add_parser("defaults", help="the recommended spec for a guest OS")
    defaults.add_argument("os", help="an OS id (see `spec os-list`)")
    defaults.add_argument("--backend", help="fit the spec to this backend or connection")
    defaults.add_argument("--name", default="", help="machine name")
    defaults.add_argument("--json", action="store_true", help="print a spec file")
    defaults.set_defaults(handler=defaults_command)
    oses = spec_sub.add_parser("os-list", help="the guest OSes DesktopVM knows")
    oses.add_argument("--json", action="store_true")
    oses.set_defaults(handler=os_list_command)

    create = sub.add_parser("create", help="create a machine from a spec file or options")
    where = create.add_mutually_exclusive_group(required=True)
    where.add_argument("--backend", help="a backend on this computer (qemu, virtualbox, "
                       "hyperv) or a connection id")
    where.add_argument("--host", help="an added remote host (its id, address or label)")
    source = create.add_mutually_exclusive_group(required=True)
    source.add_argument("--spec", type=Path, help="a spec file")
    source.add_argument("--name", help="machine name (with --os and options)")
    create.add_argument("--os", help="guest OS id (default: the one detected on --iso, else "
                        "other-linux)")
    create.add_argument("--cpus", type=int)
    create.add_argument("--memory", help="e.g. 4G or 4096M (plain numbers are MiB)")
    create.add_argument("--disk", help="size of a new disk, e.g. 40G (plain numbers are GiB); "
                        "0 for none")
    create.add_argument("--disk-format", choices=[f.value for f in DiskFormat],
                        help="disk format (default: the backend's own)")
    create.add_argument("--attach-disk", type=Path, help="attach an existing disk image instead")
    create.add_argument("--iso", type=Path, help="an install ISO for the optical drive")
    create.add_argument("--firmware", choices=[f.value for f in Firmware])
    create.add_argument("--secure-boot", action=argparse.BooleanOptionalAction)
    create.add_argument("--tpm", action=argparse.BooleanOptionalAction)
    create.add_argument("--network", help="nat, none, bridged:IFACE, internal:NAME, "
                        "host-only:NAME, switch:NAME")
    create.add_argument("--notes", default="")
    create.add_argument("--json", action="store_true", help="print the created machine as JSON")
    unattended_commands.add_arguments(create)
    create.set_defaults(handler=create_command)
    return spec_sub


def capabilities_for(ctx: Context, backend_name: str | None) -> Capabilities:
    """The named backend's capabilities, or ones that allow everything when none is named."""
    if not backend_name:
        return generic_capabilities()
    return ctx.registry.open(backend_name).capabilities()


def print_problems(ctx: Context, problems: list[Problem], source: str) -> None:
    """One line per problem on stderr, errors first."""
    for problem in sorted(problems, key=lambda p: p.severity.value):
        print(f"{printable(source)}: {problem.severity.value}: {problem.field}: "
              f"{printable(problem.message)}", file=ctx.err)


def validate_command(ctx: Context) -> int:
    """`spec validate FILE`: exit 0 when valid (warnings allowed), 1 on errors, 2 if unreadable."""
    spec = load_spec(ctx.args.file)
    problems = validate(spec, capabilities_for(ctx, ctx.args.backend), media=media_of(spec))
    if ctx.args.json:
        ctx.print_json([p.model_dump(mode="json") for p in problems])
    else:
        print_problems(ctx, problems, str(ctx.args.file))
        if not errors(problems):
            ctx.print(f"{ctx.args.file}: valid" + (" (with warnings)" if problems else ""))
    return EXIT_FAILED if errors(problems) else EXIT_OK


def schema_command(ctx: Context) -> int:
    """`spec schema`."""
    ctx.print_json(json_schema())
    return EXIT_OK


def defaults_command(ctx: Context) -> int:
    """`spec defaults OS`."""
    if ctx.args.os not in catalog():
        raise UsageError(f"unknown OS {ctx.args.os!r}; `desktopvm-cli spec os-list` lists them")
    spec = defaults_for(ctx.args.os, capabilities_for(ctx, ctx.args.backend), name=ctx.args.name)
    if ctx.args.json:
        ctx.print_json(spec_to_data(spec))
    else:
        describe_spec(ctx, spec)
    return EXIT_OK


def os_list_command(ctx: Context) -> int:
    """`spec os-list`."""
    entries = catalog().entries
    if ctx.args.json:
        ctx.print_json([e.model_dump(mode="json") for e in entries])
    else:
        width = max(len(e.id) for e in entries)
        for entry in entries:
            ctx.print(f"{entry.id.ljust(width)}  {entry.name}")
    return EXIT_OK


def describe_spec(ctx: Context, spec: MachineSpec) -> None:
    """A readable summary of a spec."""
    fw = spec.firmware
    firmware = fw.kind.value.upper() + (", Secure Boot" if fw.secure_boot else "") + (
        ", TPM 2.0" if fw.tpm else "")
    ctx.print(f"Name:      {printable(spec.name)}")
    entry = catalog().get(spec.os)
    ctx.print(f"Guest OS:  {entry.name if entry else spec.os}")
    ctx.print(f"Firmware:  {firmware}")
    ctx.print(f"CPUs:      {spec.cpu.count}")
    ctx.print(f"Memory:    {spec.memory.size_mib} MiB")
    for controller in spec.storage:
        for disk in controller.disks:
            what = disk.path or "(new disk)"
            ctx.print(f"Disk:      {what} {format_size(disk.size_bytes)} {disk.format.value} on "
                      f"{controller.kind.value.upper()} port {disk.port}")
        for drive in controller.optical:
            ctx.print(f"Optical:   {drive.iso or '(empty)'} on {controller.kind.value.upper()}")
    for nic in spec.network:
        target = f" {nic.network}" if nic.network else ""
        ctx.print(f"Network:   {nic.attachment.value}{target}"
                  f"{' ' + nic.model.value if nic.model else ''}{' ' + nic.mac if nic.mac else ''}")
    if spec.notes:
        ctx.print(f"Notes:     {printable_lines(spec.notes)}")


def _network_option(text: str) -> tuple[NetworkAdapter, ...]:
    kind, _, name = text.partition(":")
    try:
        attachment = NetworkAttachment(kind)
    except ValueError:
        raise UsageError(f"unknown network {text!r} (nat, none, bridged:IFACE, internal:NAME, "
                         "host-only:NAME, switch:NAME)") from None
    if attachment is NetworkAttachment.NONE:
        return ()
    return (NetworkAdapter(attachment=attachment, network=name),)


def _os_and_media(ctx: Context, local: bool) -> tuple[str, BootMedia | None]:
    """The OS (--os, else the one detected on --iso, else other-linux) and how the ISO
    boots; what was detected is said on stderr, so --json output stays clean."""
    args = ctx.args
    os_id, media = args.os or "other-linux", None
    if args.iso and local:  # a remote host's ISO is not here to read
        detection, media, note = detect_for_create(args.iso)
        if detection is None:
            print(f"note: {printable(note)}; the OS and firmware are not taken from it",
                  file=ctx.err)
        elif args.os is None:
            os_id = detection.os_id
            entry = catalog().get(os_id)
            print(f"detected {printable(detection.summary())}: OS {os_id}"
                  f" ({entry.name if entry else os_id})", file=ctx.err)
    return os_id, media


def spec_from_options(ctx: Context, caps: Capabilities, *, local: bool = True) -> MachineSpec:
    """Build a spec from `create --name … --os …` options over the OS defaults. Paths are made
    absolute here only for this computer; a remote host's paths are its own, kept as typed."""
    args = ctx.args
    if args.os is not None and args.os not in catalog():
        raise UsageError(f"unknown OS {args.os!r}; `desktopvm-cli spec os-list` lists them")

    def where(path: Path) -> str:
        return str(path.resolve()) if local else str(path)

    os_id, media = _os_and_media(ctx, local)
    spec = defaults_for(os_id, caps, name=args.name, iso=where(args.iso) if args.iso else "",
                        media=media)
    # The name as given, even "": the naming rule refuses it rather than a default replacing it.
    update: dict[str, object] = {"name": args.name, "notes": args.notes}
    if args.cpus is not None:
        update["cpu"] = spec.cpu.model_copy(update={"count": args.cpus})
    if args.memory is not None:
        mib = parse_size(args.memory, "M") // 1024**2
        update["memory"] = spec.memory.model_copy(update={"size_mib": mib})
    firmware = spec.firmware
    if args.firmware:
        firmware = firmware.model_copy(update={"kind": Firmware(args.firmware)})
    if args.secure_boot is not None:
        firmware = firmware.model_copy(update={"secure_boot": args.secure_boot})
    if args.tpm is not None:
        firmware = firmware.model_copy(update={"tpm": args.tpm})
    update["firmware"] = firmware
    storage = list(spec.storage)
    if storage and (args.disk is not None or args.disk_format or args.attach_disk):
        first = storage[0]
        disk = first.disks[0] if first.disks else Disk()
        if args.attach_disk:
            disk = disk.model_copy(update={"path": where(args.attach_disk),
                                           "existing": True, "size_bytes": 0})
        else:
            size = parse_size(args.disk, "G") if args.disk is not None else disk.size_bytes
            disk = disk.model_copy(update={"size_bytes": size})
        if args.disk_format:
            disk = disk.model_copy(update={"format": DiskFormat(args.disk_format)})
        disks = () if (args.disk is not None and not args.attach_disk and size == 0) else (disk,)
        storage[0] = first.model_copy(update={"disks": disks})
    update["storage"] = tuple(storage)
    if args.network is not None:
        update["network"] = _network_option(args.network)
    return spec.model_copy(update=update)


def _validated_create(ctx: Context, backend: Backend, caps: Capabilities, spec: MachineSpec,
                      *, source: str, local: bool) -> str:
    """Validate (nothing is made from a spec with errors), then create; the machine's id."""
    # A remote host's files are not here to look at: the host checks them itself.
    problems = validate(spec, caps, check_paths=local,
                        media=media_of(spec) if local else None) + clash_problems(spec.name,
                                                     [m.name for m in backend.list_machines()])
    print_problems(ctx, problems, source)
    if errors(problems):
        raise InvalidSpec(errors(problems))
    return run_cancellable(
        ctx, lambda progress, cancel: backend.create(spec, progress=progress, cancel=cancel))


def create_command(ctx: Context) -> int:
    """`create`: validate first (nothing is made from a spec with errors), then create."""
    backend = target_backend(ctx, ctx.args.backend, ctx.args.host)
    caps = backend.capabilities()
    local = backend.host == "localhost"
    if ctx.args.spec:
        spec = load_spec(ctx.args.spec)
        source = str(ctx.args.spec)
    else:
        spec = spec_from_options(ctx, caps, local=local)
        source = spec.name
    seeding = None
    if unattended_commands.wanted(ctx):  # the seed disc (and a cloud image's disk) first
        seeding = unattended_commands.prepare(ctx, backend, spec, local=local)
        if seeding is None:
            return EXIT_OK  # a dry run
        spec = seeding.spec
    try:
        machine_id = _validated_create(ctx, backend, caps, spec, source=source, local=local)
    except BaseException:
        if seeding is not None:
            seeding.undo()
        raise
    if seeding is not None:
        seeding.created(ctx, backend, machine_id)
    if ctx.args.json:
        info = backend.get_machine(machine_id)
        ctx.print_json({"backend": backend.name, "id": machine_id, "name": info.summary.name,
                        "spec": spec_to_data(info.spec)})
    else:
        ctx.print(f"created {backend.name}:{printable(spec.name)} ({machine_id})")
    return EXIT_OK

