"""Test connection for a remote Hyper-V host: each step from DNS to the account's rights.

The steps run in order and stop at the first that fails, each failure with a fix in words a
Windows admin knows: transport security (the settings alone), DNS, TCP, TLS (trusted by this
computer, the CA file, or the pinned fingerprint), authentication, the WinRM shell, Hyper-V,
and permissions. The password is handed to the WinRM channel only; no Check ever holds it.
"""

from __future__ import annotations

import logging

from backends.hyperv.errors import HYPERV_ADMINISTRATORS_HINT, permission_message
from backends.hyperv.parsers import MIN_BUILD, os_build
from backends.hyperv.session import PowerShellSession
from backends.hyperv.winrm_transport import (
    AUTH_LIBRARY_HINT,
    ENABLE_WINRM_HINT,
    INSTALL_HINT,
    InsecureTransport,
    WinRMChannel,
    WinRMConfig,
    WinRMNotEnabled,
    config_for_host,
)
from desktopvm import trust
from desktopvm.connections import Check, Diagnosis, HostConfig
from desktopvm.protocol import (
    AuthenticationFailed,
    BackendError,
    BackendUnavailable,
    CertificateFacts,
    CertificateNotTrusted,
    ConnectionLost,
)
from desktopvm.settings import Settings

log = logging.getLogger(__name__)

START_TIMEOUT = 60.0
NOT_HYPERV_FIX = ("This is not a Hyper-V host. On Windows Server: Install-WindowsFeature "
                  "Hyper-V -IncludeManagementTools -Restart; on Windows 10/11 Pro or "
                  "Enterprise: Enable-WindowsOptionalFeature -Online -FeatureName "
                  "Microsoft-Hyper-V-All, then restart")


def _refused_fix(config: WinRMConfig) -> str:
    if config.https:
        return (f"WinRM is not listening on {config.effective_port}: on the host run "
                "`winrm quickconfig -transport:https` (HTTPS) or `Enable-PSRemoting`, and open "
                "the firewall rule 'Windows Remote Management (HTTPS-In)'")
    return (f"WinRM is not listening on {config.effective_port}: on the host run "
            "`Enable-PSRemoting`, and open the firewall rule 'Windows Remote Management "
            "(HTTP-In)'")


class _Steps:
    """The checks made so far, the certificate seen, and the version found."""

    def __init__(self, host: HostConfig) -> None:
        self.host = host
        self.checks: list[Check] = []
        self.certificate: CertificateFacts | None = None
        self.trusted = False
        self.version = ""

    def ok(self, name: str, detail: str) -> None:
        self.checks.append(Check(name, True, detail))

    def fail(self, name: str, detail: str, fix: str) -> Diagnosis:
        self.checks.append(Check(name, False, detail, fix))
        return self.result()

    def result(self) -> Diagnosis:
        return Diagnosis(self.host.id, tuple(self.checks), self.certificate, self.trusted,
                         self.version)


def test_connection(host: HostConfig, settings: Settings | None,
                    password: str | None) -> Diagnosis:
    """Reach `host` step by step; `password` None reads the keyring's. Contacts the host."""
    config = config_for_host(host)
    steps = _Steps(host)
    try:
        config.check()
    except InsecureTransport as error:
        return steps.fail("Transport security", error.summary,
                          "Use HTTPS (port 5986), or NTLM, Kerberos or CredSSP authentication")
    steps.ok("Transport security", "HTTPS" if config.https else
             f"HTTP with {config.auth.upper()} message encryption")
    port = config.effective_port
    try:
        found = trust.resolve(host.address, port)
    except ConnectionLost as error:
        return steps.fail("DNS", error.summary, f"Check the name {host.address!r}, or use the "
                          "host's IP address; is this computer on the host's network (VPN)?")
    steps.ok("DNS", ", ".join(found.resolved))
    timeout = float(config.read_timeout)
    try:
        trust.connect(host.address, port, timeout).close()
    except ConnectionLost as error:
        fix = (_refused_fix(config) if "refused" in error.summary else
               f"Nothing answered on port {port}: is the host on, and does a firewall between "
               f"here and the host allow TCP {port}?")
        return steps.fail("TCP", error.summary, fix)
    steps.ok("TCP", f"port {port} is open")
    if config.https:
        failed = _tls(steps, config, timeout)
        if failed is not None:
            return failed
    return _session_steps(steps, host, config, password)


def _tls(steps: _Steps, config: WinRMConfig, timeout: float) -> Diagnosis | None:
    address, port = config.host, config.effective_port
    try:
        facts = trust.fetch_certificate(address, port, timeout)
    except ConnectionLost as error:
        return steps.fail("TLS", error.summary, "The port answers but not with TLS: is it "
                          "WinRM's HTTPS listener (5986), or its HTTP one (5985)?")
    steps.certificate = facts
    if config.pinned_sha256:
        if facts.sha256 != config.pinned_sha256:
            return steps.fail(
                "TLS", f"the certificate has CHANGED since you trusted it (now SHA-256 "
                f"{facts.colon_fingerprint()})", "Ask the host's admin whether its WinRM "
                "certificate was replaced; trust the new one only if the fingerprints match")
        steps.trusted = True
        steps.ok("TLS", f"the certificate you trusted (SHA-256 {facts.colon_fingerprint()})")
        return None
    try:
        steps.trusted = trust.is_trusted(address, port, config.ca_file, timeout)
    except ConnectionLost as error:
        return steps.fail("TLS", error.summary, "Check the CA file in Edit host"
                          if config.ca_file else "Try again; the host dropped the handshake")
    if not steps.trusted:
        return steps.fail(
            "TLS", f"this computer does not trust the certificate of {address} (issued to "
            f"{facts.subject} by {facts.issuer})", "Compare its SHA-256 fingerprint with the "
            "one the host's admin reads on the host, and trust it; or give the CA certificate "
            "that signed it (CA file), or add that CA to this computer's trusted roots")
    where = "this computer and the CA file" if config.ca_file else "this computer"
    steps.ok("TLS", f"trusted by {where} (issued to {facts.subject} by {facts.issuer})")
    return None


def _session_steps(steps: _Steps, host: HostConfig, config: WinRMConfig,
                   password: str | None) -> Diagnosis:
    if password is None:
        from desktopvm import credentials

        try:
            password = credentials.password(host)
        except BackendError as error:
            return steps.fail("Authentication", error.summary,
                              getattr(error, "install_hint", "") or "Enter the password "
                              "(Edit host)")
    secret = password

    def channel() -> WinRMChannel:
        return WinRMChannel(config, password=lambda _config: secret)

    session = PowerShellSession(channel, host=host.address, start_timeout=START_TIMEOUT,
                                request_timeout=START_TIMEOUT)
    try:
        return _through_the_session(steps, host, session)
    finally:
        session.close()


def _through_the_session(steps: _Steps, host: HostConfig,
                         session: PowerShellSession) -> Diagnosis:
    who = host.username or "this account"
    try:
        ready = session.ensure_started()
    except AuthenticationFailed as error:
        return steps.fail("Authentication", error.summary, f"Check the user name ({who}) and "
                          "the password; a domain account is written DOMAIN\\user or "
                          "user@domain. Too many tries can lock the account")
    except CertificateNotTrusted as error:  # changed between the TLS step and now
        steps.certificate, steps.trusted = error.certificate, False
        return steps.fail("TLS", error.summary, error.install_hint)
    except WinRMNotEnabled as error:  # answered before asking for credentials: no auth step
        return steps.fail("WinRM shell", error.summary, ENABLE_WINRM_HINT)
    except BackendUnavailable as error:
        if error.install_hint == AUTH_LIBRARY_HINT:
            return steps.fail("Authentication", error.summary, error.install_hint)
        if error.install_hint == INSTALL_HINT:  # pywinrm itself is missing: nothing was sent
            return steps.fail("WinRM shell", error.summary, error.install_hint)
        # The shell was refused or PowerShell failed in it: the credentials got that far.
        steps.ok("Authentication", f"{who} was accepted")
        return steps.fail("WinRM shell", error.summary, error.install_hint or
                          "Check that PowerShell runs for this account on the host "
                          "(Enter-PSSession from another Windows computer)")
    except BackendError as error:  # the connection dropped while the shell was opening
        return steps.fail("WinRM shell", error.summary, "Try again; if it keeps failing, "
                          "look at the host's Windows Remote Management event log")
    steps.ok("Authentication", f"{who} was accepted")
    steps.ok("WinRM shell", f"PowerShell {ready.get('ps_version', '?')}")
    if not ready.get("hyperv"):
        return steps.fail("Hyper-V", "the Hyper-V PowerShell module is not on the host",
                          NOT_HYPERV_FIX)
    try:
        answer = session.request("probe", idempotent=True)
    except BackendError as error:
        return steps.fail("Hyper-V", error.summary, "Try again")
    steps.version = (f"Hyper-V module {answer.get('ModuleVersion', '?')}, Windows "
                     f"{answer.get('OsVersion', '?')}")
    build = os_build(str(answer.get("OsVersion", "")))
    if 0 < build < MIN_BUILD:  # the probe refuses such a host: the test must say so too
        return steps.fail("Hyper-V", f"{steps.version}: too old for DesktopVM",
                          "DesktopVM needs Windows 10 1607 or Windows Server 2016 (build "
                          f"{MIN_BUILD}) or later on the host")
    steps.ok("Hyper-V", steps.version)
    return _permissions(steps, host, answer)


def _permissions(steps: _Steps, host: HostConfig, answer: dict[str, object]) -> Diagnosis:
    # probe.ps1 asks Windows for the account's groups AND calls Get-VMHost: the groups say
    # why, Get-VMHost says whether Hyper-V actually lets this account in.
    groups = [name for key, name in (("IsHyperVAdmin", "Hyper-V Administrators"),
                                     ("IsAdministrator", "Administrators")) if answer.get(key)]
    if answer.get("CanManage"):
        why = (f"member of {' and '.join(groups)}" if groups else
               "Hyper-V answers (access granted otherwise than by those groups)")
        steps.ok("Permissions", why)
        return steps.result()
    if answer.get("ErrorCategory") == "PermissionDenied" or not groups:
        return steps.fail("Permissions", permission_message(host.address),
                          HYPERV_ADMINISTRATORS_HINT)
    return steps.fail("Permissions", f"Hyper-V did not answer: {answer.get('Error', '')}",
                      "Check that the Hyper-V Virtual Machine Management service (vmms) runs "
                      "on the host")

