"""VNC Authentication: DES-encrypt the server's challenge with the bit-reversed password key."""

from __future__ import annotations

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

_REVERSED = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


def vnc_key(password: str) -> bytes:
    """The DES key VNC derives from a password: 8 bytes, zero padded, each byte bit-reversed."""
    raw = password.encode("latin-1", errors="replace")[:8].ljust(8, b"\x00")
    return raw.translate(_REVERSED)


def vnc_response(challenge: bytes, password: str) -> bytes:
    """The 16-byte answer to a 16-byte VNC Authentication challenge."""
    if len(challenge) != 16:
        raise ValueError("a VNC challenge has 16 bytes")
    # Triple DES with one 8-byte key (K1 = K2 = K3) is single DES.
    encryptor = Cipher(TripleDES(vnc_key(password) * 3), modes.ECB()).encryptor()  # noqa: S305
    return encryptor.update(challenge) + encryptor.finalize()
