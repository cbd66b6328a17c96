"""TLS trust for remote hosts: read a host's certificate, and ask whether this computer trusts it.

`fetch_certificate` completes a handshake WITHOUT verification only to read the certificate
the host presents, so the user can be shown what they are asked to trust (its SHA-256, who it
names, who signed it, when it is valid). Nothing is ever sent over that connection. Trust
itself comes from `verify_context`: the operating system's trust store through truststore
(Windows' and macOS' own verifiers, the distribution's CA store on Linux, so an enterprise CA
the system trusts is trusted here too), plus a CA file the user gave for the host.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import socket
import ssl
from dataclasses import dataclass

from desktopvm.protocol import CertificateFacts, ConnectionLost

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Reached:
    """An address that was resolved: the host name as given and what it resolved to."""

    address: str
    port: int
    resolved: tuple[str, ...]


def resolve(address: str, port: int) -> Reached:
    """Resolve `address` (ConnectionLost "cannot resolve hv01" when DNS knows no such name)."""
    try:
        infos = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise ConnectionLost(f"cannot resolve {address}",
                             f"DNS lookup failed: {error}") from error
    resolved = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    return Reached(address, port, resolved)


def connect(address: str, port: int, timeout: float = DEFAULT_TIMEOUT) -> socket.socket:
    """A TCP connection to `address:port`; ConnectionLost says whether the name, a refusal or
    silence stopped it (the three need different fixes)."""
    resolve(address, port)
    try:
        return socket.create_connection((address, port), timeout=timeout)
    except TimeoutError as error:
        raise ConnectionLost(f"{address}:{port} did not answer",
                             f"no reply within {timeout:g} s (a firewall that drops the "
                             "packets, or the host is down)") from error
    except ConnectionRefusedError as error:
        raise ConnectionLost(f"{address}:{port} refused the connection",
                             "nothing listens on that port (or a firewall rejects it)") \
            from error
    except OSError as error:
        if error.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            raise ConnectionLost(f"{address}:{port} did not answer",
                                 f"no route to the host: {error}") from error
        raise ConnectionLost(f"{address}:{port} could not be reached",
                             f"{type(error).__name__}: {error}") from error


def facts_from_der(host: str, der: bytes) -> CertificateFacts:
    """What a user is shown about a DER certificate."""
    from cryptography import x509

    certificate = x509.load_der_x509_certificate(der)
    return CertificateFacts(
        host=host,
        sha256=hashlib.sha256(der).hexdigest(),
        subject=certificate.subject.rfc4514_string(),
        issuer=certificate.issuer.rfc4514_string(),
        not_before=certificate.not_valid_before_utc.isoformat(),
        not_after=certificate.not_valid_after_utc.isoformat(),
    )


def _reading_context() -> ssl.SSLContext:
    # Verification off on purpose: this context only READS the certificate to show it; no
    # request and no credential is ever sent over a connection made with it.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def fetch_certificate(address: str, port: int,
                      timeout: float = DEFAULT_TIMEOUT) -> CertificateFacts:
    """The certificate `address:port` presents (unverified: to be shown, not trusted).

    ConnectionLost when the name does not resolve, the port refuses or does not answer, or
    what answers does not speak TLS.
    """
    with connect(address, port, timeout) as raw:
        try:
            with _reading_context().wrap_socket(raw, server_hostname=address) as tls:
                der = tls.getpeercert(binary_form=True)
        except (ssl.SSLError, OSError) as error:
            raise ConnectionLost(f"{address}:{port} did not complete a TLS handshake",
                                 f"{type(error).__name__}: {error} (is it an HTTPS port?)") \
                from error
    if not der:
        raise ConnectionLost(f"{address}:{port} presented no certificate")
    return facts_from_der(address, der)


def verify_context(ca_file: str = "") -> ssl.SSLContext:
    """A verifying client context: the OS trust store (truststore), plus `ca_file` if given.

    Falls back to Python's default context (OpenSSL's CA paths; on Windows the system stores)
    when truststore cannot be loaded. Host names are checked.
    """
    context: ssl.SSLContext
    try:
        import truststore

        context = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    except Exception as error:  # missing or unsupported on this system: the stdlib's is next best
        log.warning("the system trust store is not available (%s); using Python's default "
                    "certificate authorities", error)
        context = ssl.create_default_context()
    if ca_file:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as error:
            raise ConnectionLost(f"the CA file {ca_file} cannot be used",
                                 f"{type(error).__name__}: {error} (it must be a readable PEM "
                                 "file of CA certificates)") from error
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def is_trusted(address: str, port: int, ca_file: str = "",
               timeout: float = DEFAULT_TIMEOUT) -> bool:
    """Whether a verifying handshake with `address:port` succeeds, host name included.

    False only when the certificate is refused; DNS, TCP and non-TLS faults raise
    ConnectionLost as `fetch_certificate` does.
    """
    context = verify_context(ca_file)
    with connect(address, port, timeout) as raw:
        try:
            with context.wrap_socket(raw, server_hostname=address):
                return True
        except ssl.SSLCertVerificationError as error:
            log.info("the certificate of %s:%s is not trusted: %s", address, port,
                     error.verify_message)
            return False
        except (ssl.SSLError, OSError) as error:
            raise ConnectionLost(f"{address}:{port} did not complete a TLS handshake",
                                 f"{type(error).__name__}: {error}") from error
