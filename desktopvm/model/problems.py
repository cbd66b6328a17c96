"""`Problem`: one thing wrong with user input (which field, how bad, what to do about it)."""

from __future__ import annotations

from enum import StrEnum

from desktopvm.model.base import Value


class Severity(StrEnum):
    """Errors block creating/applying a spec; warnings are advice."""

    ERROR = "error"
    WARNING = "warning"


class Problem(Value):
    """One thing wrong with a spec: which field, how bad, and what to do about it."""

    field: str
    severity: Severity
    message: str

    def __str__(self) -> str:
        return f"{self.severity.value}: {self.field}: {self.message}"


def errors(problems: list[Problem]) -> list[Problem]:
    """Only the blocking problems."""
    return [p for p in problems if p.severity is Severity.ERROR]


def error(field: str, message: str) -> Problem:
    """A blocking problem of `field`."""
    return Problem(field=field, severity=Severity.ERROR, message=message)


def warning(field: str, message: str) -> Problem:
    """Advice about `field`."""
    return Problem(field=field, severity=Severity.WARNING, message=message)
