"""OVF manifests (`SHA256(file)= hex` lines): parsing, writing and streaming digests."""

from __future__ import annotations

import hashlib
import re
from typing import Protocol

from desktopvm.ovf.common import OvfError

# Algorithms OVF exporters write (VMware: SHA1/SHA256/SHA512, VirtualBox: SHA1/SHA256).
DIGEST_LENGTHS = {"sha1": 40, "sha256": 64, "sha512": 128}
# `SHA256(name)= hex` (openssl, VMware) and `SHA1 (name) = hex` (VirtualBox 7.2 writes this).
_LINE = re.compile(r"^(SHA1|SHA256|SHA512)\s*\((.+)\)\s*=\s*([0-9A-Fa-f]+)\s*$")
MAX_MANIFEST_BYTES = 1024 * 1024


def read_manifest(text: str, source: str = "manifest") -> dict[str, tuple[str, str]]:
    """File name -> (algorithm, lower-case hex digest). OvfError for anything malformed.

    Names are returned as written; they are only ever compared, never opened.
    """
    entries: dict[str, tuple[str, str]] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        match = _LINE.match(line)
        if not match:
            raise OvfError(f"{source}: line {number} is not 'SHA256(file)= digest': {line[:80]!r}")
        algorithm, name, digest = match.group(1).lower(), match.group(2), match.group(3).lower()
        if len(digest) != DIGEST_LENGTHS[algorithm]:
            raise OvfError(f"{source}: line {number}: a {algorithm.upper()} digest has "
                           f"{DIGEST_LENGTHS[algorithm]} hex digits, not {len(digest)}")
        if name in entries:
            raise OvfError(f"{source}: {name!r} is listed twice")
        entries[name] = (algorithm, digest)
    return entries


def format_manifest(digests: dict[str, str], algorithm: str = "sha256") -> str:
    """Manifest text for name -> hex digest, in the form openssl and VMware write (VirtualBox
    reads it; it writes the same with spaces around the name's parentheses)."""
    return "".join(f"{algorithm.upper()}({name})= {digest}\n" for name, digest in digests.items())


class Hasher(Protocol):
    """The part of a hashlib object the OVA code uses."""

    def update(self, data: bytes, /) -> None: ...

    def hexdigest(self) -> str: ...


def new_hash(algorithm: str) -> Hasher:
    """A fresh hash object for a manifest algorithm name ("sha1", "sha256", "sha512")."""
    if algorithm not in DIGEST_LENGTHS:
        raise OvfError(f"unsupported manifest digest {algorithm!r}")
    return hashlib.new(algorithm)
