"""`desktopvm-cli host list|show|test`: the added hosts, their settings and how they answer."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from desktopvm import credentials
from desktopvm.cli.common import EXIT_FAILED, EXIT_OK, Context, find_host, table
from desktopvm.connections import REMOTE_KINDS, Diagnosis, HostConfig
from desktopvm.model import printable
from desktopvm.protocol import BackendError, CertificateFacts, HostInfo, HostNetwork

# How long `host list` waits for the hosts together; one that has not answered by then is
# shown as such (its thread is left behind: the command ends anyway).
CONTACT_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Contact:
    """How one host answered `host list`: its machine count, or why it did not."""

    machines: int | None = None
    state: str = ""
    reason: str = ""


def contact_hosts(ctx: Context, hosts: list[HostConfig],
                  timeout: float = CONTACT_TIMEOUT_S) -> dict[str, Contact]:
    """List each host's machines, all at once on threads, so one host that is down costs the
    others nothing; a host still silent after `timeout` seconds is reported as such."""
    results: dict[str, Contact] = {}
    lock = threading.Lock()

    def reach(host_id: str) -> None:
        count: int | None = None
        reason, state = "", ""
        try:
            count = len(ctx.registry.list_machines(host_id))
        except BackendError as error:
            reason = error.summary
        except Exception as error:  # a bug in one host's backend must not hide the others
            reason, state = f"unexpected error: {error!r}", "failed"
        with lock:
            results[host_id] = Contact(count, state or ctx.registry.monitor.status(host_id)
                                       .state.value, reason)

    threads = [threading.Thread(target=reach, args=(host.id,), name=f"contact {host.id}",
                                daemon=True) for host in hosts]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    with lock:
        answered = dict(results)
    for host in hosts:
        if host.id not in answered:
            # Not closed with the rest at exit: its request may still be waiting.
            ctx.registry.forget(host.id)
            answered[host.id] = Contact(None, "unreachable",
                                        f"no answer within {timeout:.0f} s")
    return answered


def transport(host: HostConfig) -> str:
    """'https:5986' or 'http:5985'."""
    return f"{'https' if host.https else 'http'}:{host.effective_port}"


def password_state(host: HostConfig) -> str:
    """'kept', 'none' or 'not used' (certificate authentication)."""
    if host.auth == "certificate":
        return "not used"
    return "kept" if credentials.has_password(host) else "none"


def host_data(host: HostConfig) -> dict[str, Any]:
    """A host's settings for --json (never a secret: there is none in a HostConfig)."""
    return {"id": host.id, "label": host.label, "kind": host.kind, "address": host.address,
            "port": host.effective_port, "user": host.username, "auth": host.auth,
            "transport": "https" if host.https else "http", "ca_file": host.ca_file,
            "pinned": bool(host.pinned_sha256), "pinned_sha256": host.pinned_sha256,
            "password": password_state(host)}


def contact_line(contact: Contact) -> str:
    """'connected (3 machines)' or 'unreachable: Cannot reach WinRM on hv01'."""
    if contact.machines is not None:
        plural = "" if contact.machines == 1 else "s"
        return f"{contact.state} ({contact.machines} machine{plural})"
    return f"{contact.state}: {contact.reason}" if contact.reason else contact.state


def list_command(ctx: Context) -> int:
    """`host list`: every added host, contacted in parallel. Exit 0 even when some are down
    (that is what the STATE column says); 1 only when there are hosts and none answered."""
    hosts = ctx.registry.hosts()
    contacts = contact_hosts(ctx, hosts)
    if ctx.args.json:
        ctx.print_json([{**host_data(h), "state": contacts[h.id].state,
                         "reason": contacts[h.id].reason,
                         "machines": contacts[h.id].machines} for h in hosts])
    elif not hosts:
        print("No remote host has been added; add one with `desktopvm-cli host add hyperv "
              "ADDRESS --user USER`.", file=ctx.err)
    else:
        rows = [(h.id, printable(h.label) or "-", printable(h.username) or "-", h.auth,
                 transport(h), "yes" if h.pinned_sha256 else "no", password_state(h),
                 printable(contact_line(contacts[h.id]))) for h in hosts]
        ctx.print(table(rows, ("ID", "LABEL", "USER", "AUTH", "TRANSPORT", "PINNED",
                               "PASSWORD", "STATE")))
    answered = any(c.machines is not None for c in contacts.values())
    return EXIT_FAILED if hosts and not answered else EXIT_OK


def show_command(ctx: Context) -> int:
    """`host show ID`: the settings, then what the host says about itself (exit 1 when it
    could not be asked; the settings are shown anyway)."""
    host = find_host(ctx, ctx.args.id)
    info: HostInfo | None = None
    version, problem = "", ""
    try:
        backend = ctx.registry.open(host.id)
        info = ctx.registry.monitor.guarded(host.id, backend.host_info)
        version = backend.probe().version
    except BackendError as error:
        problem = error.summary
    status = ctx.registry.monitor.status(host.id)
    if ctx.args.json:
        ctx.print_json({**host_data(host), "state": status.state.value, "reason": problem,
                        "version": version, "info": _info_data(info)})
        return EXIT_FAILED if info is None else EXIT_OK
    fields = [
        ("Id", host.id), ("Label", printable(host.label) or "-"),
        ("Kind", REMOTE_KINDS.get(host.kind, host.kind)),
        ("Address", f"{host.address}, port {host.effective_port} "
                    f"({'HTTPS' if host.https else 'HTTP, messages encrypted'})"),
        ("User", printable(host.username) or "-"), ("Auth", host.auth),
        ("CA file", printable(host.ca_file) or "- (this computer's trusted CAs)"),
        ("Certificate", f"pinned, SHA-256 {_colons(host.pinned_sha256)}" if host.pinned_sha256
         else "not pinned"),
        ("Password", {"kept": "kept in the system keyring", "none": "none kept",
                      "not used": "not used"}[password_state(host)]),
        ("State", status.state.value + (f": {printable(problem)}" if problem else "")),
    ]
    if info is not None:
        fields += [("Hostname", printable(info.hostname)), ("OS", printable(info.os)),
                   ("Version", printable(version) or "-"), ("CPUs", str(info.cpus)),
                   ("Memory", f"{info.memory_mib} MiB")]
        fields += [("Network", f"{_attachment(n)} {printable(n.name)}"
                    + (f" — {printable(n.description)}" if n.description else ""))
                   for n in info.networks]
    for name, value in fields:
        ctx.print(f"{name + ':':<13}{value}")
    return EXIT_FAILED if info is None else EXIT_OK


def _info_data(info: HostInfo | None) -> dict[str, Any] | None:
    if info is None:
        return None
    return {"hostname": info.hostname, "cpus": info.cpus, "memory_mib": info.memory_mib,
            "os": info.os, "networks": [{"attachment": _attachment(n), "name": n.name,
                                         "description": n.description}
                                        for n in info.networks]}


def _attachment(network: HostNetwork) -> str:
    """'switch', whether a backend gave the enum or its value."""
    return str(getattr(network.attachment, "value", network.attachment))


def test_command(ctx: Context) -> int:
    """`host test ID`: each step with ✓/✗, the fix for the one that failed; exit 0 only
    when every step passed."""
    host = find_host(ctx, ctx.args.id)
    diagnosis = ctx.registry.test_host(host)
    print_diagnosis(ctx, diagnosis)
    if diagnosis.certificate is not None and not diagnosis.certificate_trusted:
        print_certificate(ctx, diagnosis.certificate)
        ctx.print(f"After checking the fingerprint on the host: desktopvm-cli host trust "
                  f"{host.id} --fingerprint {diagnosis.certificate.sha256}")
    return EXIT_OK if diagnosis.ok else EXIT_FAILED


def print_diagnosis(ctx: Context, diagnosis: Diagnosis) -> None:
    """One line per step: '✓ TCP: 10.0.0.5:5986' / '✗ Authentication: …' and its fix."""
    passed, failed = _marks(ctx.out)
    for check in diagnosis.checks:
        mark = passed if check.ok else failed
        ctx.print(f"{mark} {printable(check.name)}"
                  + (f": {printable(check.detail)}" if check.detail else ""))
        if not check.ok and check.fix:
            ctx.print(f"  fix: {printable(check.fix)}")
    if diagnosis.version and not any(diagnosis.version in c.detail for c in diagnosis.checks):
        ctx.print(f"  version: {printable(diagnosis.version)}")


def _marks(stream: Any) -> tuple[str, str]:
    """✓ and ✗, or 'ok' and 'FAILED' where the output cannot hold them (Windows writing to a
    file in its ANSI code page would fail on them)."""
    try:
        "✓✗".encode(getattr(stream, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return "ok", "FAILED"
    return "✓", "✗"


def print_certificate(ctx: Context, facts: CertificateFacts) -> None:
    """What a user needs to decide whether to trust a certificate (all of it came from the
    network, so it is shown escaped)."""
    ctx.print(f"Certificate of {printable(facts.host)}:")
    ctx.print(f"  Subject:  {printable(facts.subject)}")
    ctx.print(f"  Issuer:   {printable(facts.issuer)}")
    ctx.print(f"  Valid:    {printable(facts.not_before)} to {printable(facts.not_after)}")
    ctx.print(f"  SHA-256:  {facts.colon_fingerprint()}")


def _colons(sha256: str) -> str:
    return ":".join(sha256[i:i + 2] for i in range(0, len(sha256), 2)).upper()
