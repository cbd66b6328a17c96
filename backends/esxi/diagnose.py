"""Test connection for ESXi / vCenter (beyond the module map): each step and how to fix it."""

from __future__ import annotations

from backends.esxi.capabilities import read_only
from backends.esxi.session import Session, pinned_context
from desktopvm import credentials, trust
from desktopvm.connections import Check, Diagnosis, HostConfig
from desktopvm.protocol import (
    AuthenticationFailed,
    BackendError,
    CertificateFacts,
    CertificateNotTrusted,
    ConnectionLost,
)


def diagnose(host: HostConfig, password: str | None) -> Diagnosis:
    """Reach `host` step by step; the Diagnosis stops at the first step that fails."""
    address, port = host.address, host.effective_port
    checks: list[Check] = []
    facts: CertificateFacts | None = None
    trusted = False

    def done(version: str = "") -> Diagnosis:
        return Diagnosis(host.id, tuple(checks), facts, trusted, version)

    try:
        reached = trust.resolve(address, port)
    except ConnectionLost as error:
        checks.append(Check("DNS", False, error.details, "Check the host name, or use its IP "
                            "address"))
        return done()
    checks.append(Check("DNS", True, ", ".join(reached.resolved)))
    try:
        trust.connect(address, port).close()
    except ConnectionLost as error:
        checks.append(Check("TCP", False, f"{error.summary}: {error.details}",
                            f"Check that {address} is on and that port {port} (HTTPS) is open "
                            "through any firewall in between"))
        return done()
    checks.append(Check("TCP", True, f"port {port} open"))
    try:
        facts = trust.fetch_certificate(address, port)
        if host.pinned_sha256:
            pinned_context(address, port, host.pinned_sha256)
            trusted = True
        else:
            trusted = trust.is_trusted(address, port, host.ca_file)
    except CertificateNotTrusted as error:
        checks.append(Check("TLS", False, error.details, error.install_hint))
        return done()
    except ConnectionLost as error:
        checks.append(Check("TLS", False, f"{error.summary}: {error.details}",
                            "Use the host's HTTPS port (443 unless it was changed)"))
        return done()
    if not trusted:
        checks.append(Check("TLS", False, f"certificate {facts.colon_fingerprint()} "
                            f"({facts.subject}) is not trusted by this computer",
                            "Compare the fingerprint with the one the host's console shows, "
                            "then accept it; or give the CA file that signed it"))
        return done()
    checks.append(Check("TLS", True, f"certificate {facts.subject} trusted"))
    session = Session(host, (lambda: password) if password is not None
                      else (lambda: credentials.password(host)), timeout=30.0)
    try:
        about = session.about()
        checks.append(Check("Login", True, f"logged in as {host.username}"))
        limited = read_only(session)
    except AuthenticationFailed as error:
        checks.append(Check("Login", False, error.summary, "Check the user name and password "
                            "(root on ESXi, user@vsphere.local on vCenter)"))
        return done()
    except BackendError as error:
        checks.append(Check("Login", False, f"{error.summary}: {error.details}"))
        return done()
    finally:
        session.close()
    version = f"{about.fullName} ({about.apiType}, API {about.apiVersion})"
    checks.append(Check("Licence", not limited,
                        "read-only (free vSphere Hypervisor)" if limited else "allows changes",
                        "Assign a paid licence to make changes" if limited else ""))
    return done(version)
