"""The wire format between Python and the PowerShell dispatcher: JSON request lines, framed replies.

A request is one ASCII line `{"id": N, "op": NAME, "args": {...}}`; every value the user typed
travels inside `args` as JSON data and is splatted into the operation's `param()` block. A reply
is one line `@@DVM@@{"id": N, "ok": true, "result": ...}` or `... "ok": false, "error": {...}`;
lines without the marker are noise (a stray Write-Host) and are logged, never parsed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MARKER = b"@@DVM@@"
READY_ID = 0


class FramingError(ValueError):
    """A line carried the reply marker but no well-formed reply."""


@dataclass(frozen=True, slots=True)
class Reply:
    """One parsed reply frame."""

    id: int | None
    ok: bool
    result: Any = None
    error: dict[str, str] = field(default_factory=dict)


def encode_request(request_id: int, op: str, args: Mapping[str, Any]) -> bytes:
    """One request line, pure ASCII (non-ASCII, quotes, NUL and newlines escaped by JSON)."""
    text = json.dumps({"id": request_id, "op": op, "args": dict(args)}, ensure_ascii=True,
                      separators=(",", ":"), allow_nan=False)
    return (text + "\n").encode("ascii")


def parse_frame(line: bytes) -> Reply | None:
    """The reply in `line`, or None when the line is not a reply (noise)."""
    start = line.find(MARKER)
    if start < 0:
        return None
    payload = line[start + len(MARKER):].strip()
    try:
        frame = json.loads(payload.decode("utf-8", errors="replace"))
    except ValueError as error:
        raise FramingError(f"unreadable reply: {payload[:200]!r}") from error
    if not isinstance(frame, dict) or not isinstance(frame.get("ok"), bool):
        raise FramingError(f"reply without 'ok': {payload[:200]!r}")
    request_id = frame.get("id")
    if request_id is not None and not isinstance(request_id, int):
        raise FramingError(f"reply with a bad id: {payload[:200]!r}")
    problem = frame.get("error") or {}
    if not isinstance(problem, dict):
        problem = {"message": str(problem)}
    return Reply(request_id, frame["ok"], frame.get("result"),
                 {str(k): "" if v is None else str(v) for k, v in problem.items()})
