"""The backend error hierarchy: a one-line summary for people, details for the curious."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from desktopvm.model.validation import Problem


class BackendError(Exception):
    """Base of every failure a backend reports.

    `summary` is one line a user understands; `details` holds what a developer needs
    (command, exit code, stderr, the underlying error).
    """

    def __init__(self, summary: str, details: str = "") -> None:
        super().__init__(summary)
        self.summary = summary
        self.details = details

    def __str__(self) -> str:
        return self.summary


class BackendUnavailable(BackendError):
    """The hypervisor or its tool is not there (or not usable); says how to get it."""

    def __init__(self, summary: str, details: str = "", install_hint: str = "") -> None:
        super().__init__(summary, details)
        self.install_hint = install_hint


class MachineNotFound(BackendError):
    """No machine with that id or name."""


class InvalidState(BackendError):
    """The machine is in a state that does not allow the operation (e.g. running)."""


class CommandFailed(BackendError):
    """An external tool failed."""

    def __init__(
        self,
        summary: str,
        *,
        command: Sequence[str] = (),
        exit_code: int | None = None,
        stderr: str = "",
        details: str = "",
    ) -> None:
        self.command = list(command)
        self.exit_code = exit_code
        self.stderr = stderr
        lines = [details] if details else []
        if self.command:
            lines.append("command: " + " ".join(self.command))
        if exit_code is not None:
            lines.append(f"exit code: {exit_code}")
        if stderr:
            lines.append("stderr:\n" + stderr.rstrip())
        super().__init__(summary, "\n".join(lines))


class TimedOut(BackendError):
    """An external call did not answer within its time limit."""


class OperationCancelled(BackendError):
    """The user cancelled; whatever the operation had created was removed."""

    def __init__(self, summary: str = "Cancelled", details: str = "") -> None:
        super().__init__(summary, details)


class UnsupportedOperation(BackendError):
    """This backend (or this host) cannot do that."""


class AuthenticationFailed(BackendError):
    """A remote host refused the credentials."""


class ConnectionLost(BackendError):
    """The connection to a host or a long-lived helper process dropped."""


@dataclass(frozen=True, slots=True)
class CertificateFacts:
    """What a user needs to decide whether to trust a host's TLS certificate."""

    host: str
    sha256: str  # 64 lower-case hex digits of the DER certificate's SHA-256
    subject: str
    issuer: str
    not_before: str  # ISO 8601, UTC
    not_after: str

    def colon_fingerprint(self) -> str:
        """'AB:CD:…', the way browsers and certutil show it."""
        return ":".join(self.sha256[i:i + 2] for i in range(0, len(self.sha256), 2)).upper()


class CertificateNotTrusted(BackendUnavailable):
    """A host's certificate is not trusted by this computer (nor pinned for the host).

    `certificate` holds what the user is shown to accept it once (pinning it) or refuse it;
    `changed` says that a different certificate had been pinned before — never accepted
    silently, as SSH refuses a changed host key.
    """

    def __init__(self, summary: str, details: str = "", install_hint: str = "", *,
                 certificate: CertificateFacts | None = None, changed: bool = False) -> None:
        super().__init__(summary, details, install_hint)
        self.certificate = certificate
        self.changed = changed


class InvalidSpec(BackendError):
    """A spec the backend cannot run; carries the validation problems."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        first = self.problems[0] if self.problems else None
        summary = f"Invalid machine settings: {first.message}" if first else "Invalid settings"
        super().__init__(summary, "\n".join(str(p) for p in self.problems))
