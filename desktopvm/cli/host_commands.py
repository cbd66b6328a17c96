"""`desktopvm-cli host …`: add, edit, trust and remove remote hosts (list/show/test: host_report).

Passwords are read from stdin (`--password-stdin`) or asked on the terminal, never taken as
an argument (it would be in the shell history and the process list), and go only to the
system keyring. `host add` saves the host when it was added — the exit code says exactly
that: 0 saved, 1 not saved. It is not saved when the host refused the credentials (the user
is there to type them again; a wrong password kept would fail every time and can lock the
account) or when its certificate is not trusted (trusting one is the user's decision, made
with the fingerprint in front of them). A host that could not be reached, or that answered
but is not ready (WinRM, Hyper-V, rights), is saved with a warning: it may be down now, and
its fix is on the host.
"""

from __future__ import annotations

import argparse
import getpass
import json
from pathlib import Path
from typing import Any

from desktopvm import credentials, paths
from desktopvm.cli import host_report
from desktopvm.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Context,
    UsageError,
    confirm,
    find_host,
    is_terminal,
)
from desktopvm.connections import (
    AUTH_METHODS,
    REMOTE_KINDS,
    Check,
    HostConfig,
    normalize_fingerprint,
)
from desktopvm.model import printable
from desktopvm.settings import Settings, save_settings, settings_from_data

ENCRYPTING = ("ntlm", "kerberos", "credssp")  # seal every message themselves over HTTP


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `host` and its actions."""
    host = sub.add_parser("host", help="remote hosts: add, list, show, test, trust, edit, "
                          "remove, forget-password")
    actions = host.add_subparsers(dest="host_command", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add", help="add a remote host (tests it first)",
        epilog="Exit 0: the host was saved (a host that is down, or not ready, is saved with "
        "a warning). Exit 1: not saved (the password was refused, or the certificate is not "
        "trusted: check its fingerprint, then --trust it). docs/hosts.md says more.")
    add.add_argument("kind", choices=list(REMOTE_KINDS), help="what runs there")
    add.add_argument("address", help="host name or IP address")
    _connection_options(add, editing=False)
    add.set_defaults(handler=add_command)

    edit = actions.add_parser("edit", help="change an added host (its pin is kept unless "
                              "the address changes)")
    edit.add_argument("id", help="host id, address or label")
    edit.add_argument("--address", help="a new host name or IP address")
    _connection_options(edit, editing=True)
    edit.set_defaults(handler=edit_command)

    listing = actions.add_parser("list", help="added hosts and whether they answer")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=host_report.list_command)
    show = actions.add_parser("show", help="a host's settings and facts (CPUs, memory, "
                              "networks)")
    show.add_argument("id", help="host id, address or label")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=host_report.show_command)
    test = actions.add_parser("test", help="test the connection step by step")
    test.add_argument("id", help="host id, address or label")
    test.set_defaults(handler=host_report.test_command)

    trust = actions.add_parser("trust", help="look at a host's certificate and pin it")
    trust.add_argument("id", help="host id, address or label")
    trust.add_argument("--fingerprint", help="pin only if the certificate has this SHA-256 "
                       "fingerprint (hex, with or without colons)")
    trust.set_defaults(handler=trust_command)

    remove = actions.add_parser("remove", help="remove a host (its machines are not touched)")
    remove.add_argument("id", help="host id, address or label")
    remove.add_argument("--forget-password", action="store_true",
                        help="also remove its password from the system keyring")
    remove.add_argument("--yes", action="store_true", help="do not ask")
    remove.set_defaults(handler=remove_command)

    forget = actions.add_parser("forget-password", help="remove a host's password from the "
                                "system keyring")
    forget.add_argument("id", help="host id, address or label")
    forget.set_defaults(handler=forget_password_command)


def _connection_options(parser: argparse.ArgumentParser, *, editing: bool) -> None:
    parser.add_argument("--user", help="the account on the host (DOMAIN\\user or "
                        "user@domain for a domain account)")
    parser.add_argument("--auth", choices=AUTH_METHODS,
                        help="how to authenticate" + ("" if editing else " (default ntlm)"))
    scheme = parser.add_mutually_exclusive_group()
    scheme.add_argument("--http", dest="https", action="store_false", default=None,
                        help="plain HTTP (port 5985): only with NTLM, Kerberos or CredSSP, "
                        "which encrypt every message")
    if editing:
        scheme.add_argument("--https", dest="https", action="store_true", default=None,
                            help="back to HTTPS (port 5986)")
    parser.add_argument("--port", type=int, help="when not the default (Hyper-V: 5986, or "
                        "5985 with --http; ESXi/vCenter: 443)")
    parser.add_argument("--ca-file", type=Path, help="a PEM file of the CA that signed the "
                        "host's certificate (besides this computer's trusted CAs)"
                        + ("; '' for none" if editing else ""))
    parser.add_argument("--label", help="the name shown for it (default: the address)")
    parser.add_argument("--password-stdin", action="store_true",
                        help="read the password from the first line of stdin (else it is "
                        "asked on the terminal)")
    parser.add_argument("--trust", metavar="SHA256", help="pin the host's certificate if it "
                        "has this SHA-256 fingerprint")
    parser.add_argument("--no-test", action="store_true", help="save without contacting the "
                        "host")


def _options(ctx: Context) -> dict[str, Any]:
    """The HostConfig fields the options give (None: not given)."""
    args = ctx.args
    ca_file: str | None = None
    if args.ca_file is not None:
        ca_file = ""
        if str(args.ca_file):
            if not args.ca_file.is_file():
                raise UsageError(f"{args.ca_file}: no such file (--ca-file wants a PEM file)")
            ca_file = str(args.ca_file.resolve())
    values = {"username": args.user, "auth": args.auth, "https": args.https,
              "port": args.port, "ca_file": ca_file, "label": args.label}
    if args.trust is not None:
        values["pinned_sha256"] = _fingerprint(args.trust)
    return {key: value for key, value in values.items() if value is not None}


def _fingerprint(text: str) -> str:
    try:
        return normalize_fingerprint(text)
    except ValueError as error:
        raise UsageError(str(error)) from None


def _host(**fields: Any) -> HostConfig:
    try:
        host = HostConfig(**fields)
    except ValueError as error:  # HostConfig says what is wrong with which value
        raise UsageError(str(error)) from None
    if not host.https and host.kind != "hyperv":
        raise UsageError(f"{REMOTE_KINDS[host.kind]} is reached over HTTPS only (plain HTTP "
                         "would send the password readable to the network)")
    if not host.https and host.auth not in ENCRYPTING:
        raise UsageError(f"{host.auth} authentication over plain HTTP would send the password "
                         "and every command readable to the network; use HTTPS, or NTLM, "
                         "Kerberos or CredSSP (they encrypt each message)")
    return host


def _needs_password(host: HostConfig) -> bool:
    return host.auth != "certificate" and not (host.auth == "kerberos" and not host.username)


def _read_password(ctx: Context, host: HostConfig, *, ask: bool = True) -> str | None:
    """The password from stdin (--password-stdin), or asked on the terminal when `ask`;
    None when not given."""
    if not _needs_password(host):
        return None
    if ctx.args.password_stdin:
        line = ctx.stdin.readline()
        secret = line[:-1] if line.endswith("\n") else line
        secret = secret[:-1] if secret.endswith("\r") else secret
        if not secret:
            raise UsageError("--password-stdin: the first line of stdin was empty")
        return secret
    if ask and is_terminal(ctx.stdin):
        secret = getpass.getpass(f"Password for {host.username} on {host.address}: ",
                                 stream=ctx.err)
        if not secret:
            raise UsageError("no password was typed")
        return secret
    return None


def current_settings() -> Settings:
    """The settings file as it is now (the app may have saved it since this command began);
    an unreadable file is refused rather than replaced, so nothing in it is lost."""
    path = paths.config_file()
    try:
        return settings_from_data(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return Settings()
    except (OSError, ValueError, RecursionError) as error:
        raise UsageError(f"the settings file {path} cannot be read ({type(error).__name__}); "
                         "fix or move it, then try again") from None


def add_command(ctx: Context) -> int:
    """`host add KIND ADDRESS`: validate, read the password, test, save."""
    args = ctx.args
    host = _host(kind=args.kind, address=args.address, **_options(ctx))
    if host.auth in ("ntlm", "credssp", "basic") and not host.username:
        raise UsageError(f"{host.auth} authentication needs --user")
    if current_settings().host(host.id) is not None:
        raise UsageError(f"{host.id} is already added; change it with `desktopvm-cli host "
                         f"edit {host.id}`")
    password = _read_password(ctx, host)
    if password is None and _needs_password(host) and not credentials.has_password(host):
        raise UsageError("give the password on stdin with --password-stdin, or run this in a "
                         "terminal to be asked (it is never a command-line argument)")
    return _test_and_save(ctx, host, password, replacing=None, test=not ctx.args.no_test)


def edit_command(ctx: Context) -> int:
    """`host edit ID`: change what the options say; test again unless only the label
    changed. The pin goes when the address changes (another host, another certificate)."""
    old = find_host(ctx, ctx.args.id)
    changes = _options(ctx)
    if ctx.args.address is not None:
        changes["address"] = ctx.args.address
    new = _host(**{**old.to_data(), **changes})
    if new.address.lower() != old.address.lower() and ctx.args.trust is None:
        new = new.replace(pinned_sha256="")
    if new.id != old.id and current_settings().host(new.id) is not None:
        raise UsageError(f"{new.id} is already added; remove one of them first")
    moved = new.credential_key != old.credential_key
    kept = credentials.has_password(old)
    # Asked on a terminal only when the keyring entry changes and there is none to carry.
    password = _read_password(ctx, new, ask=moved and not kept)
    if password is None and moved and kept and _needs_password(new):
        password = credentials.password(old)  # carried over to the new keyring entry
    if new == old and password is None:
        ctx.print(f"{new.id}: nothing to change")
        return EXIT_OK
    only_label = new.replace(label=old.label) == old and password is None
    return _test_and_save(ctx, new, password, replacing=old,
                          test=not (ctx.args.no_test or only_label))


def _test_and_save(ctx: Context, host: HostConfig, password: str | None,
                   replacing: HostConfig | None, *, test: bool) -> int:
    """Test `host` (when `test`) and save it when the rules in this module's docstring
    allow; the password goes to the keyring only then."""
    verb = "updated" if replacing else "added"
    if not test:
        _save(ctx, host, password, replacing)
        ctx.print(f"{verb} {host.id} (not tested: `desktopvm-cli host test {host.id}`)")
        return EXIT_OK
    diagnosis = ctx.registry.test_host(host, password)
    host_report.print_diagnosis(ctx, diagnosis)
    facts = diagnosis.certificate
    if facts is not None and not diagnosis.certificate_trusted:
        host_report.print_certificate(ctx, facts)
        if host.pinned_sha256 and host.pinned_sha256 != facts.sha256:
            print(f"error: REFUSED: {printable(facts.host)} presents a certificate with "
                  f"SHA-256 {facts.sha256}, not {host.pinned_sha256}. Someone may be between "
                  f"you and the host; nothing was saved.", file=ctx.err)
            return EXIT_FAILED
        if host.pinned_sha256 or not confirm(
                ctx, f"Trust this certificate for {host.id}? Compare its SHA-256 with the "
                "host's own first"):
            print(f"error: not {verb}: the certificate of {host.id} is not trusted. Check its "
                  "fingerprint on the host, then run the same command with --trust "
                  f"{facts.sha256} (or give --ca-file with the CA that signed it)",
                  file=ctx.err)
            return EXIT_FAILED
        host = host.replace(pinned_sha256=facts.sha256)
        diagnosis = ctx.registry.test_host(host, password)
        host_report.print_diagnosis(ctx, diagnosis)
    failure = diagnosis.failure
    if failure is not None and (_is_authentication(failure) or (
            diagnosis.certificate is not None and not diagnosis.certificate_trusted)):
        print(f"error: not {verb}: {printable(failure.name)} failed"
              + (f": {printable(failure.detail)}" if failure.detail else "")
              + " (--no-test saves it without testing)", file=ctx.err)
        return EXIT_FAILED
    _save(ctx, host, password, replacing)
    if failure is None:
        ctx.print(f"{verb} {host.id}")
    else:
        ctx.print(f"{verb} {host.id}, but it is not ready")
        print(f"warning: {host.id}: {printable(failure.name)} failed"
              + (f": {printable(failure.detail)}" if failure.detail else "")
              + f"; when that is fixed, `desktopvm-cli host test {host.id}`", file=ctx.err)
    return EXIT_OK


def _is_authentication(check: Check) -> bool:
    name = check.name.lower()
    return any(word in name for word in ("auth", "credential", "password", "logon"))


def _save(ctx: Context, host: HostConfig, password: str | None,
          replacing: HostConfig | None) -> None:
    settings = current_settings()
    if password is not None:
        credentials.store_password(host, password)
    save_settings(settings.with_host(host, replacing=replacing.id if replacing else ""))
    if replacing is not None and replacing.credential_key != host.credential_key \
            and password is not None:
        credentials.forget_password(replacing)  # moved to the new entry
    ctx.registry.forget(replacing.id if replacing else host.id)


def remove_command(ctx: Context) -> int:
    """`host remove ID`: from the settings (and the keyring with --forget-password); its
    machines stay on the host, untouched."""
    host = find_host(ctx, ctx.args.id)
    if not ctx.args.yes and not confirm(ctx, f"Remove {host.id} from DesktopVM? (its "
                                             "machines stay on the host)"):
        print("not removed (use --yes to skip this question)", file=ctx.err)
        return EXIT_USAGE
    save_settings(current_settings().without_host(host.id))
    ctx.registry.forget(host.id)
    forgot = ctx.args.forget_password and credentials.forget_password(host)
    ctx.print(f"removed {host.id}; its machines were not touched")
    if not ctx.args.forget_password and credentials.has_password(host):
        ctx.print(f"its password stays in the system keyring ({credentials.SERVICE}, "
                  f"{printable(host.credential_key)}) and is used again if you add it back; "
                  "remove with --forget-password next time, or in the keyring's own tool")
    elif forgot:
        ctx.print("its password was removed from the system keyring")
    return EXIT_OK


def forget_password_command(ctx: Context) -> int:
    """`host forget-password ID`."""
    host = find_host(ctx, ctx.args.id)
    if credentials.forget_password(host):
        ctx.print(f"{host.id}: password removed from the system keyring")
    else:
        ctx.print(f"{host.id}: no password was kept")
    return EXIT_OK


def trust_command(ctx: Context) -> int:
    """`host trust ID [--fingerprint SHA]`: fetch the certificate, show it, pin it when the
    fingerprint matches or the user says yes on a terminal; a mismatch is refused."""
    from desktopvm import trust

    host = find_host(ctx, ctx.args.id)
    if not host.https:
        raise UsageError(f"{host.id} uses plain HTTP: there is no certificate to trust")
    wanted = _fingerprint(ctx.args.fingerprint) if ctx.args.fingerprint else ""
    facts = trust.fetch_certificate(host.address, host.effective_port)
    host_report.print_certificate(ctx, facts)
    if host.pinned_sha256 == facts.sha256 and wanted in ("", facts.sha256):
        ctx.print(f"{host.id}: this certificate is already pinned")
        return EXIT_OK
    if wanted and wanted != facts.sha256:
        print(f"error: REFUSED: {host.id} presents a certificate with SHA-256 {facts.sha256}, "
              f"not the {wanted} you gave. Someone may be between you and the host; nothing "
              "was pinned.", file=ctx.err)
        return EXIT_FAILED
    if host.pinned_sha256:
        print(f"WARNING: the certificate of {host.id} CHANGED since you trusted it (pinned: "
              f"{host.pinned_sha256}). Trust the new one only if the host's certificate was "
              "renewed on purpose.", file=ctx.err)
    if not wanted and not confirm(ctx, f"Trust this certificate for {host.id}? Compare its "
                                       "SHA-256 with the host's own first"):
        print(f"not pinned; after checking the fingerprint on the host: desktopvm-cli host "
              f"trust {host.id} --fingerprint {facts.sha256}", file=ctx.err)
        return EXIT_FAILED
    pinned = host.replace(pinned_sha256=facts.sha256)
    save_settings(current_settings().with_host(pinned, replacing=host.id))
    ctx.registry.forget(host.id)
    ctx.print(f"{host.id}: certificate pinned (SHA-256 {facts.sha256}); `desktopvm-cli host "
              f"test {host.id}` checks the rest")
    return EXIT_OK

