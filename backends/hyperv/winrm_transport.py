"""Remote Hyper-V hosts over WinRM (pywinrm): one shell running one PowerShell, same framing.

The shell's single command is the same `powershell.exe -EncodedCommand <bootstrap>` a local
session runs; requests go in with `send_command_input` and replies come back through
`get_command_output_raw`, so there is no process per call and no command-line length limit.
Transports: HTTPS validated against the operating system's trust store (truststore, mounted
on pywinrm's requests session) plus a CA file the user gave, or pinned to exactly the one
certificate the user accepted; NTLM/Kerberos/CredSSP with message encryption over HTTP.
Basic auth is accepted over HTTPS only. Passwords come from the OS keyring and are never
logged or stored in settings.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import html
import logging
import os
import re
import ssl
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.hyperv import scripts
from backends.hyperv.session import ChannelClosed
from desktopvm.connections import HostConfig
from desktopvm.protocol import (
    AuthenticationFailed,
    BackendError,
    BackendUnavailable,
    CertificateFacts,
    CertificateNotTrusted,
    ConnectionLost,
)

log = logging.getLogger(__name__)

AUTH_METHODS = ("ntlm", "kerberos", "credssp", "basic", "certificate")
ENCRYPTING = ("ntlm", "kerberos", "credssp")  # can seal messages themselves over HTTP
KEYRING_SERVICE = "DesktopVM WinRM"
UTF8_CODEPAGE = 65001
# Raw stdin bytes per Send: base64 makes them 128 KiB, which with the envelope around them
# stays inside the smallest default MaxEnvelopeSizekb a host may have (150; MS-WSMV 2.2.4.10).
SEND_PIECE = 96 * 1024
INSTALL_HINT = "Install DesktopVM's WinRM support: pip install 'desktopvm[winrm]'"
AUTH_LIBRARY_HINT = (f"{INSTALL_HINT} (it brings pywinrm's Kerberos and CredSSP support; "
                     "on Linux, Kerberos also needs the system's Kerberos library, e.g. "
                     "apt install libkrb5-dev, before pip builds pykerberos)")
_SYSTEM_BUNDLE: dict[str, str] = {}  # "path" once made
_system_bundle_lock = threading.Lock()


def system_ca_bundle() -> str:
    """A PEM file with the CAs this computer trusts (review W2), made once per process.

    requests verifies against certifi's bundle only unless it is given a file, so a WinRM
    certificate signed by an enterprise CA that Windows trusts would be refused. This joins
    the certificates Python's default SSL context loads (on Windows: the system's ROOT and CA
    stores), OpenSSL's default CA file (Linux, or SSL_CERT_FILE) and certifi's bundle.
    """
    with _system_bundle_lock:
        made = _SYSTEM_BUNDLE.get("path", "")
        if made and Path(made).is_file():
            return made
        parts = [ssl.DER_cert_to_PEM_cert(der) for der in
                 ssl.create_default_context().get_ca_certs(binary_form=True)]
        files = [ssl.get_default_verify_paths().cafile]
        with contextlib.suppress(ImportError):
            import certifi

            files.append(certifi.where())
        parts += [Path(name).read_text(encoding="ascii", errors="ignore")
                  for name in files if name and Path(name).is_file()]
        descriptor, path = tempfile.mkstemp(prefix="desktopvm-ca-", suffix=".pem")
        os.close(descriptor)
        Path(path).write_text("\n".join(parts), encoding="ascii", errors="ignore")
        atexit.register(Path(path).unlink, missing_ok=True)
        _SYSTEM_BUNDLE["path"] = path
        return path


def clixml_text(stderr: bytes) -> str:
    """Readable text from PowerShell's CLIXML error stream (what WinRM hands back on stderr)."""
    text = stderr.decode("utf-8", errors="replace")
    if not text.startswith("#< CLIXML"):
        return text
    parts = re.findall(r'<S S="Error">(.*?)</S>', text, flags=re.DOTALL)
    decoded = "".join(html.unescape(part) for part in parts)
    decoded = re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), decoded)
    return decoded.replace("\r\n", "\n").strip()


ENABLE_WINRM_HINT = ("On the host, run `winrm quickconfig -transport:https` (HTTPS) or "
                     "`Enable-PSRemoting` (HTTP), and allow the firewall rule 'Windows Remote "
                     "Management (HTTPS-In)'")


class WinRMNotEnabled(BackendUnavailable):
    """Something answers on the WinRM port, but not WinRM (HTTP 404/500 from /wsman)."""


class InsecureTransport(BackendUnavailable):
    """A WinRM configuration DesktopVM refuses because it would expose credentials or data."""


@dataclass(frozen=True)
class WinRMConfig:
    """How to reach one remote Hyper-V host. Holds no secret: the password is in the keyring."""

    host: str
    username: str = ""
    auth: str = "ntlm"
    https: bool = True
    port: int = 0
    ca_file: str = ""  # PEM file of the CA that signed the host's certificate
    cert_pem: str = ""  # client certificate (auth="certificate")
    cert_key_pem: str = ""
    executable: str = "powershell.exe"
    operation_timeout: int = 20
    read_timeout: int = 30
    keyring_service: str = KEYRING_SERVICE
    pinned_sha256: str = ""  # the certificate the user accepted for this host (hex SHA-256)

    @property
    def effective_port(self) -> int:
        """The configured port, or WinRM's default: 5986 (HTTPS) or 5985 (HTTP)."""
        return self.port or (5986 if self.https else 5985)

    @property
    def endpoint(self) -> str:
        """https://host:5986/wsman or http://host:5985/wsman (or the configured port)."""
        scheme = "https" if self.https else "http"
        return f"{scheme}://{self.host}:{self.effective_port}/wsman"

    @property
    def keyring_user(self) -> str:
        """The keyring entry's user name for this host's credentials."""
        return f"{self.username}@{self.host}"

    def check(self) -> None:
        """InsecureTransport for combinations that would send secrets or data in the clear."""
        if self.auth not in AUTH_METHODS:
            raise InsecureTransport(f"Unknown WinRM authentication {self.auth!r}; use one of "
                                    f"{', '.join(AUTH_METHODS)}")
        if not self.https and self.auth not in ENCRYPTING:
            raise InsecureTransport(
                f"{self.auth.capitalize()} authentication over plain HTTP would expose the "
                f"password and every command to the network; use HTTPS for {self.host}, or "
                "NTLM/Kerberos/CredSSP (which encrypt each message)")

    def protocol_options(self, password: str) -> dict[str, Any]:
        """Keyword arguments for winrm.protocol.Protocol (validated; certificates verified)."""
        self.check()
        return {
            "endpoint": self.endpoint,
            "transport": self.auth,
            "username": self.username or None,
            "password": password,
            "server_cert_validation": "validate",
            # Replaced by secure_session's adapters once the session exists; a bundle of the
            # system's CAs is the fallback should pywinrm build a session of its own.
            "ca_trust_path": (self.ca_file or system_ca_bundle()) if self.https else None,
            "cert_pem": self.cert_pem or None,
            "cert_key_pem": self.cert_key_pem or None,
            "message_encryption": "auto" if self.https else "always",
            "operation_timeout_sec": self.operation_timeout,
            "read_timeout_sec": self.read_timeout,
            "proxy": None,
        }


# "OPERATION,READ" seconds, e.g. "2,5": shorter WinRM timeouts, for tests (and for a user
# on a fast LAN who wants a dead host noticed sooner). READ must exceed OPERATION (pywinrm).
TIMEOUTS_VARIABLE = "DESKTOPVM_WINRM_TIMEOUTS"


def _timeouts() -> tuple[int, int]:
    """(operation, read) seconds: the defaults, or what DESKTOPVM_WINRM_TIMEOUTS says."""
    default = (WinRMConfig.operation_timeout, WinRMConfig.read_timeout)
    text = os.environ.get(TIMEOUTS_VARIABLE, "").strip()
    if not text:
        return default
    try:
        operation, read = (int(part) for part in text.split(","))
    except ValueError:
        log.warning("%s=%r is not 'OPERATION,READ' seconds; ignored", TIMEOUTS_VARIABLE, text)
        return default
    if not 0 < operation < read:
        log.warning("%s: READ must be longer than OPERATION (both > 0); ignored",
                    TIMEOUTS_VARIABLE)
        return default
    return operation, read


def config_for_host(host: HostConfig) -> WinRMConfig:
    """The WinRM settings of a host the user added (timeouts from DESKTOPVM_WINRM_TIMEOUTS)."""
    operation, read = _timeouts()
    return WinRMConfig(host=host.address, username=host.username, auth=host.auth,
                       https=host.https, port=host.port, ca_file=host.ca_file,
                       pinned_sha256=host.pinned_sha256, operation_timeout=operation,
                       read_timeout=read)


def _adapters() -> tuple[type, type]:
    """requests adapters: one verifying with a given SSL context, one pinned to a SHA-256."""
    from requests.adapters import HTTPAdapter

    class TrustStoreAdapter(HTTPAdapter):
        """Verifies with the context it is given (the OS trust store + the host's CA file)."""

        def __init__(self, context: ssl.SSLContext) -> None:
            self._context = context
            super().__init__()  # max_retries 0: a request is never sent twice by requests

        def init_poolmanager(self, connections: int, maxsize: int, block: bool = False,
                             **pool_kwargs: Any) -> None:
            pool_kwargs["ssl_context"] = self._context
            super().init_poolmanager(connections, maxsize, block, **pool_kwargs)

        def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
            super().cert_verify(conn, url, verify, cert)
            # requests would add certifi's bundle to the context; the OS store decides.
            conn.ca_certs = conn.ca_cert_dir = None

    class PinnedAdapter(HTTPAdapter):
        """Accepts exactly the certificate whose SHA-256 the user pinned (as SSH pins a host
        key): urllib3 compares the fingerprint after the handshake; the chain is not asked
        for, since the user trusted this certificate itself (often self-signed)."""

        def __init__(self, sha256: str) -> None:
            self._sha256 = sha256
            super().__init__()

        def init_poolmanager(self, connections: int, maxsize: int, block: bool = False,
                             **pool_kwargs: Any) -> None:
            pool_kwargs["assert_fingerprint"] = self._sha256
            super().init_poolmanager(connections, maxsize, block, **pool_kwargs)

    return TrustStoreAdapter, PinnedAdapter


def secure_session(session: Any, config: WinRMConfig) -> None:
    """Mount this host's TLS trust on pywinrm's requests session (HTTPS only)."""
    if not config.https:
        return
    from desktopvm import trust

    trusting, pinned = _adapters()
    if config.pinned_sha256:
        session.verify = False  # the chain is not checked; the fingerprint is, exactly
        session.mount("https://", pinned(config.pinned_sha256))
    else:
        session.verify = True
        session.mount("https://", trusting(trust.verify_context(config.ca_file)))


def keyring_password(config: WinRMConfig) -> str:
    """The password stored for this host in the OS keyring (AuthenticationFailed if none)."""
    if config.auth == "certificate":
        return ""
    try:
        import keyring
    except ImportError as error:
        raise BackendUnavailable("The keyring package is missing", str(error),
                                 install_hint=INSTALL_HINT) from error
    password = keyring.get_password(config.keyring_service, config.keyring_user)
    if password is None:
        raise AuthenticationFailed(f"No password for {config.username} on {config.host} in the "
                                   "system keyring; add it in DesktopVM's host settings")
    return str(password)


def store_password(config: WinRMConfig, password: str) -> None:
    """Keep the password for this host in the OS keyring (never in DesktopVM's settings)."""
    import keyring

    keyring.set_password(config.keyring_service, config.keyring_user, password)


UNTRUSTED_HINT = ("Compare its SHA-256 fingerprint with the one the host's admin reads on the "
                  "host (docs/hyperv.md, Remote hosts) and trust it; or give DesktopVM the CA "
                  "certificate (PEM) that signed it, or add that CA to this computer's trusted "
                  "root certificates")


def _facts(config: WinRMConfig) -> CertificateFacts | None:
    from desktopvm import trust

    try:
        return trust.fetch_certificate(config.host, config.effective_port,
                                       timeout=float(config.read_timeout))
    except ConnectionLost as error:  # gone meanwhile: the refusal stands without the facts
        log.info("could not read the certificate of %s: %s", config.host, error.summary)
        return None


def certificate_not_trusted(config: WinRMConfig, text: str) -> CertificateNotTrusted:
    """The host's certificate is trusted neither by this computer nor by the CA file."""
    facts = _facts(config)
    shown = f" (SHA-256 {facts.colon_fingerprint()})" if facts else ""
    return CertificateNotTrusted(
        f"The WinRM certificate of {config.host} is not trusted by this computer{shown}",
        text, install_hint=UNTRUSTED_HINT, certificate=facts)


def certificate_changed(config: WinRMConfig, text: str) -> CertificateNotTrusted:
    """The host presents another certificate than the one the user trusted: refused."""
    facts = _facts(config)
    now = facts.colon_fingerprint() if facts else "unknown"
    return CertificateNotTrusted(
        f"The certificate of {config.host} has CHANGED since you trusted it: someone may be "
        "intercepting the connection, or the host got a new certificate. DesktopVM will not "
        "connect until you check it",
        f"trusted SHA-256: {config.pinned_sha256}\npresented SHA-256: {now}\n{text}",
        install_hint="Ask the host's admin whether its WinRM certificate was replaced; if so, "
        "compare the new fingerprint and trust it again (Edit host)",
        certificate=facts, changed=True)


def _maybe_delivered(error: Exception) -> bool:
    """Whether a failed Send may have reached PowerShell anyway.

    No when the host answered with a fault (an expired shell: the input was refused) or no
    connection was made (refused, timed out while connecting, TLS refused); otherwise — a
    connection dropped or a reply lost after the request was written — it may have.
    """
    from requests.exceptions import ConnectTimeout, SSLError
    from winrm.exceptions import WinRMError, WinRMTransportError

    # WinRMError covers WS-Man faults and refused credentials: the host answered.
    if isinstance(error, WinRMError | WinRMTransportError | ConnectTimeout | SSLError):
        return False
    return "NewConnectionError" not in repr(error) and "Failed to establish" not in str(error)


class WinRMChannel:
    """One WinRM shell with one PowerShell command in it, used as a line channel."""

    def __init__(self, config: WinRMConfig,
                 password: Callable[[WinRMConfig], str] = keyring_password) -> None:
        self.config = config
        self.description = f"WinRM shell on {config.host}"
        self._password = password
        self._protocol: Any = None
        self._shell_id = ""
        self._command_id = ""
        self._buffer = b""
        self._done = False
        self._stderr: collections.deque[str] = collections.deque(maxlen=40)
        self._lock = threading.Lock()
        self._busy = False  # a WS-Man call is in flight (on the requesting thread)
        self._abort = False  # close() was asked for meanwhile (a cancel from another thread)

    def _call(self, method: Callable[..., Any], *args: Any) -> Any:
        """Run one WS-Man call; a close() that came meanwhile is carried out afterwards."""
        with self._lock:
            if self._protocol is None or self._abort:
                raise ChannelClosed("the shell is closed")
            self._busy = True
        try:
            return method(*args)
        finally:
            with self._lock:
                self._busy = False
                abort = self._abort
            if abort:
                self._close_now()

    def open(self) -> None:
        """Authenticate, open the shell and start PowerShell in it."""
        try:
            from winrm.exceptions import (
                InvalidCredentialsError,
                WinRMTransportError,
                WSManFaultError,
            )
            from winrm.protocol import Protocol
        except ImportError as error:
            raise BackendUnavailable("pywinrm is not installed", str(error),
                                     install_hint=INSTALL_HINT) from error
        options = self.config.protocol_options(self._password(self.config))
        try:
            self._protocol = Protocol(**options)
            secure_session(self._protocol.transport.build_session(), self.config)
            self._shell_id = self._protocol.open_shell(codepage=UTF8_CODEPAGE, noprofile=True)
            # stdin is a pipe, not a console (review W3; Ansible does the same when it
            # streams stdin): MS-WSMV 3.1.4.11, WINRS_CONSOLEMODE_STDIN FALSE = pipe.
            self._command_id = self._protocol.run_command(
                self._shell_id, self.config.executable, scripts.powershell_arguments(),
                console_mode_stdin=False, skip_cmd_shell=True)
        except InvalidCredentialsError as error:
            self.close()
            raise AuthenticationFailed(f"{self.config.host} refused the credentials of "
                                       f"{self.config.username or 'this account'}",
                                       type(error).__name__) from error
        except WSManFaultError as error:  # WinRM is there and refused, in its own words
            self.close()
            raise BackendUnavailable(f"WinRM on {self.config.host} refused to open a "
                                     f"PowerShell shell: {error.reason}",
                                     f"HTTP {error.code}") from error
        except WinRMTransportError as error:  # an HTTP server, but no WinRM at /wsman
            self.close()
            raise WinRMNotEnabled(f"WinRM is not enabled on {self.config.host}: "
                                  f"{self.config.endpoint} answered HTTP {error.code}",
                                  str(error), install_hint=ENABLE_WINRM_HINT) from error
        except BackendError:  # already in DesktopVM's words (an unusable CA file)
            self.close()
            raise
        except Exception as error:  # requests/ssl faults: all mean "cannot reach it"
            self.close()
            raise self._connect_error(error) from error
        self.description = f"WinRM shell {self._shell_id} on {self.config.host}"

    def _connect_error(self, error: Exception) -> Exception:
        text = f"{type(error).__name__}: {error}"
        if type(error).__name__ == "WinRMError" and "not installed" in str(error):
            # pywinrm's Transport.build_session: "requested auth method is kerberos, but
            # pykerberos is not installed" (likewise requests-credssp); review W1.
            return BackendUnavailable(
                f"WinRM {self.config.auth.capitalize()} authentication needs a library that "
                "is not installed", text, install_hint=AUTH_LIBRARY_HINT)
        if "Fingerprints did not match" in text:
            return certificate_changed(self.config, text)
        if "CERTIFICATE_VERIFY_FAILED" in text:
            return certificate_not_trusted(self.config, text)
        if "SSLError" in text:  # not a refused certificate: the handshake itself failed
            return ConnectionLost(f"The TLS handshake with {self.config.host} failed: is "
                                  f"{self.config.endpoint} WinRM's HTTPS listener?", text)
        return ConnectionLost(f"Cannot reach WinRM on {self.config.host}", text)

    def send(self, data: bytes) -> None:
        """Write to PowerShell's stdin, in Send messages WinRM accepts (SEND_PIECE each)."""
        if self._done:
            raise ChannelClosed("the shell is closed")
        starts = range(0, max(1, len(data)), SEND_PIECE)
        for start in starts:
            try:
                self._call(self._protocol.send_command_input, self._shell_id,
                           self._command_id, data[start:start + SEND_PIECE])
            except ChannelClosed:
                raise
            except Exception as error:
                # Only the last piece ends the line: before it, PowerShell holds part of a
                # request it cannot run, and this channel is discarded with it, so the
                # request may be sent again whole on a new one.
                raise ChannelClosed(f"sending failed: {type(error).__name__}: {error}",
                                    maybe_delivered=start == starts[-1]
                                    and _maybe_delivered(error)) from error

    def receive(self, timeout: float) -> list[bytes]:
        """Complete lines from one WS-Man Receive (which waits up to the operation timeout)."""
        if self._done and not self._buffer:
            raise ChannelClosed(f"PowerShell on {self.config.host} exited")
        if self._protocol is None:
            raise ChannelClosed("the shell is closed")
        if not self._done:
            from winrm.exceptions import WinRMOperationTimeoutError

            try:
                stdout, stderr, _code, done = self._call(
                    self._protocol.get_command_output_raw, self._shell_id, self._command_id)
            except WinRMOperationTimeoutError:
                return []
            except ChannelClosed:
                raise
            except Exception as error:
                raise ChannelClosed(f"receiving failed: {type(error).__name__}: {error}") \
                    from error
            self._buffer += stdout
            if stderr:
                self._stderr.append(clixml_text(stderr))
            self._done = done
        *lines, self._buffer = self._buffer.split(b"\n")
        if self._done and self._buffer:
            lines.append(self._buffer)
            self._buffer = b""
        return [line + b"\n" for line in lines]

    def close(self) -> None:
        """Stop the command and close the shell (best effort: the host may be gone).

        From another thread while a call is in flight (a cancel), the close happens as soon
        as that call returns, so two WS-Man messages never cross on one security context.
        """
        with self._lock:
            if self._busy:
                self._abort = True
                return
        self._close_now()

    def _close_now(self) -> None:
        with self._lock:
            protocol, self._protocol = self._protocol, None
        if protocol is None:
            return
        with contextlib.suppress(Exception):
            if self._command_id:
                protocol.cleanup_command(self._shell_id, self._command_id)
        with contextlib.suppress(Exception):
            if self._shell_id:
                protocol.close_shell(self._shell_id)
        with contextlib.suppress(Exception):
            protocol.transport.close_session()

    def diagnostics(self) -> str:
        """What PowerShell wrote to stderr (CLIXML as it came)."""
        return "\n".join(self._stderr)
