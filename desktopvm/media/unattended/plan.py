"""Which answer files an OS gets, on which seed disc: `plan_seed` (also the dry run)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from desktopvm.media.unattended import cloudinit, debian, kickstart, ubuntu, windows
from desktopvm.media.unattended.answers import AnswerError, Answers, Kind, check, kind_for
from desktopvm.media.unattended.seed_iso import build_seed_iso
from desktopvm.model.catalog import OsEntry
from desktopvm.paths import atomic_write_bytes

# The label each installer looks for, and how it finds the disc.
LABELS = {Kind.UBUNTU: "cidata", Kind.KICKSTART: "OEMDRV", Kind.WINDOWS: "AUTOUNATTEND",
          Kind.DEBIAN: "PRESEED"}
# The hypervisor's guest agent, per backend kind and installer family (where a distribution
# package exists; VirtIO drivers for Windows come from the virtio-win disc instead).
GUEST_PACKAGES: dict[tuple[str, Kind], tuple[str, ...]] = {
    ("qemu", Kind.UBUNTU): ("qemu-guest-agent",),
    ("qemu", Kind.DEBIAN): ("qemu-guest-agent",),
    ("qemu", Kind.KICKSTART): ("qemu-guest-agent",),
    ("hyperv", Kind.UBUNTU): ("linux-cloud-tools-virtual",),
    ("hyperv", Kind.DEBIAN): ("hyperv-daemons",),
    ("hyperv", Kind.KICKSTART): ("hyperv-daemons",),
    ("vmware", Kind.UBUNTU): ("open-vm-tools",),
    ("vmware", Kind.DEBIAN): ("open-vm-tools",),
    ("vmware", Kind.KICKSTART): ("open-vm-tools",),
    ("esxi", Kind.UBUNTU): ("open-vm-tools",),
    ("esxi", Kind.DEBIAN): ("open-vm-tools",),
    ("esxi", Kind.KICKSTART): ("open-vm-tools",),
}


@dataclasses.dataclass(frozen=True)
class SeedPlan:
    """The files a seed disc will hold, and its label. `files` holds the secrets (hashed for
    Linux, obfuscated for Windows): it is written to the seed disc and nowhere else."""

    kind: Kind | None  # None: a cloud image's NoCloud seed
    label: str
    files: dict[str, bytes]
    how_found: str  # one sentence for the user: how the installer finds the disc

    def text(self) -> str:
        """All files, each under a header line (the dry run's output)."""
        parts = []
        for name in sorted(self.files):
            parts.append(f"--- {name} (on the seed disc labelled {self.label}) ---\n"
                         + self.files[name].decode("utf-8"))
        return "\n".join(parts)


HOW_FOUND = {
    Kind.UBUNTU: "Ubuntu's installer finds the cidata disc by itself and asks once whether "
                 "to go ahead with the automatic install.",
    Kind.KICKSTART: "Anaconda reads ks.cfg from the disc labelled OEMDRV by itself.",
    Kind.WINDOWS: "Windows Setup reads autounattend.xml from the second disc by itself.",
}


def supported(entry: OsEntry) -> bool:
    """Whether DesktopVM can write answer files for this OS."""
    return kind_for(entry) is not None


def plan_seed(entry: OsEntry, answers: Answers, *, uefi: bool, backend_kind: str,
              instance_id: str, salt: str | None = None) -> SeedPlan:
    """The seed for an unattended install of `entry` (AnswerError if it has none or an answer
    does not fit). `salt` fixes the password hash's salt (tests); None draws a random one."""
    kind = kind_for(entry)
    if kind is None:
        raise AnswerError(f"DesktopVM has no unattended install for {entry.name}.")
    check(answers, kind)
    if answers.ssh_keys and kind in (Kind.DEBIAN, Kind.WINDOWS):
        raise AnswerError(f"DesktopVM cannot pass SSH keys to the {entry.name} installer yet; "
                          "add them after the install.")
    extra = (*GUEST_PACKAGES.get((backend_kind, kind), ()), *answers.packages) \
        if answers.guest_tools else answers.packages
    files: dict[str, str]
    if kind is Kind.UBUNTU:
        files = {"user-data": ubuntu.user_data(answers, extra, salt=salt),
                 "meta-data": ubuntu.meta_data(instance_id, answers.host())}
    elif kind is Kind.DEBIAN:
        files = {"preseed.cfg": debian.preseed(answers, extra, salt=salt)}
    elif kind is Kind.KICKSTART:
        files = {"ks.cfg": kickstart.kickstart(answers, extra, salt=salt)}
    else:
        files = {"autounattend.xml": windows.autounattend(
            answers, uefi=uefi, server="server" in entry.id,
            virtio_folder=windows.VIRTIO_FOLDERS.get(entry.id, "w11")
            if answers.guest_tools and backend_kind == "qemu" else "")}
    how = debian.how_found(backend_kind) if kind is Kind.DEBIAN else HOW_FOUND[kind]
    return SeedPlan(kind, LABELS[kind], {n: t.encode("utf-8") for n, t in files.items()}, how)


def plan_cloud_seed(answers: Answers, *, instance_id: str, salt: str | None = None) -> SeedPlan:
    """The NoCloud seed for a cloud image: user-data and meta-data on a `cidata` disc."""
    if answers.password:
        check(answers, None)
    else:
        _check_without_password(answers)
    files = {"user-data": cloudinit.user_data(answers, salt=salt),
             "meta-data": ubuntu.meta_data(instance_id, answers.host())}
    return SeedPlan(None, "cidata", {n: t.encode("utf-8") for n, t in files.items()},
                    "cloud-init finds the cidata disc on the first boot by itself.")


def _check_without_password(answers: Answers) -> None:
    """A cloud image may have only an SSH key as the way in."""
    if not answers.ssh_keys:
        raise AnswerError("A cloud image needs an SSH key (--ssh-key) or a password "
                          "(--password-stdin) to let you in.")
    check(dataclasses.replace(answers, password="-"), None)  # noqa: S106 - only the rest is checked


def write_seed(plan: SeedPlan, path: Path) -> None:
    """Write the seed disc (readable by its owner only: it holds the answers)."""
    data = build_seed_iso(plan.label, plan.files)
    atomic_write_bytes(path, data)
    path.chmod(0o600)
