"""The base class of every model value: frozen, strict about unknown keys, JSON-friendly."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Value(BaseModel):
    """An immutable model value; edits make a new one (`value.model_copy(update=...)`)."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        use_enum_values=False,
        validate_default=True,
        str_strip_whitespace=False,
        # Build validators on first use, not at import: keeps the app's start-up fast.
        defer_build=True,
    )
