"""The door to vSphere: the only module that holds pyVmomi's connection (SmartConnect, the stub).

One logged-in session per host, opened on the first request. TLS is validated before the
password is sent: against this computer's trust store plus the host's CA file, or — when the
user pinned the host's certificate — against exactly that certificate. A request that finds
its session expired logs in again once. Every pyVmomi fault leaves here as a BackendError.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Callable, Sequence
from typing import IO, Any, TypeVar

import pyVmomi
from defusedxml import ElementTree
from pyVmomi import vim as vim_types
from pyVmomi import vmodl as vmodl_types

from desktopvm import trust
from desktopvm.connections import HostConfig
from desktopvm.protocol import (
    AuthenticationFailed,
    BackendError,
    CancelToken,
    CertificateNotTrusted,
    CommandFailed,
    ConnectionLost,
    InvalidState,
    MachineNotFound,
    UnsupportedOperation,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
CHUNK = 1 << 20  # bytes per write of an upload: cancel and progress are seen this often
# pyVmomi's type stubs cover part of its API; the rest is typed at run time by pyVmomi
# itself (it refuses a wrong type in any data object), so the backend sees it as Any.
vim: Any = vim_types
vmodl: Any = vmodl_types
SoapStubAdapter: Any = pyVmomi.SoapAdapter.SoapStubAdapter
VmomiSupport: Any = pyVmomi.VmomiSupport

READ_ONLY_SUMMARY = ("{host} refuses changes: its licence (the free vSphere Hypervisor) allows "
                     "reading only")
READ_ONLY_HINT = "Assign a paid licence to the host (or manage it through vCenter) to make changes"


def pinned_context(address: str, port: int, pinned_sha256: str,
                   timeout: float = trust.DEFAULT_TIMEOUT) -> ssl.SSLContext:
    """A context that trusts exactly the certificate the user pinned, and nothing else.

    pyVmomi verifies through an SSLContext only (its thumbprint option is not applied to the
    version discovery SmartConnect makes first), so the certificate the host shows is read,
    compared with the pin, and made the context's only trust anchor: the connection that
    carries the password is then verified against it, and a host that switches certificates
    between the two handshakes fails verification.
    """
    pem = ssl.get_server_certificate((address, port), timeout=timeout)
    der = ssl.PEM_cert_to_DER_cert(pem)
    if hashlib.sha256(der).hexdigest() != pinned_sha256:
        facts = trust.facts_from_der(address, der)
        raise CertificateNotTrusted(
            f"The certificate of {address} changed since you accepted it",
            f"pinned SHA-256 {pinned_sha256}, presented {facts.sha256}",
            "If the host's certificate was replaced on purpose, check the new fingerprint "
            "with its administrator and accept it again", certificate=facts, changed=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=pem)
    # The pin names the certificate, not a host name: self-signed ESXi certificates often
    # carry the name the host had at installation.
    context.check_hostname = False
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # a leaf may be its own anchor
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def tls_context(host: HostConfig, timeout: float = trust.DEFAULT_TIMEOUT) -> ssl.SSLContext:
    """The verifying context for `host`: its pin if it has one, else the system's trust."""
    if host.pinned_sha256:
        return pinned_context(host.address, host.effective_port, host.pinned_sha256, timeout)
    return trust.verify_context(host.ca_file)


def not_trusted(host: HostConfig, error: Exception) -> CertificateNotTrusted:
    """CertificateNotTrusted carrying what the user is shown to decide."""
    facts = trust.fetch_certificate(host.address, host.effective_port)
    return CertificateNotTrusted(
        f"The certificate of {host.address} is not trusted by this computer",
        f"{type(error).__name__}: {error}",
        "ESXi hosts usually carry a self-signed certificate: compare its fingerprint with the "
        "one the host's console shows, then accept it, or give the CA file that signed it",
        certificate=facts)


def api_version(address: str, port: int, context: ssl.SSLContext, timeout: float) -> str:
    """The newest vSphere API version both pyVmomi and the host speak (vimServiceVersions.xml).

    Read here rather than by SmartConnect, whose discovery leaves its socket open when the
    certificate is refused."""
    connection = http.client.HTTPSConnection(address, port, context=context, timeout=timeout)
    try:
        connection.request("GET", "/sdk/vimServiceVersions.xml")
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    offered: set[str] = set()
    if response.status == 200:
        root = ElementTree.fromstring(body)
        for namespace in root.iter("namespace"):
            if namespace.findtext("name") == "urn:vim25":
                offered.add(namespace.findtext("version") or "")
                offered |= {v.text or "" for v in namespace.findall("priorVersions/version")}
    for version in VmomiSupport.GetServiceVersions("vim25"):
        if VmomiSupport.versionIdMap.get(version) in offered:
            return str(version)
    raise ConnectionLost(f"{address}:{port} speaks no vSphere API version DesktopVM knows",
                         f"HTTP {response.status}; versions offered: {sorted(offered)}")


def fault_error(error: vmodl.MethodFault, doing: str = "") -> BackendError:
    """A BackendError for a vSphere fault: the host's own message, its fault type in details."""
    message = str(getattr(error, "msg", "") or "").strip() or type(error).__name__
    details = f"{type(error).__name__}: {message}"
    prefix = f"{doing}: " if doing else ""
    if isinstance(error, vim.fault.RestrictedVersion):
        return UnsupportedOperation(prefix + "the host's licence allows reading only "
                                    "(free vSphere Hypervisor)", details)
    if isinstance(error, vim.fault.NotAuthenticated):  # a NoPermission: checked first
        return AuthenticationFailed(prefix + "the host no longer accepts this session; "
                                    "connect again", details)
    if isinstance(error, vim.fault.NoPermission):
        return AuthenticationFailed(prefix + _permission_words(error), details)
    if isinstance(error, vim.fault.InvalidLogin):
        return AuthenticationFailed(prefix + message, details)
    if isinstance(error, vim.fault.InvalidPowerState | vim.fault.InvalidState):
        return InvalidState(prefix + message, details)
    if isinstance(error, vmodl.fault.ManagedObjectNotFound):
        return MachineNotFound(prefix + "it no longer exists on the host", details)
    if isinstance(error, vmodl.fault.NotSupported | vmodl.fault.MethodNotFound):
        return UnsupportedOperation(prefix + message, details)
    return CommandFailed(prefix + message, details=details)


def _permission_words(error: vim.fault.NoPermission) -> str:
    """Which privilege the user lacks, and on what, as far as the fault says (vSphere 7+
    lists `missingPrivileges`; older hosts give one `privilegeId`)."""
    wanted: list[str] = []
    for item in error.missingPrivileges or ():
        where = getattr(item.entity, "_moId", "")
        wanted += [f"{p} on {where}" if where else str(p) for p in item.privilegeIds or ()]
    if not wanted and error.privilegeId:
        where = getattr(error.object, "_moId", "")
        wanted.append(f"{error.privilegeId} on {where}" if where else str(error.privilegeId))
    if not wanted:
        return "the user has no permission for this on the host (the host did not say which)"
    return ("the user lacks the privilege " + ", ".join(wanted)
            + "; a host administrator can grant it to the user's role")


class Session:
    """A logged-in vSphere session to one host (ESXi or vCenter), opened when first needed."""

    def __init__(self, host: HostConfig, password: Callable[[], str], *,
                 timeout: float = 60.0) -> None:
        self.host = host
        self._password = password
        self.timeout = timeout
        self._lock = threading.Lock()
        self._si: Any = None
        self._view: Any = None  # the container view of every VM (kept: listing is one call)
        # ServiceContent read once per login: pyVmomi's `si.content` is a round trip each time.
        self._contents: dict[int, Any] = {}
        # Set by close(): whatever still holds the session (a console's Reconnect) is told so
        # instead of logging in again with settings that may be out of date, unlogged-out.
        self._closed = False

    # -- the connection -------------------------------------------------------------------
    def service(self) -> Any:
        """The logged-in ServiceInstance, logging in when there is none (ConnectionLost once
        the session is closed)."""
        with self._lock:
            if self._closed:
                raise ConnectionLost(
                    f"The connection to {self.host.address} was closed (disconnected, its "
                    "settings changed, or the app is closing); open the console again")
            if self._si is None:
                self._si = self._login()
                self._view = None
            return self._si

    def _login(self) -> Any:
        host = self.host
        context = tls_context(host)
        secret = self._password()
        stub = None
        try:
            version = api_version(host.address, host.effective_port, context, self.timeout)
            stub = SoapStubAdapter(host=host.address, port=host.effective_port, path="/sdk",
                                   version=version, sslContext=context,
                                   httpConnectionTimeout=self.timeout)
            si = vim.ServiceInstance("ServiceInstance", stub)
            content = si.RetrieveContent()
            content.sessionManager.Login(host.username, secret, None)
            self._contents[id(si)] = content
            return si
        except BaseException as error:
            if stub is not None:
                stub.DropConnections()  # a refused login leaves no socket behind
            raise self._login_error(error) from error

    def _login_error(self, error: BaseException) -> BaseException:
        host = self.host
        if isinstance(error, vim.fault.InvalidLogin):
            return AuthenticationFailed(
                f"{host.address} refused the user name or password of {host.username!r}",
                f"InvalidLogin: {getattr(error, 'msg', '')}")
        if isinstance(error, ssl.SSLCertVerificationError):
            if host.pinned_sha256:  # the anchor itself failed (expired, or not for TLS)
                return CertificateNotTrusted(
                    f"The certificate pinned for {host.address} cannot be used",
                    str(error.verify_message), "Accept the host's certificate again")
            return not_trusted(host, error)
        if isinstance(error, vmodl.MethodFault):
            return fault_error(error, f"Logging in to {host.address}")
        if isinstance(error, OSError | http.client.HTTPException):
            return ConnectionLost(f"{host.address}:{host.effective_port} could not be reached",
                                  f"{type(error).__name__}: {error}")
        return error

    def forget(self, si: Any) -> None:
        """Drop `si` (expired or broken) so the next request logs in again."""
        with self._lock:
            if self._si is si:
                self._si = None
                self._view = None
        self._contents.pop(id(si), None)
        si._stub.DropConnections()  # its sockets belong to a session that is over

    def close(self) -> None:
        """Log out (best effort: a host that is gone has forgotten the session anyway); from
        now on every request raises ConnectionLost rather than logging in again."""
        with self._lock:
            self._closed = True
            si, self._si, self._view = self._si, None, None
        if si is not None:
            try:
                self.content(si).sessionManager.Logout()
            except Exception as error:  # logging out of a dead host is not a failure
                log.debug("logout from %s failed: %s", self.host.address, error)
            finally:
                self._contents.pop(id(si), None)
                si._stub.DropConnections()

    def run(self, action: Callable[[Any], T], doing: str = "") -> T:
        """`action(service_instance)`, logging in again once if the session had expired."""
        for attempt in (1, 2):
            si = self.service()
            try:
                return action(si)
            except vim.fault.NotAuthenticated as error:
                self.forget(si)
                if attempt == 2:
                    raise fault_error(error, doing) from error
                log.info("the session with %s expired; logging in again", self.host.address)
            except vmodl.fault.ManagedObjectNotFound as error:
                # The session's view is gone (its session ended on the host): start afresh.
                if attempt == 2 or not self._is_view(error.obj):
                    raise fault_error(error, doing) from error
                self.forget(si)
            except vmodl.MethodFault as error:
                raise fault_error(error, doing) from error
            except (OSError, http.client.HTTPException) as error:
                self.forget(si)
                raise ConnectionLost(f"The connection to {self.host.address} dropped"
                                     + (f" while {doing.lower()}" if doing else ""),
                                     f"{type(error).__name__}: {error}") from error
        raise AssertionError("unreachable")

    # -- what the other modules build on ----------------------------------------------------
    def about(self) -> Any:
        """The host's AboutInfo (product, version, apiType)."""
        return self.run(lambda si: self.content(si).about)

    def vm_view(self, si: Any) -> Any:
        """The container view of every VM under the root folder, made once per session."""
        with self._lock:
            view = self._view
        if view is None:
            content = self.content(si)
            view = content.viewManager.CreateContainerView(content.rootFolder,
                                                           [vim.VirtualMachine], True)
            with self._lock:
                if self._si is si:
                    self._view = view
        return view

    def _is_view(self, obj: Any) -> bool:
        with self._lock:
            view = self._view
        return view is not None and obj is not None and obj._moId == view._moId

    def content(self, si: Any) -> Any:
        """The ServiceContent of the session `si` (read at login)."""
        content = self._contents.get(id(si))
        if content is None:
            content = si.RetrieveContent()
            self._contents[id(si)] = content
        return content

    @staticmethod
    def bind(si: Any, kind: Any, moid: str) -> Any:
        """A managed object of `kind` by its id, bound to the session `si`."""
        return kind(moid, si._stub)

    def retrieve(self, si: Any, specs: Sequence[Any]) -> list[Any]:
        """RetrievePropertiesEx over `specs` (FilterSpecs), every page."""
        collector = self.content(si).propertyCollector
        options = vmodl.query.PropertyCollector.RetrieveOptions()
        result = collector.RetrievePropertiesEx(specs, options)
        objects: list[Any] = []
        while result is not None:
            objects.extend(result.objects)
            if not result.token:
                break
            result = collector.ContinueRetrievePropertiesEx(result.token)
        return objects

    def properties(self, obj: Any, paths: Sequence[str]) -> dict[str, Any]:
        """Some properties of one object, in one call (an unset property is simply absent)."""
        collector = vmodl.query.PropertyCollector

        def read(si: Any) -> dict[str, Any]:
            spec = collector.FilterSpec(
                objectSet=[collector.ObjectSpec(obj=obj, skip=False)],
                propSet=[collector.PropertySpec(type=type(obj), pathSet=list(paths))])
            found = self.retrieve(si, [spec])
            return {p.name: p.val for p in found[0].propSet} if found else {}
        return self.run(read)

    def _nfc(self, url: str) -> tuple[http.client.HTTPSConnection, str, str]:
        """A connection for a URL an NFC lease gave, its address, and the request path."""
        parts = urllib.parse.urlsplit(url)
        address, port = parts.hostname or "*", parts.port or 443
        if address == "*":  # ESXi's lease URLs name no host: "the one you are talking to"
            address, port = self.host.address, parts.port or self.host.effective_port
        connection = http.client.HTTPSConnection(address, port,
                                                 context=tls_context(self.host),
                                                 timeout=self.timeout)
        return connection, address, parts.path + (f"?{parts.query}" if parts.query else "")

    def download(self, url: str, target: IO[bytes], *, received: Callable[[int], None],
                 cancel: CancelToken) -> int:
        """GET a URL the host gave (an export lease's disk) into `target`, with the session's
        cookie over TLS verified as for the session itself; the number of bytes written."""
        cookie = str(self.service()._stub.cookie)
        connection, address, path = self._nfc(url)
        try:
            connection.putrequest("GET", path)
            connection.putheader("Cookie", cookie)
            connection.endheaders()
            response = connection.getresponse()
            if response.status != 200:
                response.read()
                raise CommandFailed(f"{address} refused the download (HTTP {response.status})",
                                    details=f"{response.status} {response.reason}: {url}")
            expected = response.getheader("Content-Length")
            total = 0
            while chunk := response.read(CHUNK):
                cancel.raise_if_cancelled()
                target.write(chunk)
                total += len(chunk)
                received(len(chunk))
            if expected is not None and total != int(expected):
                raise ConnectionLost(f"The download from {address} broke off",
                                     f"{total} of {expected} bytes: {url}")
            return total
        except ssl.SSLCertVerificationError as error:
            raise not_trusted(self.host, error) from error
        except (OSError, http.client.HTTPException) as error:
            raise ConnectionLost(f"The download from {address} broke off",
                                 f"{type(error).__name__}: {error}") from error
        finally:
            connection.close()

    def upload(self, url: str, source: IO[bytes], size: int, *,
               sent: Callable[[int], None], cancel: CancelToken, method: str = "POST",
               content_type: str = "application/x-vnd.vmware-streamVmdk") -> None:
        """POST `size` bytes of `source` to a URL the host gave (an NFC lease's disk URL), or
        PUT them to a datastore's /folder URL, with the session's cookie, over TLS verified as
        for the session itself. Cancelled midway, the host has finished with the request (or
        ABANDON_SECONDS passed) when OperationCancelled is raised, so the caller can delete
        the partial file without the host writing it again behind its back."""
        cookie = str(self.service()._stub.cookie)
        connection, address, path = self._nfc(url)
        try:
            connection.putrequest(method, path)
            connection.putheader("Content-Type", content_type)
            connection.putheader("Content-Length", str(size))
            connection.putheader("Cookie", cookie)
            connection.endheaders()
            left = size
            while left > 0:
                if cancel.cancelled:
                    _abandon(connection)
                    cancel.raise_if_cancelled()
                chunk = source.read(min(CHUNK, left))
                if not chunk:
                    raise BackendError(f"The file ended {left} bytes early while uploading")
                connection.send(chunk)
                left -= len(chunk)
                sent(len(chunk))
            response = connection.getresponse()
            response.read()
            if not 200 <= response.status < 300:
                raise CommandFailed(f"{address} refused the upload (HTTP {response.status})",
                                    details=f"{response.status} {response.reason}: {url}")
        except ssl.SSLCertVerificationError as error:
            raise not_trusted(self.host, error) from error
        except (OSError, http.client.HTTPException) as error:
            raise ConnectionLost(f"The upload to {address} broke off",
                                 f"{type(error).__name__}: {error}") from error
        finally:
            connection.close()


ABANDON_SECONDS = 10.0  # how long a cancelled upload waits for the host to drop the request


def _abandon(connection: http.client.HTTPSConnection) -> None:
    """End an upload's request body early and wait until the host closes the connection.

    The host (hostd; vcsim's handler) writes the body into the file while it arrives and
    stops only when it sees the end of the stream; waiting for its close means it is done
    with the file. The TLS layer is dropped with the stream (`shutdown` leaves the raw
    socket): nothing more is read from this connection but its end."""
    sock = connection.sock
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(ABANDON_SECONDS)
        while sock.recv(65536):
            pass
